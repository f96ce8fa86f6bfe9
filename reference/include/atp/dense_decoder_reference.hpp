/// \file dense_decoder_reference.hpp
/// \brief The dense float64 reference decoder (chapter 7): what a whole
///        Llama- or GPT-style decoder computes, one device, no parallelism.
///
/// Written independently of the simulator's layers, from the model's
/// definition alone, with Eigen in double and std:: double functions, so the
/// tensor-parallel decoder can be checked against it (generated ids equal,
/// logits within a tolerance). Legend: T = tokens in one call, P = tokens
/// cached so far, D = dim, F = hidden_dim, V = vocab, nH / nKV = query / KV
/// heads, d = head_dim = D / nH, g = nH / nKV query heads per KV head.
///
/// Both architectures are pre-norm: for each block,
///     x += Attention(Norm1(x));  x += MLP(Norm2(x));
/// then logits = FinalNorm(x) W_out^T, W_out = lm_head or (tied) tok_embedding.
///
/// **Llama** (DecoderArch::Llama; no biases anywhere):
/// - x_t = tok_embedding[id_t] (positions enter only through RoPE).
/// - Norm = RMSNorm: x / sqrt(mean(x^2) + eps) * w.
/// - Attention: q = h wq^T, k = h wk^T, v = h wv^T; RoPE on q and k of every
///   head, pairs (2i, 2i+1) of the head rotated by angle pos * theta^(-2i/d);
///   query head h reads KV head h / g; scores scaled by 1/sqrt(d), causal;
///   out = context wo^T.
/// - MLP (SwiGLU): w_down (silu(h w_gate^T) * (h w_up^T)).
///
/// **GPT** (DecoderArch::GPT):
/// - x_t = tok_embedding[id_t] + pos_embedding[pos_t] (learned positions, no RoPE).
/// - Norm = LayerNorm with biased variance: (x - mean) / sqrt(var + eps) * w + b.
/// - Attention: q = h wq^T + bq, k = h wk^T + bk, v = h wv^T + bv (no RoPE);
///   the same GQA mapping h -> h / g (nKV = nH is plain multi-head), scale
///   1/sqrt(d), causal; out = context wo^T + bo.
/// - MLP: gelu_tanh(h w_up^T + b_up) w_down^T + b_down (w_gate empty).
/// - Final LayerNorm (final_norm_w, final_norm_b); the LM head has no bias.
///
/// In both, a linear bias that is empty (0, 0) means "no bias" (zero), so a
/// GPT without biases is also valid; a Llama must leave every bias empty.
///
/// What it leaves out: batching, sampling other than greedy, dropout, any
/// speed. The KV cache stores post-RoPE keys, as real decoders do.
#pragma once

#include "atp/tensor.hpp"

#include <string>
#include <vector>

