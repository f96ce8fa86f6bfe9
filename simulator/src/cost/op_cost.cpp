/// \file op_cost.cpp
/// \brief Roofline per compute kernel and the price of one collective call.
#include "atp/sim/cost/op_cost.hpp"

#include "atp/sim/cost/book_forms.hpp"

#include <algorithm>
#include <stdexcept>

namespace atp::cost {

const char* to_string(CollectiveModel m) { return m == CollectiveModel::Nccl ? "nccl" : "book"; }

CollectiveModel parse_collective_model(const std::string& text) {
  if (text == "nccl") return CollectiveModel::Nccl;
  if (text == "book") return CollectiveModel::Book;
  throw std::invalid_argument("collective model '" + text + "' is unknown; valid: nccl, book");
}

const char* to_string(OpClass c) {
  switch (c) {
    case OpClass::Gemm: return "gemm";
    case OpClass::Attention: return "attention";
    case OpClass::Collective: return "collective";
  }
  return "?";
}

void check_element_bytes(int element_bytes) {
  if (element_bytes != 2 && element_bytes != 4)
    throw std::invalid_argument("element size " + std::to_string(element_bytes) +
                                " bytes is not supported; valid: 2 (bf16), 4 (fp32)");
}

namespace {
bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}
}  // namespace

OpClass classify_matmul(const std::string& label) {
  return ends_with(label, ".scores") || ends_with(label, ".context") ? OpClass::Attention : OpClass::Gemm;
}

std::string label_stem(const std::string& label) {
  const auto dot = label.rfind('.');
  return dot == std::string::npos ? label : label.substr(0, dot);
}

const char* KernelCost::bound() const {
  if (seconds > compute_s && seconds > memory_s) return "floor";
  return compute_s >= memory_s ? "compute" : "memory";
}

KernelCost roofline(OpClass cls, double flops, double bytes, const HardwareProfile& hw) {
  const Efficiency& e = hw.efficiency;
  const bool attn = cls == OpClass::Attention;
  KernelCost k;
  k.cls = cls;
  k.flops = flops;
  k.bytes = bytes;
  k.compute_s = flops / (hw.peak_flops() * (attn ? e.attention_compute.value : e.gemm_compute.value));
  k.memory_s = bytes / (hw.peak_memory_bandwidth() * (attn ? e.attention_memory.value : e.gemm_memory.value));
  k.seconds = std::max({k.compute_s, k.memory_s, e.kernel_floor_us.value * 1e-6});
  return k;
}

double matmul_bytes(const sim::TraceEvent& ev, OpClass cls, int element_bytes, int kv_group) {
  const std::size_t n = ev.shape_in.size();
  const bool ok = (n == 2 || n == 3) && ev.shape_out.size() == n && ev.shape_in[n - 2] == ev.shape_out[n - 2] &&
                  (n == 2 || ev.shape_in[0] == ev.shape_out[0]);
  if (!ok)
    throw std::invalid_argument("matmul event '" + ev.label + "' on rank " + std::to_string(ev.rank) +
                                " has no (M, K) -> (M, N) or batched (B, M, K) -> (B, M, N) shapes; cannot price it");
  const double B = n == 3 ? static_cast<double>(ev.shape_in[0]) : 1.0;
  const double M = static_cast<double>(ev.shape_in[n - 2]), K = static_cast<double>(ev.shape_in[n - 1]),
               N = static_cast<double>(ev.shape_out[n - 1]);
  const double e = element_bytes, g = std::max(1, kv_group);
  if (cls == OpClass::Gemm) return B * e * (M * K + K * N + M * N);
  // Fused attention: scores (T, d) x (d, S) reads q (T d) and k (S d); context (T, S) x (S, d) reads v (S d)
  // and writes (T d). Keys and values are shared by g query heads.
  if (ends_with(ev.label, ".scores")) return B * e * (M * K + K * N / g);
  return B * e * (K * N / g + M * N);
}

bool nccl_collective_of(const std::string& op, NcclCollective& out) {
  if (op.rfind("all_reduce", 0) == 0) {
    out = NcclCollective::AllReduce;
    return true;
  }
  if (op == "all_gather") {
    out = NcclCollective::AllGather;
    return true;
  }
  if (op.rfind("reduce_scatter", 0) == 0) {
    out = NcclCollective::ReduceScatter;
    return true;
  }
  if (op == "broadcast") {
    out = NcclCollective::Broadcast;
    return true;
  }
  return false;
}

bool is_collective_op(const std::string& op) { return op != "matmul"; }

CollectiveCost price_collective(const std::vector<const sim::TraceEvent*>& events, const HardwareProfile& hw,
                                const NcclTuningModel& nccl, const CostOptions& options) {
  if (events.empty()) throw std::invalid_argument("price_collective: a call with no events");
  const std::string& op = events[0]->op;
  const int p = nccl.ranks();
  const double rescale = options.element_bytes / 4.0;  // the trace counts fp32 elements
  CollectiveCost c;
  double in_elems = 0, out_elems = 0;
  for (const sim::TraceEvent* e : events) {
    c.wire_bytes = std::max(c.wire_bytes, rescale * static_cast<double>(std::max(e->bytes_sent, e->bytes_received)));
    if (e->shape_in.size() == 2)
      in_elems = std::max(in_elems, static_cast<double>(e->shape_in[0]) * static_cast<double>(e->shape_in[1]));
    if (e->shape_out.size() == 2)
      out_elems = std::max(out_elems, static_cast<double>(e->shape_out[0]) * static_cast<double>(e->shape_out[1]));
  }
  NcclCollective kind{};
  const bool has_nccl = nccl_collective_of(op, kind);
  if (options.collectives == CollectiveModel::Nccl && has_nccl) {
    // ncclFuncMaxSendRecvCount: all-gather and reduce-scatter price the whole (gathered / scattered) buffer.
    const double elems = kind == NcclCollective::AllGather ? out_elems : in_elems;
    c.nccl_bytes = elems * options.element_bytes;
    const NcclEstimate e = nccl.best(kind, c.nccl_bytes);
    c.seconds = e.time_us * 1e-6;
    c.detail = p == 1 ? "nccl (p = 1: no call)" : "nccl " + e.name();
    return c;
  }
  c.seconds = book_collective_seconds(op, p, in_elems * options.element_bytes, c.wire_bytes, hw.book_for(p));
  c.detail = std::string("book ") +
             (op == "all_reduce_rank_order" ? "one-shot" : op == "all_reduce_ring" ? "ring" : op.c_str()) +
             (options.collectives == CollectiveModel::Nccl ? " (no NCCL collective)" : "");
  return c;
}

}  // namespace atp::cost
