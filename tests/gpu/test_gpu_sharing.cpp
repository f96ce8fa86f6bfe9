/// \file test_gpu_sharing.cpp
/// \brief How ranks share GPUs, decided without a GPU: atp-launch's plan
///        (plan_launch), ATP_GPU_SHARING, and the plan of one rank started by
///        mpirun or srun (plan_mpi_rank, mpi_launcher_variable).
///
/// The rules under test (launch.hpp): one GPU per rank with no NCCL overrides
/// when ranks <= GPUs; NCCL_MULTI_RANK_GPU_ENABLE only from NCCL 2.30.3 and for
/// at most 2 ranks per GPU; otherwise a distinct NCCL_HOSTID per rank, on one
/// node only. Runs everywhere (ctest label "cuda").
#include "atp/cuda/launch.hpp"
#include "atp/cuda/mpi_world.hpp"
#include "scoped_env.hpp"

#include <doctest/doctest.h>

#include <string>

namespace cu = atp::cuda;
using atp::test::env_value;
using atp::test::ScopedEnv;

namespace {

constexpr int k2289 = 22809;   // NCCL 2.28.9: no multi-rank mode
constexpr int k2300 = 23000;   // NCCL 2.30.0: before the first release with it
constexpr int k2303 = 23003;   // NCCL 2.30.3: the first release with NCCL_MULTI_RANK_GPU_ENABLE
constexpr int k2307 = 23007;

bool has_any_nccl_override(const std::vector<cu::EnvVar>& env) {
  for (const auto& v : env)
    if (v.name.rfind("NCCL_", 0) == 0) return true;
  return false;
}

}  // namespace

TEST_CASE("plan_launch: one GPU per rank with no NCCL overrides when there are enough GPUs") {
  for (int version : {k2289, k2307}) {
    const cu::LaunchPlan own = cu::plan_launch(2, 8, version);
    CHECK(own.sharing == cu::GpuSharing::None);
    CHECK(own.launcher_env.empty());
    for (int r = 0; r < 2; ++r) {
      CHECK_FALSE(has_any_nccl_override(own.rank_env[static_cast<std::size_t>(r)]));
      CHECK(env_value(own.rank_env[static_cast<std::size_t>(r)], "ATP_LOCAL_DEVICE") == std::to_string(r));
    }
  }
  CHECK(cu::plan_launch(4, 4, k2307).sharing == cu::GpuSharing::None);
}

TEST_CASE("plan_launch: multi-rank only from NCCL 2.30.3 and for at most 2 ranks per GPU") {
  const cu::LaunchPlan two_on_one = cu::plan_launch(2, 1, k2303);
  CHECK(two_on_one.sharing == cu::GpuSharing::MultiRank);
  CHECK(env_value(two_on_one.rank_env[1], "NCCL_MULTI_RANK_GPU_ENABLE") == "1");
  CHECK(env_value(two_on_one.rank_env[1], "NCCL_HOSTID") == "<unset>");
  CHECK(two_on_one.launcher_env.empty());
  CHECK(cu::plan_launch(4, 2, k2307).sharing == cu::GpuSharing::MultiRank);

  // 2.30.0 is older than the first release with the variable.
  const cu::LaunchPlan early = cu::plan_launch(2, 1, k2300);
  CHECK(early.sharing == cu::GpuSharing::HostPerRank);
  CHECK(early.reason.find("2.30.0 < 2.30.3") != std::string::npos);

  // Three or four ranks on one GPU: beyond what NCCL supports, even on a new NCCL.
  for (int p : {3, 4}) {
    const cu::LaunchPlan many = cu::plan_launch(p, 1, k2307);
    CHECK(many.sharing == cu::GpuSharing::HostPerRank);
    CHECK(many.reason.find("more than 2 per GPU") != std::string::npos);
  }
  CHECK(cu::plan_launch(5, 2, k2307).sharing == cu::GpuSharing::HostPerRank);
}