namespace atp {

/// The two decoder families; see the file comment for exactly what each computes.
enum class DecoderArch {
  Llama,  ///< RMSNorm, RoPE, GQA, SwiGLU MLP, no biases.
  GPT     ///< LayerNorm, learned positions, GELU (tanh form) MLP, biases.
};

/// Hyper-parameters of a decoder.
struct DecoderShapeRef {
  DecoderArch arch = DecoderArch::Llama;  ///< which family (file comment)
  int dim = 0;                            ///< D, the residual width
  int hidden_dim = 0;                     ///< F, the MLP width
  int n_layers = 0;                       ///< L, number of blocks
  int n_heads = 0;                        ///< nH, query heads
  int n_kv_heads = 0;                     ///< nKV, key/value heads; divides nH
  int vocab_size = 0;                     ///< V
  int max_seq_len = 0;                    ///< most positions a KV cache holds
  double norm_eps = 1e-5;                 ///< RMSNorm / LayerNorm epsilon
  double rope_theta = 10000.0;            ///< Llama only: RoPE base
  /// d = D / nH.
  int head_dim() const { return dim / n_heads; }
};

/// One block's weights. Matrices are (out, in): y = x W^T (+ b); biases are
/// (1, out); a tensor that is absent is empty (0, 0).
struct DecoderLayerRef {
  MatrixD attn_norm_w;  ///< (1, D)
  MatrixD attn_norm_b;  ///< (1, D), GPT only
  MatrixD wq;           ///< (nH*d, D)
  MatrixD wk;           ///< (nKV*d, D)
  MatrixD wv;           ///< (nKV*d, D)
  MatrixD wo;           ///< (D, nH*d)
  MatrixD bq;           ///< (1, nH*d), GPT only, optional
  MatrixD bk;           ///< (1, nKV*d), GPT only, optional
  MatrixD bv;           ///< (1, nKV*d), GPT only, optional
  MatrixD bo;           ///< (1, D), GPT only, optional
  MatrixD ffn_norm_w;   ///< (1, D)
  MatrixD ffn_norm_b;   ///< (1, D), GPT only
  MatrixD w_gate;       ///< (F, D), Llama only (llama2.c's w1)
  MatrixD w_up;         ///< (F, D) (llama2.c's w3)
  MatrixD w_down;       ///< (D, F) (llama2.c's w2)
  MatrixD b_up;         ///< (1, F), GPT only, optional
  MatrixD b_down;       ///< (1, D), GPT only, optional
};

/// All weights of a decoder, in float64.
struct DecoderWeightsRef {
  DecoderShapeRef shape;                ///< hyper-parameters
  MatrixD tok_embedding;                ///< (V, D)
  MatrixD pos_embedding;                ///< (max_seq_len, D), GPT only
  std::vector<DecoderLayerRef> layers;  ///< L blocks
  MatrixD final_norm_w;                 ///< (1, D)
  MatrixD final_norm_b;                 ///< (1, D), GPT only
  MatrixD lm_head;                      ///< (V, D); empty when tied to tok_embedding
};

/// Checks every hyper-parameter and tensor shape against the file comment.
/// \throws std::invalid_argument naming the first bad value or tensor and what it should be.
void validate_decoder_weights(const DecoderWeightsRef& w);

/// Reads a llama2.c legacy checkpoint into float64 with its own minimal
/// reader (header of 7 int32, fp32 tensors in llama2.c's fixed order, the two
/// legacy RoPE tables skipped, a separate classifier iff vocab_size < 0).
/// The shape gets eps 1e-5 and theta 10000, llama2.c's constants.
/// \throws std::runtime_error if the file cannot be opened or read;
///         std::invalid_argument if the header is bad or the size does not match it
///         (both name the file and what is wrong).
DecoderWeightsRef read_llama2c_reference(const std::string& path);

/// read_llama2c_reference on a checkpoint's bytes already in memory; `name`
/// (e.g. the file's path) only labels the error messages.
/// \throws std::invalid_argument as read_llama2c_reference.
DecoderWeightsRef parse_llama2c_reference(const std::vector<char>& bytes, const std::string& name);

/// Widens fp32 matrices the caller built: an empty matrix stays empty (0, 0),
/// so absent biases stay absent. Chapter 7's tests fill DecoderWeightsRef
/// with widen_ref(their fp32 master) field by field.
MatrixD widen_ref(const Matrix& m);

/// Rotary position embedding of x (T, heads*d): row t is at position
/// first_position + t; in every head, pair (2i, 2i+1) is rotated by angle
/// pos * theta^(-2i/d). Position 0 is the identity.
/// \throws std::invalid_argument unless d is even and >= 2, d divides x.cols(),
///         first_position >= 0 and theta > 0.
MatrixD rope_rows_ref(const MatrixD& x, int head_dim, int first_position, double theta);

/// Index of the largest entry of row 0 of `logits`, ties to the lowest index.
/// \throws std::invalid_argument if logits has no entries or contains a NaN.
int argmax_ref(const MatrixD& logits);

/// A dense decoder with a KV cache: forward(ids) appends the ids at positions
/// [pos, pos + n) and returns the logits of every appended position, (n, V).
/// The first call is the prefill; later calls of one id are decode steps.
/// Holds its own copy of the weights.
class DenseDecoderRef {
 public:
  /// Copies and validates the weights (validate_decoder_weights) and makes an empty cache.
  explicit DenseDecoderRef(const DecoderWeightsRef& weights);
  /// Runs ids (n >= 1) at positions [position(), position() + n); returns logits (n, V).
  /// \throws std::invalid_argument for an empty ids, an id outside [0, V), or
  ///         position() + n > max_seq_len (the cache is left unchanged).
  MatrixD forward(const std::vector<int>& ids);
  /// Tokens cached so far.
  int position() const;
  /// Empties the cache (position() becomes 0).
  void reset();

 private:
  MatrixD attention(const DecoderLayerRef& lw, int layer, const MatrixD& h);
  MatrixD mlp(const DecoderLayerRef& lw, const MatrixD& h) const;
  MatrixD norm(const MatrixD& x, const MatrixD& w, const MatrixD& b) const;

  DecoderWeightsRef w_;
  std::vector<MatrixD> k_cache_, v_cache_;  // per layer (max_seq_len, nKV*d); rows [0, pos_) filled
  int pos_ = 0;
};

/// Greedy generation: prefill `prompt` (non-empty), then decode; returns
/// exactly `steps` generated ids. The first is the argmax of the prefill's
/// last logits row, each later one the argmax of a decode step fed the id
/// before it (argmax_ref: ties to the lowest id); the last id is not fed
/// back, so prompt.size() + steps - 1 positions must fit in max_seq_len.
/// If step_logits is given, it receives the logits row (1, V) that chose
/// each generated id (steps rows in all).
/// \throws std::invalid_argument for an empty prompt, steps < 0, or (from
///         forward) a bad id or too long a sequence.
std::vector<int> greedy_generate_reference(const DecoderWeightsRef& weights, const std::vector<int>& prompt,
                                           int steps, std::vector<MatrixD>* step_logits = nullptr);

}  // namespace atp
