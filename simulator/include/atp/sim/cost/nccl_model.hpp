/// \file nccl_model.hpp
/// \brief NCCL's own time model for a collective, re-derived from its
///        source: a latency and an algorithm bandwidth per (collective,
///        algorithm, protocol), and the tuner's choice of the cheapest.
///
/// NCCL (src/graph/tuning.cc, ncclTopoTuneModel) computes, once per
/// communicator, for every collective c, algorithm a and protocol p:
///
///     bandwidth[c][a][p] = nChannels * bw_per_channel, refined per (a, p)
///                          (LL halves it, LL128 keeps 92%, trees lose a bit
///                          more and are capped per channel), then turned
///                          from bus bandwidth into algorithm bandwidth
///                          (ring: nRanks / nsteps; tree: 1/2)
///     latency[c][a][p]   = baseLatency[a][p] + steps * hwLatency[link][a][p]
///                          ring all-reduce: 2(p-1) steps (2(nodes-1) of them
///                          over the network); tree all-reduce:
///                          2((p/nodes - 1) intra + log2(nodes) inter); NVLS:
///                          its hardware latency alone
///
/// and prices a call of n bytes (ncclTopoGetAlgoTime) as
///
///     time_us = latency + n / (1000 * bandwidth)       (GB/s = 1000 bytes/us)
///
/// with a per-size correction for trees; the tuner runs the cheapest pair.
/// n is the bytes of one rank's buffer for all-reduce and broadcast, and p
/// times that for all-gather and reduce-scatter (ncclFuncMaxSendRecvCount).
/// The constants are data (simulator/data/cost/nccl_tuning.json, copied from
/// NCCL 2.30.7 with their source); the topology graphs come from the
/// hardware profile.
///
/// Leaves out: CollNet, NVLS-Tree and PAT (multi-node and one-GPU-per-node
/// algorithms the profiles do not have), tuner plugins, NCCL_ALGO/NCCL_PROTO
/// overrides, the channel and thread counts NCCL lowers for small messages
/// (they change the kernel, not the model's time), user-buffer registration,
/// and contention with other traffic. Like NCCL's, it is a model: chapter 10
/// checks it against published nccl-tests measurements.
#pragma once

#include "atp/sim/cost/hardware.hpp"

#include <array>
#include <string>