TEST_CASE("plan_launch: host-per-rank gives every rank its own host id and loopback sockets") {
  const cu::LaunchPlan plan = cu::plan_launch(4, 1, k2289);
  CHECK(plan.sharing == cu::GpuSharing::HostPerRank);
  CHECK(plan.reason.find("2.28.9") != std::string::npos);
  for (int r = 0; r < 4; ++r) {
    const auto& env = plan.rank_env[static_cast<std::size_t>(r)];
    CHECK(env_value(env, "NCCL_HOSTID") == "atp-rank-" + std::to_string(r));
    for (const char* v : {"NCCL_P2P_DISABLE", "NCCL_SHM_DISABLE", "NCCL_IB_DISABLE"}) CHECK(env_value(env, v) == "1");
    CHECK(env_value(env, "NCCL_NET") == "Socket");
    CHECK(env_value(env, "NCCL_SOCKET_IFNAME") == "lo");
    CHECK(env_value(env, "NCCL_MULTI_RANK_GPU_ENABLE") == "<unset>");
  }
  CHECK(env_value(plan.launcher_env, "NCCL_SOCKET_IFNAME") == "lo");

  const cu::LaunchPlan five_on_two = cu::plan_launch(5, 2, k2289);
  for (int r = 0; r < 5; ++r) {
    CHECK(env_value(five_on_two.rank_env[static_cast<std::size_t>(r)], "ATP_RANK") == std::to_string(r));
    CHECK(env_value(five_on_two.rank_env[static_cast<std::size_t>(r)], "ATP_WORLD_SIZE") == "5");
    CHECK(env_value(five_on_two.rank_env[static_cast<std::size_t>(r)], "ATP_LOCAL_DEVICE") == std::to_string(r % 2));
  }
}

