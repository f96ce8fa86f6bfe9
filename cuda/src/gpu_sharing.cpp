/// \file gpu_sharing.cpp
/// \brief How ranks share GPUs (launch.hpp): the mode names, ATP_GPU_SHARING,
///        the decision from ranks, GPUs and the NCCL version, each mode's NCCL_*
///        variables, and atp-launch's plan built from them. Pure functions, no
///        CUDA or NCCL calls, so the CPU tests cover every branch.
#include "atp/cuda/launch.hpp"

#include "atp/cuda/nccl_id.hpp"

#include <cstdlib>
#include <stdexcept>
#include <string>
#include <utility>

namespace atp::cuda {

const char* to_string(GpuSharing sharing) {
  switch (sharing) {
    case GpuSharing::Auto: return "auto";
    case GpuSharing::None: return "none";
    case GpuSharing::MultiRank: return "multi-rank";
    case GpuSharing::HostPerRank: return "host-per-rank";
  }
  return "?";
}

GpuSharing parse_gpu_sharing(std::string_view text) {
  for (GpuSharing s : {GpuSharing::Auto, GpuSharing::None, GpuSharing::MultiRank, GpuSharing::HostPerRank})
    if (text == to_string(s)) return s;
  throw std::invalid_argument("unknown GPU-sharing mode '" + std::string(text) +
                              "'; valid: auto, none, multi-rank, host-per-rank");
}

GpuSharing gpu_sharing_from_env() {
  const char* v = std::getenv(kGpuSharingEnv);
  if (v == nullptr || v[0] == '\0') return GpuSharing::Auto;
  try {
    return parse_gpu_sharing(v);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(std::string(kGpuSharingEnv) + ": " + e.what());
  }
}

SharingDecision decide_gpu_sharing(int ranks, int device_count, int nccl_version, GpuSharing request) {
  if (ranks < 1) throw std::invalid_argument("GPU sharing: ranks = " + std::to_string(ranks) + "; need >= 1");
  if (device_count < 1)
    throw std::invalid_argument("GPU sharing: device_count = " + std::to_string(device_count) +
                                "; need at least one CUDA device");
  const std::string p = std::to_string(ranks);
  const std::string g = std::to_string(device_count);
  const std::string v = nccl_version_string(nccl_version);
  const std::string v_min = nccl_version_string(kNcclMultiRankGpuVersion);
  const bool version_ok = nccl_version >= kNcclMultiRankGpuVersion;
  const bool few_enough = ranks <= kMaxRanksPerGpuMultiRank * device_count;

  switch (request) {
    case GpuSharing::Auto:
      if (ranks <= device_count)
        return {GpuSharing::None, p + " rank(s) <= " + g + " GPU(s): every rank has a GPU of its own"};
      if (version_ok && few_enough)
        return {GpuSharing::MultiRank, p + " ranks on " + g + " GPU(s), at most 2 per GPU, and NCCL " + v +
                                           " >= " + v_min + ": NCCL_MULTI_RANK_GPU_ENABLE=1"};
      return {GpuSharing::HostPerRank,
              p + " ranks on " + g + " GPU(s) and " +
                  (version_ok ? std::string("more than 2 per GPU (NCCL supports up to 2)")
                              : "NCCL " + v + " < " + v_min + " has no multi-rank mode") +
                  ": each rank poses as its own host (NCCL_HOSTID) and talks over loopback sockets"};
    case GpuSharing::None:
      if (ranks > device_count)
        throw std::invalid_argument("GPU sharing 'none' needs one GPU per rank, but ranks = " + p + " > GPUs = " + g +
                                    "; use auto, multi-rank (NCCL >= " + v_min + ", <= 2 ranks per GPU) or host-per-rank");
      return {GpuSharing::None, "requested: one GPU per rank"};
    case GpuSharing::MultiRank:
      if (!version_ok)
        throw std::invalid_argument("GPU sharing 'multi-rank' needs NCCL >= " + v_min + ", but NCCL is " + v +
                                    "; use auto or host-per-rank");
      if (!few_enough)
        throw std::invalid_argument("GPU sharing 'multi-rank' runs at most 2 ranks per GPU (NCCL hangs beyond), but "
                                    "ranks = " + p + " on " + g + " GPU(s); use auto or host-per-rank");
      return {GpuSharing::MultiRank, "requested: NCCL_MULTI_RANK_GPU_ENABLE=1"};
    case GpuSharing::HostPerRank:
      return {GpuSharing::HostPerRank, "requested: each rank poses as its own host (NCCL_HOSTID), loopback sockets"};
  }
  throw std::invalid_argument("GPU sharing: unknown request");
}

std::vector<EnvVar> sharing_env(GpuSharing mode, const std::string& host_id) {
  if (mode == GpuSharing::MultiRank) return {{"NCCL_MULTI_RANK_GPU_ENABLE", "1"}};
  if (mode != GpuSharing::HostPerRank) return {};
  return {{"NCCL_HOSTID", host_id},     {"NCCL_NET", "Socket"},      {"NCCL_SOCKET_IFNAME", "lo"},
          {"NCCL_P2P_DISABLE", "1"},     {"NCCL_SHM_DISABLE", "1"},   {"NCCL_IB_DISABLE", "1"}};
}

LaunchPlan plan_launch(int ranks, int device_count, int nccl_version, GpuSharing request) {
  const SharingDecision decision = decide_gpu_sharing(ranks, device_count, nccl_version, request);
  LaunchPlan plan;
  plan.ranks = ranks;
  plan.device_count = device_count;
  plan.nccl_version = nccl_version;
  plan.sharing = decision.mode;
  plan.reason = decision.reason;
  if (plan.sharing == GpuSharing::HostPerRank) {
    // The unique id carries the address of the bootstrap root, which lives in
    // the launcher: it must listen on the interface the ranks use.
    plan.launcher_env.push_back({"NCCL_SOCKET_IFNAME", "lo"});
  }
  plan.rank_env.resize(static_cast<std::size_t>(ranks));
  for (int r = 0; r < ranks; ++r) {
    auto& env = plan.rank_env[static_cast<std::size_t>(r)];
    env.push_back({"ATP_RANK", std::to_string(r)});
    env.push_back({"ATP_WORLD_SIZE", std::to_string(ranks)});
    env.push_back({"ATP_LOCAL_DEVICE", std::to_string(r % device_count)});
    for (EnvVar& v : sharing_env(plan.sharing, "atp-rank-" + std::to_string(r))) env.push_back(std::move(v));
  }
  return plan;
}

}  // namespace atp::cuda
