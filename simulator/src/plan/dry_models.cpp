/// \file dry_models.cpp
/// \brief Whole-model dry runs: decoder steps, encoder strategies, projector, VLM prefill.
#include "atp/sim/plan/dry_models.hpp"

#include "atp/sim/compute.hpp"
#include "atp/sim/plan/dry_layers.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <numeric>
#include <stdexcept>

namespace atp::sim::dry {

namespace {

std::string str(long long v) { return std::to_string(v); }

/// Appends `local`'s matmuls to world's trace as rank r's, each a new call (chapter 8's credit_compute).
void credit_matmuls(World& world, int rank, const Trace& local) {
  for (const TraceEvent& e : local.events()) {
    if (e.op != kMatmulOp) continue;
    TraceEvent moved = e;
    moved.rank = rank;
    moved.call = world.trace().begin_call();
    world.trace().record(std::move(moved));
  }
}

/// True when layer l of `v` attends within windows rather than to the whole image.
bool windowed(const VisionShape& v, int layer) {
  return v.window > 0 && std::find(v.full_attention_layers.begin(), v.full_attention_layers.end(), layer) ==
                             v.full_attention_layers.end();
}

/// The windows of one image's patch grid: window size (patches) -> how many windows of that size.
std::map<std::int64_t, std::int64_t> window_sizes(const VisionShape& v, const ImageSize& img) {
  const std::int64_t gh = img.height / v.patch, gw = img.width / v.patch;
  std::map<std::int64_t, std::int64_t> out;
  for (std::int64_t i = 0; i < gh; i += v.window)
    for (std::int64_t j = 0; j < gw; j += v.window)
      ++out[std::min<std::int64_t>(v.window, gh - i) * std::min<std::int64_t>(v.window, gw - j)];
  return out;
}

/// Windowed attention of one image on every rank: per local head and window size s with c windows,
/// one batched matmul event for the scores, (c, s, d) x (c, d, s), and one for the context. The real
/// layers have no windowed attention (chapter 8 attends per image), so there is no twin to equal;
/// batching keeps a 1344 x 1008 image at a handful of events per head instead of ~100 per head.
void windowed_attention(World& world, const VisionShape& v, const ImageSize& img, const std::string& label) {
  const int d = static_cast<int>(v.hidden / v.heads);
  const auto sizes = window_sizes(v, img);
  for (int r = 0; r < world.size(); ++r)
    for (int h = 0; h < v.heads / world.size(); ++h)
      for (const auto& [s, c] : sizes) {
        for (const bool scores : {true, false}) {
          TraceEvent e;
          e.op = kMatmulOp;
          e.label = label + (scores ? ".scores" : ".context");
          e.rank = r;
          e.call = world.trace().begin_call();
          e.shape_in = {c, s, scores ? d : s};
          e.shape_out = {c, s, scores ? s : d};
          e.flops = 2 * c * s * s * d;
          world.trace().record(std::move(e));
        }
      }
}

std::int64_t padded(std::int64_t n, int p) { return (n + p - 1) / p * p; }

}  // namespace

std::int64_t image_patches(const VisionShape& v, const ImageSize& img) {
  const int unit = v.patch * v.merge;
  if (img.height < 1 || img.width < 1 || img.height % unit != 0 || img.width % unit != 0)
    throw std::invalid_argument("image " + str(img.height) + "x" + str(img.width) + " does not fit " + v.name +
                                ": height and width must be positive multiples of " + str(unit) + " pixels (patch " +
                                str(v.patch) + (v.merge > 1 ? " x merge " + str(v.merge) : std::string()) + ")");
  return static_cast<std::int64_t>(img.height / v.patch) * (img.width / v.patch);
}

std::int64_t encoder_rows(const VisionShape& v, const ImageSize& img) {
  return image_patches(v, img) + (v.class_token ? 1 : 0);
}

std::int64_t output_rows(const VisionShape& v, const ImageSize& img) {
  return v.merge > 1 ? image_patches(v, img) / (v.merge * v.merge) : encoder_rows(v, img);
}

std::int64_t output_width(const VisionShape& v) { return v.merge > 1 ? v.merger_out : v.hidden; }

const char* strategy_letter(EncoderStrategy s) {
  switch (s) {
    case EncoderStrategy::OneRank: return "A";
    case EncoderStrategy::Weights: return "B";
    case EncoderStrategy::Data: return "C";
  }
  return "?";
}

EncoderStrategy parse_strategy(const std::string& text) {
  std::string t = text;
  for (char& c : t) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (t == "a" || t == "one-rank") return EncoderStrategy::OneRank;
  if (t == "b" || t == "weights") return EncoderStrategy::Weights;
  if (t == "c" || t == "data") return EncoderStrategy::Data;
  throw std::invalid_argument("strategy '" + text + "' is unknown; valid: A (one-rank), B (weights), C (data)");
}

std::string weights_obstacle(const VisionShape& v, int p) {
  if (p < 1) return "tp " + str(p) + " is not a number of ranks";
  if (v.heads % p != 0)
    return v.name + "'s " + str(v.heads) + " attention heads are not divisible by tp " + str(p);
  if (v.intermediate % p != 0)
    return v.name + "'s MLP width " + str(v.intermediate) + " is not divisible by tp " + str(p);
  if (v.merge > 1 && v.merger_hidden % p != 0)
    return v.name + "'s merger width " + str(v.merger_hidden) + " is not divisible by tp " + str(p);
  return "";
}

void decoder_step(World& world, const DecoderShape& d, std::int64_t T, std::int64_t cached, ReduceOrder order,
                  LogitsCollective logits, const std::string& label) {
  if (T < 1 || cached < 0)
    throw std::invalid_argument("decoder_step: T = " + str(T) + " new tokens after " + str(cached) +
                                " cached; need T >= 1 and cached >= 0");
  const int p = world.size();
  vocab_parallel_embedding(world, T, d.vocab, d.hidden, order, label + ".embed");
  const AttentionShape a{d.hidden, d.heads, d.kv_heads, 0};
  RowParallelOptions row;
  row.order = order;
  const std::int64_t I = padded(d.intermediate, p);  // chapter 7 pads the FFN (172 -> 176 at tp 8)
  for (int l = 0; l < d.layers; ++l) {
    const std::string block = label + ".block" + str(l);
    qkv_parallel_linear(world, T, a, block + ".attn.qkv");
    local_attention(world, T, cached + T, a, block + ".attn.attn");
    row_parallel_linear(world, T, static_cast<std::int64_t>(a.heads) * a.resolved_head_dim(), d.hidden, row,
                        block + ".attn.o_proj");
    if (d.gated_mlp)
      parallel_gated_mlp(world, T, d.hidden, I, order, block + ".mlp");
    else
      parallel_mlp(world, T, d.hidden, I, order, block + ".mlp");
  }
  parallel_lm_head(world, 1, d.vocab, d.hidden, logits, label + ".lm_head");
}

void vision_encoder(World& world, const VisionShape& v, const std::vector<ImageSize>& images, ReduceOrder order,
                    const std::string& label) {
  if (images.empty()) return;
  std::int64_t patches = 0, rows = 0;
  for (const ImageSize& img : images) {
    patches += image_patches(v, img);
    rows += encoder_rows(v, img);
  }
  for (int r = 0; r < world.size(); ++r)  // replicated patch embedding
    record_matmul(world, r, patches, v.hidden, v.patch_dim, label + ".patch_embed");
  const AttentionShape a{v.hidden, v.heads, v.heads, 0};
  RowParallelOptions row;
  row.order = order;
  for (int l = 0; l < v.layers; ++l) {
    const std::string block = label + ".block" + str(l);
    qkv_parallel_linear(world, rows, a, block + ".attn.qkv");
    for (const ImageSize& img : images) {
      if (windowed(v, l))
        windowed_attention(world, v, img, block + ".attn.attn");
      else
        local_attention(world, encoder_rows(v, img), encoder_rows(v, img), a, block + ".attn.attn");
    }
    row_parallel_linear(world, rows, v.hidden, v.hidden, row, block + ".attn.o_proj");
    if (v.gated_mlp)
      parallel_gated_mlp(world, rows, v.hidden, v.intermediate, order, block + ".mlp");
    else
      parallel_mlp(world, rows, v.hidden, v.intermediate, order, block + ".mlp");
  }
  if (v.merge > 1) {
    const std::int64_t merged = patches / (v.merge * v.merge), in = v.hidden * v.merge * v.merge;
    column_parallel_linear(world, merged, in, v.merger_hidden, {}, label + ".merger.linear_1");
    row_parallel_linear(world, merged, v.merger_hidden, v.merger_out, row, label + ".merger.linear_2");
  }
}

Shape encode_images(World& world, EncoderStrategy s, const VisionShape& v, const std::vector<ImageSize>& images,
                    ReduceOrder order, const std::string& label) {
  const int p = world.size();
  std::int64_t out_rows = 0;
  for (const ImageSize& img : images) out_rows += output_rows(v, img);
  const Shape out{out_rows, output_width(v)};
  switch (s) {
    case EncoderStrategy::OneRank: {
      World local(1);
      vision_encoder(local, v, images, order, label + ".encode");
      credit_matmuls(world, 0, local.trace());
      broadcast(world, out, 0, true, label + ".broadcast");
      return out;
    }
    case EncoderStrategy::Weights: {
      const std::string why = weights_obstacle(v, p);
      if (!why.empty())
        throw std::invalid_argument("strategy B (weights) is impossible at tp " + str(p) + ": " + why +
                                    "; vLLM falls back to data parallelism (strategy C) in that case");
      vision_encoder(world, v, images, order, label + ".encode");
      return out;
    }
    case EncoderStrategy::Data: {
      // vLLM's get_load_balance_assignment: largest image first (stable), to the least-loaded rank (lowest on ties).
      std::vector<std::int64_t> size(images.size());
      for (std::size_t i = 0; i < images.size(); ++i) size[i] = image_patches(v, images[i]);
      std::vector<int> order_of(images.size());
      std::iota(order_of.begin(), order_of.end(), 0);
      std::stable_sort(order_of.begin(), order_of.end(),
                       [&](int x, int y) { return size[static_cast<std::size_t>(x)] > size[static_cast<std::size_t>(y)]; });
      std::vector<std::int64_t> load(static_cast<std::size_t>(p), 0), rows_of(static_cast<std::size_t>(p), 0);
      std::vector<std::vector<ImageSize>> mine(static_cast<std::size_t>(p));
      for (int i : order_of) {
        const auto r = static_cast<std::size_t>(std::min_element(load.begin(), load.end()) - load.begin());
        mine[r].push_back(images[static_cast<std::size_t>(i)]);
        load[r] += size[static_cast<std::size_t>(i)];
        rows_of[r] += output_rows(v, images[static_cast<std::size_t>(i)]);
      }
      for (int r = 0; r < p; ++r) {
        if (mine[static_cast<std::size_t>(r)].empty()) continue;
        World local(1);
        vision_encoder(local, v, mine[static_cast<std::size_t>(r)], order, label + ".encode");
        credit_matmuls(world, r, local.trace());
      }
      const std::int64_t L = *std::max_element(rows_of.begin(), rows_of.end());
      if (L > 0) all_gather(world, {L, out.cols}, Axis::Rows, label + ".gather");
      return out;
    }
  }
  throw std::invalid_argument("encode_images: unknown strategy");
}

Shape projector(World& world, const ProjectorShape& pj, std::int64_t rows, ReduceOrder order, const std::string& label) {
  column_parallel_linear(world, rows, pj.in, pj.hidden, {}, label + ".linear_1");
  RowParallelOptions row;
  row.order = order;
  return row_parallel_linear(world, rows, pj.hidden, pj.out, row, label + ".linear_2");
}

std::int64_t vlm_prefill(World& world, EncoderStrategy s, const VisionShape& v, const ProjectorShape* pj,
                         const DecoderShape& d, const std::vector<ImageSize>& images, std::int64_t text_tokens,
                         ReduceOrder order, LogitsCollective logits) {
  const Shape features = encode_images(world, s, v, images, order, "vision");
  std::int64_t image_tokens = features.rows;
  if (pj != nullptr) {
    if (pj->drop_class_token && v.class_token) image_tokens -= static_cast<std::int64_t>(images.size());
    if (image_tokens > 0) projector(world, *pj, image_tokens, order, "projector");
  }
  const std::int64_t T = text_tokens + image_tokens;
  decoder_step(world, d, T, 0, order, logits, "decoder");
  return T;
}

}  // namespace atp::sim::dry
