/// \file hardware.hpp
/// \brief Hardware profiles for chapter 10's cost model: one GPU's compute
///        and memory rates, how the GPUs are linked, the topology graphs
///        NCCL's tuner would work from, the book's alpha-beta figures and the
///        per-op-class efficiency factors. Every number carries its source.
///
/// The book's alpha-beta forms run on a link of issue 9's
/// simulator/data/hardware.json (alpha_beta.hpp), named in each profile's
/// book_forms, so both chapters use one set of link figures.
/// The profiles are data: simulator/data/cost/hardware/NAME.json, compiled
/// into the library (hardware_profiles()) so every binary has them, or read
/// from any file of the same format (load_hardware_profile_file()). A profile
/// describes one node type and how many nodes there are; a run on p ranks uses
/// ceil(p / gpus_per_node) nodes, the one-node NCCL graphs while p fits in a
/// node and the multi-node graphs beyond. Leaves out: power and clock limits,
/// memory capacity checks (memory_gb is informative), mixed GPU types.
#pragma once

#include "atp/sim/alpha_beta.hpp"

#include <optional>
#include <string>
#include <vector>

namespace atp::cost {

/// One published (or derived, or assumed) number and where it comes from: alpha_beta.hpp's
/// SourcedFigure, so the two models' figures are one type.
using Figure = sim::SourcedFigure;

/// The GPU generations NCCL's tuner distinguishes (tuning.cc's compute-capability index).
enum class GpuArch {
  Volta,      ///< compute capability 7.x
  Ampere,     ///< 8.x (A100, and Ada parts such as the L4)
  Hopper,     ///< 9.x
  Blackwell,  ///< 10.x and later
};

/// "volta", "ampere", "hopper", "blackwell".
const char* to_string(GpuArch arch);

/// How the GPUs of one node talk to each other.
enum class LinkKind {
  NVLink,  ///< NVLink (through NVSwitch on HGX boards): NCCL's NCCL_HW_NVLINK latencies
  PCI,     ///< PCIe: NCCL's NCCL_HW_PCI latencies, no LL128
};

/// "nvlink" or "pci".
const char* to_string(LinkKind link);

/// One NCCL topology graph (search.cc's ncclTopoGraph, the fields the tuner reads).
struct NcclGraph {
  bool present = false;       ///< false: this algorithm has no graph here (NCCL sets its bandwidth to 0)
  Figure channels;            ///< nChannels
  Figure bw_intra_GBps;       ///< bwIntra, per channel
  Figure bw_inter_GBps;       ///< bwInter, per channel
};

/// The graphs of one configuration (one node, or several).
struct NcclGraphs {
  NcclGraph ring;                ///< NCCL_ALGO_RING
  NcclGraph tree;                ///< NCCL_ALGO_TREE
  NcclGraph nvls;                ///< NCCL_ALGO_NVLS (NVLink SHARP); absent on most systems
  Figure latency_inter_us;       ///< graph latencyInter (0 unless set)
};

/// Efficiency factors per op class: the fraction of a peak rate a kernel reaches.
struct Efficiency {
  Figure gemm_compute;       ///< matmuls against weights: fraction of peak bf16 FLOP/s
  Figure gemm_memory;        ///< matmuls: fraction of peak memory bandwidth
  Figure attention_compute;  ///< fused attention (scores, softmax, context): fraction of peak FLOP/s
  Figure attention_memory;   ///< fused attention: fraction of peak memory bandwidth
  Figure kernel_floor_us;    ///< no kernel takes less
};

/// One node type, how many of them, and every figure the cost model needs.
struct HardwareProfile {
  std::string name;             ///< "h100-sxm": what --hw takes
  std::string description;      ///< one line for tables
  std::string gpu_model;        ///< "NVIDIA H100 SXM5 80GB"
  std::string origin;           ///< where the profile was read from ("compiled in: h100-sxm.json", or a path)
  GpuArch arch = GpuArch::Hopper;  ///< picks NCCL's per-architecture constants
  Figure arch_figure;           ///< the architecture's source (value unused)
  Figure bf16_dense_tflops;     ///< peak dense bf16 tensor-core rate, 1e12 FLOP/s
  Figure hbm_tbps;              ///< peak memory bandwidth, 1e12 bytes/s
  Figure memory_gb;             ///< memory per GPU, 1e9 bytes (informative)
  int gpus_per_node = 1;        ///< GPUs in one node
  int nodes = 1;                ///< nodes available
  LinkKind intra = LinkKind::NVLink;  ///< the link inside a node
  Figure intra_link;            ///< the intra-node link's source (value unused)
  Figure link_GBps_per_direction;  ///< per GPU, inside a node
  std::optional<Figure> net_GBps_per_gpu;  ///< per GPU between nodes (multi-node profiles)
  NcclGraphs nccl_one_node;     ///< graphs while p <= gpus_per_node
  std::optional<NcclGraphs> nccl_nodes;  ///< graphs for p spanning nodes
  sim::LinkProfile book_one_node;        ///< the book's forms inside a node: a link of simulator/data/hardware.json
  std::optional<sim::LinkProfile> book_nodes;  ///< the book's forms across nodes: a link of hardware.json
  Efficiency efficiency;        ///< per op class

  /// gpus_per_node * nodes: the largest p the profile can run.
  int max_ranks() const { return gpus_per_node * nodes; }
  /// ceil(p / gpus_per_node). \throws std::invalid_argument naming p and max_ranks() unless 1 <= p <= max_ranks().
  int nodes_for(int p) const;
  /// The NCCL graphs a run on p ranks uses. \throws as nodes_for().
  const NcclGraphs& graphs_for(int p) const;
  /// The alpha-beta link (alpha_beta.hpp) a run on p ranks uses. \throws as nodes_for().
  const sim::LinkProfile& book_for(int p) const;
  /// Peak FLOP/s.
  double peak_flops() const { return bf16_dense_tflops.value * 1e12; }
  /// Peak memory bytes/s.
  double peak_memory_bandwidth() const { return hbm_tbps.value * 1e12; }
  /// Every figure, one per line, "field = value (source)": for --sources and the chapter README.
  std::string describe_sources() const;
};

/// Parses a profile in the atp-cost-hardware format (see simulator/data/cost/hardware/).
/// `origin` names the text in error messages.
/// \throws std::invalid_argument naming the origin, the field and what is wrong (missing,
///         not positive, no source, unknown architecture or link kind).
HardwareProfile parse_hardware_profile(const std::string& json_text, const std::string& origin);

/// Reads and parses a profile file. \throws std::invalid_argument naming the path if it cannot be read,
///         or as parse_hardware_profile().
HardwareProfile load_hardware_profile_file(const std::string& path);

/// The compiled-in profiles, sorted by name.
const std::vector<HardwareProfile>& hardware_profiles();

/// "a100-sxm, h100-sxm, ...": the compiled-in names.
std::string hardware_profile_names();

/// The compiled-in profile `name`.
/// \throws std::invalid_argument "unknown hardware profile 'x'; known profiles: ..." otherwise.
const HardwareProfile& hardware_profile(const std::string& name);

}  // namespace atp::cost
