/// \file test_launcher.cpp
/// \brief The parts of the launcher and communicator that need no GPU: the
///        id encoding, the environment parsing, the names of the sharing modes
///        and all-reduce forms, and the process supervisor (with /bin/sh
///        children: failures, signals, timeouts, stubborn children). The
///        GPU-sharing plans are in test_gpu_sharing.cpp.
///
/// Runs everywhere (ctest label "cuda"), so CI checks that atp-launch can
/// never hang even on machines without a GPU.
#include "atp/cuda/collectives.hpp"
#include "atp/cuda/communicator.hpp"
#include "atp/cuda/launch.hpp"
#include "scoped_env.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

namespace cu = atp::cuda;
using atp::test::ScopedEnv;

namespace {

cu::ProcessSpec sh(const std::string& script, std::vector<cu::EnvVar> env = {}) {
  return cu::ProcessSpec{{"/bin/sh", "-c", script}, std::move(env)};
}

double seconds_of(const std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

TEST_CASE("mode and form names round-trip and unknown names list the valid ones") {
  for (auto s : {cu::GpuSharing::Auto, cu::GpuSharing::None, cu::GpuSharing::MultiRank, cu::GpuSharing::HostPerRank})
    CHECK(cu::parse_gpu_sharing(cu::to_string(s)) == s);
  for (auto f : {cu::AllReduceForm::Native, cu::AllReduceForm::RankOrder, cu::AllReduceForm::Ring,
                 cu::AllReduceForm::Tree})
    CHECK(cu::parse_all_reduce_form(cu::to_string(f)) == f);
  CHECK_THROWS_WITH_AS(cu::parse_all_reduce_form("butterfly"),
                       doctest::Contains("'butterfly'; valid forms: native, rank-order, ring, tree"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(cu::parse_gpu_sharing("mps"), doctest::Contains("valid: auto, none, multi-rank, host-per-rank"),
                       std::invalid_argument);
}

TEST_CASE("ncclUniqueId survives the hex round trip and bad hex is located") {
  ncclUniqueId id{};
  for (std::size_t i = 0; i < sizeof(id.internal); ++i) id.internal[i] = static_cast<char>(i * 37 + 5);
  const std::string hex = cu::nccl_id_to_hex(id);
  CHECK(hex.size() == 256);
  CHECK(hex.substr(0, 4) == "052a");
  const ncclUniqueId back = cu::nccl_id_from_hex(hex);
  CHECK(std::string(back.internal, sizeof back.internal) == std::string(id.internal, sizeof id.internal));
  std::string bad = hex;
  bad[17] = 'g';
  CHECK_THROWS_WITH_AS(cu::nccl_id_from_hex(bad), doctest::Contains("character 17"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(cu::nccl_id_from_hex("abc"), doctest::Contains("has 3 characters; expected 256"),
                       std::invalid_argument);
  CHECK(cu::nccl_version_string(22809) == "2.28.9");
  CHECK(cu::nccl_version_string(23000) == "2.30.0");
  CHECK(cu::nccl_version_string(2708) == "2.7.8");
}

TEST_CASE("communicator_config_from_env runs alone without ATP_WORLD_SIZE and is strict with it") {
  for (const char* n : {"ATP_RANK", "ATP_WORLD_SIZE", "ATP_LOCAL_DEVICE", "ATP_NCCL_ID", "ATP_NCCL_TIMEOUT_S"})
    ::unsetenv(n);
  ScopedEnv no_mpi;  // an MPI launcher's variables would send it to the MPI bootstrap
  for (const char* n : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE", "SLURM_NTASKS"}) no_mpi.unset(n);
  {
    const cu::CommunicatorConfig alone = cu::communicator_config_from_env();
    CHECK(alone.world_size == 1);
    CHECK(alone.rank == 0);
    CHECK(alone.device == 0);
    CHECK_FALSE(alone.has_id);
  }
  ncclUniqueId id{};
  id.internal[0] = 'x';
  {
    ScopedEnv env;
    env.set("ATP_WORLD_SIZE", "4");
    env.set("ATP_RANK", "3");
    env.set("ATP_LOCAL_DEVICE", "1");
    env.set("ATP_NCCL_ID", cu::nccl_id_to_hex(id));
    env.set("ATP_NCCL_TIMEOUT_S", "2.5");
    const cu::CommunicatorConfig c = cu::communicator_config_from_env();
    CHECK(c.world_size == 4);
    CHECK(c.rank == 3);
    CHECK(c.device == 1);
    CHECK(c.has_id);
    CHECK(c.id.internal[0] == 'x');
    CHECK(c.timeout_s == 2.5);
  }
  {
    ScopedEnv env;
    env.set("ATP_WORLD_SIZE", "4");
    env.set("ATP_RANK", "4");
    env.set("ATP_NCCL_ID", cu::nccl_id_to_hex(id));
    CHECK_THROWS_WITH_AS(cu::communicator_config_from_env(), doctest::Contains("ATP_RANK='4'"), std::invalid_argument);
  }
  {
    ScopedEnv env;
    env.set("ATP_WORLD_SIZE", "2");
    env.set("ATP_RANK", "0");
    CHECK_THROWS_WITH_AS(cu::communicator_config_from_env(), doctest::Contains("ATP_NCCL_ID is not set"),
                         std::invalid_argument);
  }
  {
    ScopedEnv env;
    env.set("ATP_NCCL_TIMEOUT_S", "soon");
    CHECK_THROWS_WITH_AS(cu::communicator_config_from_env(), doctest::Contains("ATP_NCCL_TIMEOUT_S='soon'"),
                         std::invalid_argument);
  }
}

TEST_CASE("run_ranks: all ranks succeed, each with its own environment") {
  std::vector<cu::ProcessSpec> specs;
  for (int r = 0; r < 3; ++r)
    specs.push_back(sh("test \"$ATP_RANK\" = " + std::to_string(r) + " && test \"$HOME\" = \"$ATP_HOME_COPY\"",
                       {{"ATP_RANK", std::to_string(r)}, {"ATP_HOME_COPY", std::getenv("HOME") ? std::getenv("HOME") : ""}}));
  std::ostringstream log;
  const cu::SuperviseResult res = cu::run_ranks(specs, {}, log);
  INFO(log.str());
  CHECK(res.ok());
  CHECK(res.first_failed_rank == -1);
  for (const auto& o : res.ranks) CHECK(o.status == cu::RankStatus::Succeeded);
}

TEST_CASE("run_ranks: one failing rank stops the others and names itself") {
  std::ostringstream log;
  const auto t0 = std::chrono::steady_clock::now();
  const cu::SuperviseResult res = cu::run_ranks({sh("sleep 30"), sh("sleep 0.2; exit 3"), sh("sleep 30")},
                                                {std::chrono::seconds(60), std::chrono::seconds(5)}, log);
  INFO(log.str());
  CHECK(seconds_of(t0) < 10.0);
  CHECK(res.exit_code == 3);
  CHECK(res.first_failed_rank == 1);
  CHECK(res.ranks[1].status == cu::RankStatus::Failed);
  CHECK(res.ranks[0].status == cu::RankStatus::Stopped);
  CHECK(res.ranks[2].status == cu::RankStatus::Stopped);
  CHECK(log.str().find("exited with code 3") != std::string::npos);
}

TEST_CASE("run_ranks: a rank killed by a signal gives 128 + signal") {
  std::ostringstream log;
  const cu::SuperviseResult res = cu::run_ranks({sh("exit 0"), sh("kill -9 $$")}, {}, log);
  INFO(log.str());
  CHECK(res.exit_code == 128 + 9);
  CHECK(res.ranks[1].status == cu::RankStatus::Signaled);
  CHECK(res.ranks[1].signal == 9);
}

TEST_CASE("run_ranks: the deadline stops a hung run, even a child that ignores SIGTERM") {
  std::ostringstream log;
  const auto t0 = std::chrono::steady_clock::now();
  const cu::SuperviseResult res =
      cu::run_ranks({sh("trap '' TERM; sleep 30 & wait"), sh("sleep 30")},
                    {std::chrono::milliseconds(300), std::chrono::milliseconds(300)}, log);
  INFO(log.str());
  CHECK(seconds_of(t0) < 10.0);
  CHECK(res.timed_out);
  CHECK(res.exit_code == 124);
  for (const auto& o : res.ranks) CHECK(o.status == cu::RankStatus::TimedOut);
}

TEST_CASE("run_ranks: a missing command is refused before anything starts") {
  std::ostringstream log;
  CHECK_THROWS_WITH_AS(cu::run_ranks({cu::ProcessSpec{{"atp-no-such-program-xyz"}, {}}}, {}, log),
                       doctest::Contains("not found in PATH"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(cu::run_ranks({cu::ProcessSpec{{"/etc/hostname-not-executable-xyz"}, {}}}, {}, log),
                       doctest::Contains("not an executable file"), std::invalid_argument);
  CHECK_THROWS_AS(cu::run_ranks({}, {}, log), std::invalid_argument);
}
