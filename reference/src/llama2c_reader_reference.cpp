/// \file llama2c_reader_reference.cpp
/// \brief The reference decoder's own reader of llama2.c legacy checkpoints
///        (read_llama2c_reference), independent of chapter 7's reader.
///
/// Layout (llama2.c's `run.c` memory_map_weights, legacy version 0): seven
/// little-endian int32 (dim, hidden_dim, n_layers, n_heads, n_kv_heads,
/// vocab_size, seq_len), then fp32 tensors, each stacked over the L layers:
/// token embedding (V, D); attention RMSNorm (L, D); wq (L, nH*d, D);
/// wk, wv (L, nKV*d, D); wo (L, D, nH*d); FFN RMSNorm (L, D); w1 (L, F, D);
/// w2 (L, D, F); w3 (L, F, D); final RMSNorm (D); two legacy RoPE tables
/// (seq_len, d/2) each, skipped; and the classifier (V, D) only when
/// vocab_size < 0. The whole file is read into memory (the shipped model is
/// 1 MB); leaves out mmap and the newer versioned export formats.
#include "atp/dense_decoder_reference.hpp"

#include <bit>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

namespace atp {
namespace {

static_assert(std::endian::native == std::endian::little, "the reader assumes a little-endian host");

// Hands out consecutive fp32 tensors from the file's bytes, widened to double.
class TensorCursor {
 public:
  TensorCursor(const std::vector<char>& bytes, std::size_t offset) : bytes_(bytes), offset_(offset) {}

  MatrixD take(Eigen::Index rows, Eigen::Index cols) {
    MatrixD m(rows, cols);
    for (Eigen::Index i = 0; i < m.size(); ++i) {
      float f;
      std::memcpy(&f, bytes_.data() + offset_, sizeof f);
      offset_ += sizeof f;
      m.data()[i] = f;
    }
    return m;
  }
  void skip_floats(std::int64_t n) { offset_ += static_cast<std::size_t>(n) * sizeof(float); }

 private:
  const std::vector<char>& bytes_;
  std::size_t offset_;
};

}  // namespace

DecoderWeightsRef read_llama2c_reference(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("read_llama2c_reference: " + path + ": cannot open the file");
  const std::vector<char> bytes{std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
  if (f.bad()) throw std::runtime_error("read_llama2c_reference: " + path + ": read error");
  return parse_llama2c_reference(bytes, path);
}

DecoderWeightsRef parse_llama2c_reference(const std::vector<char>& bytes, const std::string& name) {
  const std::string where = "read_llama2c_reference: " + name + ": ";
  constexpr std::size_t kHeaderBytes = 7 * sizeof(std::int32_t);
  if (bytes.size() < kHeaderBytes)
    throw std::invalid_argument(where + "truncated: " + std::to_string(bytes.size()) +
                                " bytes, shorter than the 28-byte header of 7 int32");
  std::int32_t h[7];
  std::memcpy(h, bytes.data(), kHeaderBytes);
  const char* names[7] = {"dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"};
  const bool shared_classifier = h[5] > 0;
  if (h[5] < 0) h[5] = -h[5];  // a negative vocab_size flags a separate classifier
  // Each field is bounded so every product below fits in int64 (and a random file fails here).
  for (int i = 0; i < 7; ++i)
    if (h[i] < 1 || h[i] > (1 << 20))
      throw std::invalid_argument(where + "bad header: " + names[i] + " = " + std::to_string(h[i]) +
                                  ", expected 1 .. 2^20");

  DecoderWeightsRef w;
  DecoderShapeRef& s = w.shape;
  s.arch = DecoderArch::Llama;
  s.dim = h[0], s.hidden_dim = h[1], s.n_layers = h[2], s.n_heads = h[3], s.n_kv_heads = h[4];
  s.vocab_size = h[5], s.max_seq_len = h[6];
  if (s.dim % s.n_heads != 0 || s.head_dim() % 2 != 0)
    throw std::invalid_argument(where + "bad header: dim " + std::to_string(s.dim) + " must be n_heads " +
                                std::to_string(s.n_heads) + " times an even head size");
  if (s.n_heads % s.n_kv_heads != 0)
    throw std::invalid_argument(where + "bad header: n_kv_heads " + std::to_string(s.n_kv_heads) +
                                " must divide n_heads " + std::to_string(s.n_heads));

  const std::int64_t D = s.dim, F = s.hidden_dim, L = s.n_layers, V = s.vocab_size, d = s.head_dim();
  const std::int64_t q_rows = s.n_heads * d, kv_rows = s.n_kv_heads * d;
  const std::int64_t floats = V * D + L * D + L * q_rows * D + 2 * L * kv_rows * D + L * D * q_rows + L * D +
                              3 * L * F * D + D + 2 * s.max_seq_len * (d / 2) + (shared_classifier ? 0 : V * D);
  const std::int64_t expected = static_cast<std::int64_t>(kHeaderBytes) + floats * 4;
  const auto actual = static_cast<std::int64_t>(bytes.size());
  if (actual != expected)
    throw std::invalid_argument(where + (actual < expected ? "truncated: " : "trailing bytes: ") +
                                std::to_string(actual) + " bytes, but the header (dim " + std::to_string(D) +
                                ", layers " + std::to_string(L) + ", vocab " + std::to_string(V) +
                                (shared_classifier ? ", shared" : ", separate") + " classifier) needs " +
                                std::to_string(expected));

  TensorCursor c(bytes, kHeaderBytes);
  w.tok_embedding = c.take(V, D);
  w.layers.resize(static_cast<std::size_t>(L));
  // Each tensor is stacked over layers, so the file is walked tensor-major, layer-minor.
  for (auto& l : w.layers) l.attn_norm_w = c.take(1, D);
  for (auto& l : w.layers) l.wq = c.take(q_rows, D);
  for (auto& l : w.layers) l.wk = c.take(kv_rows, D);
  for (auto& l : w.layers) l.wv = c.take(kv_rows, D);
  for (auto& l : w.layers) l.wo = c.take(D, q_rows);
  for (auto& l : w.layers) l.ffn_norm_w = c.take(1, D);
  for (auto& l : w.layers) l.w_gate = c.take(F, D);  // w1
  for (auto& l : w.layers) l.w_down = c.take(D, F);  // w2
  for (auto& l : w.layers) l.w_up = c.take(F, D);    // w3
  w.final_norm_w = c.take(1, D);
  c.skip_floats(2 * s.max_seq_len * (d / 2));  // legacy freq_cis_real, freq_cis_imag
  if (!shared_classifier) w.lm_head = c.take(V, D);
  return w;
}

}  // namespace atp
