/// \file decoder_shard.cpp
/// \brief read_decoder_shard: rank r's blocks of every tensor, read by the layers' own geometry.
#include "atp/sim/models/decoder_shard.hpp"

#include "atp/sim/layers/qkv_parallel_linear.hpp"
#include "atp/sim/layers/vocab_parallel_embedding.hpp"

#include <algorithm>
#include <stdexcept>

namespace atp::sim {
namespace {

std::string layer_name(int l, const std::string& rest) { return "model.layers." + std::to_string(l) + "." + rest; }

/// Rows [begin, begin + n) of a tensor, of which only those below `limit` exist; the rest are +0.0f.
Matrix rows_padded(const Checkpoint& c, const std::string& name, std::int64_t begin, std::int64_t n,
                   std::int64_t limit, ReadCounter* counter) {
  const TensorInfo& t = c.tensor(name);
  Matrix m = Matrix::Zero(n, t.cols());
  const std::int64_t real = std::clamp<std::int64_t>(limit - begin, 0, n);
  if (real > 0) m.topRows(real) = c.read_block(name, begin, real, 0, t.cols(), counter);
  return m;
}

/// Columns [begin, begin + n) of a tensor, of which only those below `limit` exist; the rest are +0.0f.
Matrix cols_padded(const Checkpoint& c, const std::string& name, std::int64_t begin, std::int64_t n,
                   std::int64_t limit, ReadCounter* counter) {
  const TensorInfo& t = c.tensor(name);
  Matrix m = Matrix::Zero(t.rows(), n);
  const std::int64_t real = std::clamp<std::int64_t>(limit - begin, 0, n);
  if (real > 0) m.leftCols(real) = c.read_block(name, 0, t.rows(), begin, real, counter);
  return m;
}

/// The vocabulary rows rank r owns, zero-padded to V_pad / p (vocab_shard_from_rows).
Matrix vocab_rows(const Checkpoint& c, const std::string& name, std::int64_t V, int p, int r, ReadCounter* counter) {
  const VocabRange range = vocab_range(V, p, r);
  const Matrix rows = range.size() > 0 ? c.read_block(name, range.start, range.size(), 0, c.tensor(name).cols(), counter)
                                       : Matrix(0, c.tensor(name).cols());
  return vocab_shard_from_rows(rows, V, p, r);
}

}  // namespace

DecoderShard read_decoder_shard(const Checkpoint& checkpoint, int rank, int p, ReadCounter* counter,
                                int tree_segments) {
  const DecoderConfig& c = checkpoint.config();
  check_decoder_tp(c, p);
  if (rank < 0 || rank >= p)
    throw std::invalid_argument("read_decoder_shard: rank " + std::to_string(rank) + " out of range; valid ranks are 0.." +
                                std::to_string(p - 1));
  const bool gpt = c.arch == DecoderArch::GPT;
  const int d = c.head_dim();
  DecoderShard s;
  s.rank = rank;
  s.p = p;
  s.config = c;
  s.padded_intermediate = padded_intermediate(c, p, tree_segments);
  const std::int64_t i_r = s.padded_intermediate / p, i0 = rank * i_r;
  auto whole = [&](const std::string& name) { return checkpoint.read(name, counter); };

  s.embedding = vocab_rows(checkpoint, "model.embed_tokens.weight", c.vocab, p, rank, counter);
  if (gpt) s.position_embedding = whole("model.embed_positions.weight");
  const QKVShardRows qkv = qkv_shard_rows(c.heads, c.kv_heads, d, p, rank);
  for (int l = 0; l < c.layers; ++l) {
    BlockShard b;
    b.input_norm_weight = whole(layer_name(l, "input_layernorm.weight"));
    b.post_norm_weight = whole(layer_name(l, "post_attention_layernorm.weight"));
    // [Wq rows of its query heads; Wk rows of its KV heads; Wv rows of its KV heads], as QKVParallelLinear stacks them.
    b.qkv_weight.resize(qkv.q_rows + 2 * qkv.kv_rows, c.hidden);
    b.qkv_weight.topRows(qkv.q_rows) =
        checkpoint.read_block(layer_name(l, "self_attn.q_proj.weight"), qkv.q_begin, qkv.q_rows, 0, c.hidden, counter);
    b.qkv_weight.middleRows(qkv.q_rows, qkv.kv_rows) = checkpoint.read_block(
        layer_name(l, "self_attn.k_proj.weight"), qkv.kv_begin, qkv.kv_rows, 0, c.hidden, counter);
    b.qkv_weight.bottomRows(qkv.kv_rows) = checkpoint.read_block(layer_name(l, "self_attn.v_proj.weight"),
                                                                 qkv.kv_begin, qkv.kv_rows, 0, c.hidden, counter);
    b.o_weight = checkpoint.read_block(layer_name(l, "self_attn.o_proj.weight"), 0, c.hidden, qkv.q_begin, qkv.q_rows,
                                       counter);
    const std::string up = layer_name(l, "mlp.up_proj.weight"), down = layer_name(l, "mlp.down_proj.weight");
    if (gpt) {
      b.input_norm_bias = whole(layer_name(l, "input_layernorm.bias"));
      b.post_norm_bias = whole(layer_name(l, "post_attention_layernorm.bias"));
      b.qkv_bias.resize(1, qkv.q_rows + 2 * qkv.kv_rows);
      b.qkv_bias.leftCols(qkv.q_rows) =
          checkpoint.read_block(layer_name(l, "self_attn.q_proj.bias"), 0, 1, qkv.q_begin, qkv.q_rows, counter);
      b.qkv_bias.middleCols(qkv.q_rows, qkv.kv_rows) =
          checkpoint.read_block(layer_name(l, "self_attn.k_proj.bias"), 0, 1, qkv.kv_begin, qkv.kv_rows, counter);
      b.qkv_bias.rightCols(qkv.kv_rows) =
          checkpoint.read_block(layer_name(l, "self_attn.v_proj.bias"), 0, 1, qkv.kv_begin, qkv.kv_rows, counter);
      b.o_bias = whole(layer_name(l, "self_attn.o_proj.bias"));
      b.mlp_in_weight = rows_padded(checkpoint, up, i0, i_r, c.intermediate, counter);
      b.mlp_in_bias = cols_padded(checkpoint, layer_name(l, "mlp.up_proj.bias"), i0, i_r, c.intermediate, counter);
      b.mlp_down_bias = whole(layer_name(l, "mlp.down_proj.bias"));
    } else {
      // [gate rows r; up rows r]: MergedColumnParallelLinear's stacking, zero rows past I.
      b.mlp_in_weight.resize(2 * i_r, c.hidden);
      b.mlp_in_weight.topRows(i_r) =
          rows_padded(checkpoint, layer_name(l, "mlp.gate_proj.weight"), i0, i_r, c.intermediate, counter);
      b.mlp_in_weight.bottomRows(i_r) = rows_padded(checkpoint, up, i0, i_r, c.intermediate, counter);
    }
    b.mlp_down_weight = cols_padded(checkpoint, down, i0, i_r, c.intermediate, counter);
    s.blocks.push_back(std::move(b));
  }
  s.final_norm_weight = whole("model.norm.weight");
  if (gpt) s.final_norm_bias = whole("model.norm.bias");
  if (!c.tied_embeddings) s.lm_head = vocab_rows(checkpoint, "lm_head.weight", c.vocab, p, rank, counter);
  return s;
}

}  // namespace atp::sim