TEST_CASE("plan_launch refuses requests that cannot work, saying what would") {
  CHECK_THROWS_WITH_AS(cu::plan_launch(4, 1, k2289, cu::GpuSharing::None), doctest::Contains("ranks = 4 > GPUs = 1"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(cu::plan_launch(2, 1, k2300, cu::GpuSharing::MultiRank),
                       doctest::Contains("needs NCCL >= 2.30.3, but NCCL is 2.30.0"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(cu::plan_launch(3, 1, k2307, cu::GpuSharing::MultiRank),
                       doctest::Contains("at most 2 ranks per GPU"), std::invalid_argument);
  CHECK_THROWS_AS(cu::plan_launch(0, 1, k2289), std::invalid_argument);
  CHECK_THROWS_WITH_AS(cu::plan_launch(2, 0, k2289), doctest::Contains("at least one CUDA device"),
                       std::invalid_argument);
  // Requests that work are taken as they are, even where auto would choose otherwise.
  CHECK(cu::plan_launch(2, 4, k2289, cu::GpuSharing::HostPerRank).sharing == cu::GpuSharing::HostPerRank);
  CHECK(cu::plan_launch(2, 2, k2307, cu::GpuSharing::MultiRank).sharing == cu::GpuSharing::MultiRank);
}

TEST_CASE("ATP_GPU_SHARING: unset or empty is auto, a name is that mode, anything else is named in the error") {
  ScopedEnv env;
  env.unset("ATP_GPU_SHARING");
  CHECK(cu::gpu_sharing_from_env() == cu::GpuSharing::Auto);
  env.set("ATP_GPU_SHARING", "");
  CHECK(cu::gpu_sharing_from_env() == cu::GpuSharing::Auto);
  env.set("ATP_GPU_SHARING", "multi-rank");
  CHECK(cu::gpu_sharing_from_env() == cu::GpuSharing::MultiRank);
  env.set("ATP_GPU_SHARING", "host-per-rank");
  CHECK(cu::gpu_sharing_from_env() == cu::GpuSharing::HostPerRank);
  env.set("ATP_GPU_SHARING", "mps");
  CHECK_THROWS_WITH_AS(cu::gpu_sharing_from_env(),
                       doctest::Contains("ATP_GPU_SHARING: unknown GPU-sharing mode 'mps'; valid: auto, none"),
                       std::invalid_argument);
}

TEST_CASE("mpi_launcher_variable: mpirun, PMIx, PMI and multi-task srun are recognised; a plain run is not") {
  ScopedEnv env;
  for (const char* n : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE", "SLURM_NTASKS", "SLURM_PROCID"}) env.unset(n);
  CHECK(cu::mpi_launcher_variable().empty());
  env.set("SLURM_NTASKS", "1");
  env.set("SLURM_PROCID", "0");
  CHECK(cu::mpi_launcher_variable().empty());  // a one-task allocation runs the program alone
  env.set("SLURM_NTASKS", "4");
  CHECK(cu::mpi_launcher_variable() == "SLURM_NTASKS=4");
  env.set("PMI_SIZE", "4");
  CHECK(cu::mpi_launcher_variable() == "PMI_SIZE=4");
  env.set("OMPI_COMM_WORLD_SIZE", "4");
  CHECK(cu::mpi_launcher_variable() == "OMPI_COMM_WORLD_SIZE=4");
}

TEST_CASE("plan_mpi_rank: the local rank picks the GPU, and the node's ranks decide the sharing mode") {
  // One node, one GPU per rank: device = local rank, nothing overridden.
  for (int local = 0; local < 4; ++local) {
    const cu::MpiRankPlan plan = cu::plan_mpi_rank({4 + local, 8, local, 4, 2}, 4, k2289, cu::GpuSharing::Auto, "n1");
    CHECK(plan.device == local);
    CHECK(plan.sharing.mode == cu::GpuSharing::None);
    CHECK(plan.env.empty());
  }
  // Four ranks on a node with two GPUs and an old NCCL: host ids that include the host name.
  const cu::MpiRankPlan old = cu::plan_mpi_rank({3, 4, 3, 4, 1}, 2, k2289, cu::GpuSharing::Auto, "gpu7");
  CHECK(old.device == 1);
  CHECK(old.sharing.mode == cu::GpuSharing::HostPerRank);
  CHECK(env_value(old.env, "NCCL_HOSTID") == "atp-gpu7-rank-3");
  // Two nodes, 4 ranks each on 2 GPUs, NCCL 2.30.7: 2 ranks per GPU, multi-rank.
  const cu::MpiRankPlan shared = cu::plan_mpi_rank({5, 8, 1, 4, 2}, 2, k2307, cu::GpuSharing::Auto, "n2");
  CHECK(shared.sharing.mode == cu::GpuSharing::MultiRank);
  CHECK(shared.device == 1);
  CHECK(env_value(shared.env, "NCCL_MULTI_RANK_GPU_ENABLE") == "1");
}

TEST_CASE("plan_mpi_rank refuses what cannot work across nodes or without a GPU") {
  CHECK_THROWS_WITH_AS(cu::plan_mpi_rank({0, 8, 0, 4, 2}, 1, k2307, cu::GpuSharing::Auto, "n1"),
                       doctest::Contains("works on one node only, but the job spans 2 nodes"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(cu::plan_mpi_rank({0, 8, 0, 4, 2}, 2, k2289, cu::GpuSharing::Auto, "n1"),
                       doctest::Contains("one node only"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(cu::plan_mpi_rank({1, 2, 1, 2, 1}, 0, k2289, cu::GpuSharing::Auto, "cpu3"),
                       doctest::Contains("host 'cpu3' sees no CUDA device"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(cu::plan_mpi_rank({2, 2, 0, 1, 1}, 1, k2289, cu::GpuSharing::Auto, "n1"),
                       doctest::Contains("rank outside the world"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(cu::plan_mpi_rank({0, 2, 2, 2, 1}, 1, k2289, cu::GpuSharing::Auto, "n1"),
                       doctest::Contains("local rank outside"), std::invalid_argument);
}
