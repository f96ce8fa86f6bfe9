/// \file op_cost.hpp
/// \brief What one kernel or one collective of the trace costs: a roofline
///        per compute op with efficiency factors per op class, and NCCL's
///        model (or the book's alpha-beta forms) per collective.
///
/// Legend: M, N, K as in a matmul (M, K) x (K, N); e = bytes per element
/// (2 for bf16, what vLLM serves in; the simulator computes in fp32 and its
/// trace counts 4-byte elements, so collective bytes are rescaled by e / 4).
///
/// Compute ops, roofline: time = max(flops / (peak FLOP/s * eff_compute),
/// bytes / (peak bytes/s * eff_memory), kernel floor), with
///
/// | class     | which trace events                          | bytes                             |
/// |-----------|---------------------------------------------|-----------------------------------|
/// | gemm      | "matmul" events against weights             | e (M K + K N + M N): A, B read once, C written once |
/// | attention | "matmul" events labelled *.scores, *.context, fused per rank into one kernel while consecutive with the same label stem (one FlashAttention call per layer) | q, k, v read and the context written, e (T d + S d / g + S d / g + T d) per head: the (T, S) scores never reach memory; g = query heads per KV head |
///
/// Collectives: NCCL's tuner model (nccl_model.hpp) for the call's collective
/// and byte count, or the book's forms (book_forms.hpp) from the bytes the
/// trace records. "gather" has no NCCL collective (it is ncclSend/ncclRecv):
/// it is always priced by the book's form.
///
/// Leaves out: elementwise work (norms, activations, rotary, residual adds:
/// the trace does not record it, see compute.hpp), the embedding lookup
/// (a gather of rows, also not recorded), caches, wave quantization and
/// every size effect beyond the floor, and the CPU.
#pragma once

#include "atp/sim/cost/hardware.hpp"
#include "atp/sim/cost/nccl_model.hpp"
#include "atp/sim/trace.hpp"

#include <functional>
#include <string>
#include <vector>

namespace atp::cost {

/// How collectives are priced.
enum class CollectiveModel {
  Nccl,  ///< NCCL's own latency + bandwidth model, the algorithm its tuner would pick
  Book,  ///< the book's form as the simulator ran it (rank order = one-shot, ring = ring), alpha-beta
};

/// "nccl" or "book".
const char* to_string(CollectiveModel m);
/// Parses to_string() names. \throws std::invalid_argument naming the text and the valid names.
CollectiveModel parse_collective_model(const std::string& text);

/// The classes of ops the model prices differently.
enum class OpClass { Gemm, Attention, Collective };
/// "gemm", "attention", "collective".
const char* to_string(OpClass c);

/// The knobs of a costing.
struct CostOptions {
  int element_bytes = 2;                          ///< e: 2 (bf16) or 4 (fp32)
  CollectiveModel collectives = CollectiveModel::Nccl;  ///< how collectives are priced
  /// Query heads per KV head for attention events whose label starts with a given stem;
  /// the default (empty) answers 1, which counts keys and values once per query head.
  std::function<int(const std::string& label_stem)> kv_group;
};

/// Checks e in {2, 4}. \throws std::invalid_argument naming the value.
void check_element_bytes(int element_bytes);

/// The class of a compute event ("matmul"): Attention for *.scores / *.context labels, else Gemm.
OpClass classify_matmul(const std::string& label);

/// The label without its last ".component": the stem that groups a layer's attention events.
std::string label_stem(const std::string& label);

/// One priced compute kernel.
struct KernelCost {
  OpClass cls = OpClass::Gemm;  ///< gemm or attention
  double flops = 0;             ///< summed over the fused events
  double bytes = 0;             ///< memory traffic (see the table above)
  double compute_s = 0;         ///< flops / (peak * eff)
  double memory_s = 0;          ///< bytes / (bandwidth * eff)
  double seconds = 0;           ///< max(compute_s, memory_s, floor)
  /// "compute", "memory" or "floor": what sets the time.
  const char* bound() const;
};

/// The roofline of one kernel of class `cls` moving `bytes` and doing `flops`.
KernelCost roofline(OpClass cls, double flops, double bytes, const HardwareProfile& hw);

/// Bytes one matmul event moves (gemm: e (M K + K N + M N); attention: the flash-fused
/// count of the table above with group g); a batched event (B, M, K) -> (B, M, N), as the dry
/// windowed attention records, moves B times that.
/// \throws std::invalid_argument if the event has neither 2-D nor batched 3-D shapes.
double matmul_bytes(const sim::TraceEvent& e, OpClass cls, int element_bytes, int kv_group);

/// One priced collective call.
struct CollectiveCost {
  double seconds = 0;      ///< the call's time, the same on every rank
  double nccl_bytes = 0;   ///< the n of NCCL's model (per-rank buffer; p times it for all-gather, reduce-scatter)
  double wire_bytes = 0;   ///< the most bytes a rank sent or received, rescaled to e-byte elements
  std::string detail;      ///< "nccl ring/LL128", "book one-shot", ...
};

/// The NCCL collective a trace op maps to ("all_reduce_*" -> AllReduce, ...); false for "gather" and unknown ops.
bool nccl_collective_of(const std::string& op, NcclCollective& out);

/// True for the trace's collective ops (everything but "matmul").
bool is_collective_op(const std::string& op);

/// Prices one collective call from its per-rank events (one per rank, in rank order).
/// \throws std::invalid_argument if the events are empty or of an op with no model.
CollectiveCost price_collective(const std::vector<const sim::TraceEvent*>& call_events, const HardwareProfile& hw,
                                const NcclTuningModel& nccl, const CostOptions& options);

}  // namespace atp::cost