namespace atp::cost {

/// The collectives the model prices.
enum class NcclCollective { AllReduce, AllGather, ReduceScatter, Broadcast };
/// The algorithms the model knows (NCCL_ALGO_TREE, _RING, _NVLS).
enum class NcclAlgorithm { Tree, Ring, NVLS };
/// The protocols (NCCL_PROTO_LL, _LL128, _SIMPLE).
enum class NcclProtocol { LL, LL128, Simple };

/// "all_reduce", "all_gather", "reduce_scatter", "broadcast".
const char* to_string(NcclCollective c);
/// "tree", "ring", "nvls".
const char* to_string(NcclAlgorithm a);
/// "LL", "LL128", "Simple".
const char* to_string(NcclProtocol p);

/// The constants of tuning.cc, as read from nccl_tuning.json.
struct NcclConstants {
  std::array<std::array<double, 3>, 3> base_latency_us{};                    ///< [algorithm][protocol]
  std::array<std::array<std::array<double, 3>, 3>, 3> hw_latency_us{};       ///< [nvlink|pci|net][algorithm][protocol]
  std::array<std::array<double, 3>, 4> ll_max_bw_GBps{};                     ///< [arch][1 node | 2 | more]
  std::array<std::array<double, 3>, 4> per_channel_max_ring_ll128_bw_GBps{}; ///< [arch][nodes index]
  std::array<std::array<double, 3>, 4> per_channel_max_tree_ll128_bw_GBps{}; ///< [arch][nodes index]
  std::array<std::array<double, 3>, 4> per_channel_max_tree_bw_GBps{};       ///< [arch][nodes index]
  std::array<double, 4> nvls_efficiency{};                                   ///< [arch]
  std::array<std::array<double, 24>, 3> tree_correction{};                   ///< [protocol][log2(bytes / 64)]
  double ring_ll_bw_factor = 0;              ///< Ring/LL: busBw * this, capped by llMaxBw
  double ring_ll128_bw_factor = 0;           ///< Ring/LL128: busBw * this, capped per channel
  double tree_allreduce_bw_factor = 0;       ///< Tree all-reduce: busBw * this, capped per channel
  double tree_ll_bw_divisor = 0;             ///< Tree/LL: busBw / this, capped by llMaxBw
  double tree_ll128_bw_factor_one_node = 0;  ///< Tree/LL128 on one node
  double tree_ll128_bw_factor_nodes = 0;     ///< Tree/LL128 across nodes
  double tree_algbw_ratio = 0;               ///< a tree's algorithm bandwidth = this * bus bandwidth
  double net_overhead_us = 0;                ///< per network step (Intel CPUs)
  double net_overhead_simple_factor = 0;     ///< Simple protocol multiplies it by this
  double ring_simple_plateau_factor = 0;     ///< multi-node Ring/Simple all-reduce latency factor
  std::string source;                        ///< the file's "about"
};

/// Parses the atp-cost-nccl-tuning format. \throws std::invalid_argument naming the field.
NcclConstants parse_nccl_constants(const std::string& json_text, const std::string& origin);
/// The compiled-in simulator/data/cost/nccl_tuning.json.
const NcclConstants& nccl_constants();

/// One (algorithm, protocol) priced for one call.
struct NcclEstimate {
  bool available = false;          ///< false: NCCL would not run this pair here (bandwidth 0)
  NcclAlgorithm algorithm = NcclAlgorithm::Ring;  ///< which algorithm
  NcclProtocol protocol = NcclProtocol::Simple;   ///< which protocol
  double latency_us = 0;           ///< the fixed part
  double bandwidth_GBps = 0;       ///< algorithm bandwidth after the size correction
  double time_us = 0;              ///< latency_us + bytes / (1000 bandwidth_GBps)
  /// "ring/LL128".
  std::string name() const;
};

/// NCCL's latency and bandwidth tables for one communicator of p ranks on one profile.
class NcclTuningModel {
 public:
  /// The tables ncclTopoTuneModel would build. \throws std::invalid_argument if p does not fit the profile.
  NcclTuningModel(const HardwareProfile& hw, int p, const NcclConstants& constants = nccl_constants());

  /// Ranks p.
  int ranks() const { return p_; }
  /// Nodes the p ranks span.
  int nodes() const { return nodes_; }
  /// latency[c][a][proto] in us (meaningful only where bandwidth() > 0).
  double latency_us(NcclCollective c, NcclAlgorithm a, NcclProtocol proto) const;
  /// Algorithm bandwidth in GB/s before the size correction; 0 = unavailable.
  double bandwidth_GBps(NcclCollective c, NcclAlgorithm a, NcclProtocol proto) const;
  /// One pair priced for a call moving `bytes` (ncclTopoGetAlgoTime).
  NcclEstimate estimate(NcclCollective c, NcclAlgorithm a, NcclProtocol proto, double bytes) const;
  /// The pair NCCL's tuner would pick: the smallest time among the available ones
  /// (ties keep the first in Tree, Ring, NVLS and LL, LL128, Simple order, as NCCL's loop).
  /// At p = 1 nothing is sent: available, time 0. \throws std::invalid_argument for bytes < 0.
  NcclEstimate best(NcclCollective c, double bytes) const;
  /// The table NCCL prints with NCCL_DEBUG_SUBSYS=TUNING: latency/bandwidth per pair.
  std::string table() const;

 private:
  int p_ = 1;
  int nodes_ = 1;
  int ring_channels_ = 1;
  const NcclConstants* constants_;
  double lat_[4][3][3] = {};
  double bw_[4][3][3] = {};
};

}  // namespace atp::cost
