/// \file test_launcher.cpp
/// \brief The parts of the launcher and communicator that need no GPU: the
///        GPU-sharing plan, the id encoding, the environment parsing, the
///        names of the all-reduce forms, and the process supervisor (with
///        /bin/sh children: failures, signals, timeouts, stubborn children).
///
/// Runs everywhere (ctest label "cuda"), so CI checks that atp-launch can
/// never hang even on machines without a GPU.
#include "atp/cuda/collectives.hpp"
#include "atp/cuda/communicator.hpp"
#include "atp/cuda/launch.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

namespace cu = atp::cuda;

namespace {

std::string env_value(const std::vector<cu::EnvVar>& env, const std::string& name) {
  for (const auto& v : env)
    if (v.name == name) return v.value;
  return "<unset>";
}

cu::ProcessSpec sh(const std::string& script, std::vector<cu::EnvVar> env = {}) {
  return cu::ProcessSpec{{"/bin/sh", "-c", script}, std::move(env)};
}

double seconds_of(const std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Sets ATP_* variables for one test and removes them afterwards.
struct ScopedEnv {
  std::vector<std::string> names;
  void set(const std::string& name, const std::string& value) {
    ::setenv(name.c_str(), value.c_str(), 1);
    names.push_back(name);
  }
  ~ScopedEnv() {
    for (const auto& n : names) ::unsetenv(n.c_str());
  }
};

}  // namespace

TEST_CASE("plan_launch: one GPU per rank when there are enough, else the NCCL-version-dependent sharing mode") {
  const cu::LaunchPlan own = cu::plan_launch(2, 8, 22809);
  CHECK(own.sharing == cu::GpuSharing::None);
  CHECK(env_value(own.rank_env[1], "NCCL_HOSTID") == "<unset>");
  CHECK(own.launcher_env.empty());

  const cu::LaunchPlan old_nccl = cu::plan_launch(4, 1, 22809);
  CHECK(old_nccl.sharing == cu::GpuSharing::HostPerRank);
  CHECK(old_nccl.reason.find("2.28.9") != std::string::npos);
  CHECK(env_value(old_nccl.rank_env[3], "NCCL_HOSTID") == "atp-rank-3");
  CHECK(env_value(old_nccl.rank_env[0], "NCCL_HOSTID") == "atp-rank-0");
  for (const char* v : {"NCCL_P2P_DISABLE", "NCCL_SHM_DISABLE", "NCCL_IB_DISABLE"})
    CHECK(env_value(old_nccl.rank_env[2], v) == "1");
  CHECK(env_value(old_nccl.rank_env[2], "NCCL_NET") == "Socket");
  CHECK(env_value(old_nccl.rank_env[2], "NCCL_SOCKET_IFNAME") == "lo");
  CHECK(env_value(old_nccl.launcher_env, "NCCL_SOCKET_IFNAME") == "lo");

  const cu::LaunchPlan new_nccl = cu::plan_launch(4, 1, 23000);
  CHECK(new_nccl.sharing == cu::GpuSharing::MultiRankGpu);
  CHECK(env_value(new_nccl.rank_env[3], "NCCL_MULTI_RANK_GPU_ENABLE") == "1");
  CHECK(env_value(new_nccl.rank_env[3], "NCCL_HOSTID") == "<unset>");

  const cu::LaunchPlan five_on_two = cu::plan_launch(5, 2, 22809);
  for (int r = 0; r < 5; ++r) {
    CHECK(env_value(five_on_two.rank_env[static_cast<std::size_t>(r)], "ATP_RANK") == std::to_string(r));
    CHECK(env_value(five_on_two.rank_env[static_cast<std::size_t>(r)], "ATP_WORLD_SIZE") == "5");
    CHECK(env_value(five_on_two.rank_env[static_cast<std::size_t>(r)], "ATP_LOCAL_DEVICE") == std::to_string(r % 2));
  }
}

TEST_CASE("plan_launch refuses modes that cannot work, saying what would") {
  CHECK_THROWS_WITH_AS(cu::plan_launch(4, 1, 22809, cu::GpuSharing::None), doctest::Contains("ranks = 4 > GPUs = 1"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(cu::plan_launch(2, 1, 22809, cu::GpuSharing::MultiRankGpu),
                       doctest::Contains("needs NCCL >= 2.30"), std::invalid_argument);
  CHECK_THROWS_AS(cu::plan_launch(0, 1, 22809), std::invalid_argument);
  CHECK_THROWS_WITH_AS(cu::plan_launch(2, 0, 22809), doctest::Contains("at least one CUDA device"),
                       std::invalid_argument);
  CHECK(cu::plan_launch(2, 4, 22809, cu::GpuSharing::HostPerRank).sharing == cu::GpuSharing::HostPerRank);
}

TEST_CASE("mode and form names round-trip and unknown names list the valid ones") {
  for (auto s : {cu::GpuSharing::Auto, cu::GpuSharing::None, cu::GpuSharing::MultiRankGpu, cu::GpuSharing::HostPerRank})
    CHECK(cu::parse_gpu_sharing(cu::to_string(s)) == s);
  for (auto f : {cu::AllReduceForm::Native, cu::AllReduceForm::RankOrder, cu::AllReduceForm::Ring,
                 cu::AllReduceForm::Tree})
    CHECK(cu::parse_all_reduce_form(cu::to_string(f)) == f);
  CHECK_THROWS_WITH_AS(cu::parse_all_reduce_form("butterfly"),
                       doctest::Contains("'butterfly'; valid forms: native, rank-order, ring, tree"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(cu::parse_gpu_sharing("mps"), doctest::Contains("valid: auto, none, multi-rank-gpu, host-per-rank"),
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
