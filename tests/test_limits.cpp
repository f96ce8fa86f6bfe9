/// \file test_limits.cpp
/// \brief Sizes at the edge: 64-bit counts in ring_schedule and
///        record_matmul, tp_divide's message for a huge size, the memory
///        budget that refuses a run before it allocates, and the strict JSON
///        number conversions of the manifest and golden readers.
#include "atp/sim/compute.hpp"
#include "atp/sim/json_read.hpp"
#include "atp/sim/layers/tp_divide.hpp"
#include "atp/sim/memory_budget.hpp"
#include "atp/sim/ring_schedule.hpp"
#include "atp/sim/world.hpp"

#include "test_util.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <cstdlib>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>

namespace sim = atp::sim;
using atp::test::contains;
using atp::test::error_of;
using nlohmann::json;

namespace {

// Sets ATP_MEMORY_LIMIT for one scope and restores what was there.
class MemoryLimitEnv {
 public:
  explicit MemoryLimitEnv(const char* value) {
    if (const char* old = std::getenv("ATP_MEMORY_LIMIT")) old_ = old;
    ::setenv("ATP_MEMORY_LIMIT", value, 1);
  }
  ~MemoryLimitEnv() {
    if (old_) ::setenv("ATP_MEMORY_LIMIT", old_->c_str(), 1);
    else ::unsetenv("ATP_MEMORY_LIMIT");
  }
  MemoryLimitEnv(const MemoryLimitEnv&) = delete;
  MemoryLimitEnv& operator=(const MemoryLimitEnv&) = delete;

 private:
  std::optional<std::string> old_;
};

}  // namespace

TEST_CASE("limits: ring_schedule counts its steps in 64 bits and refuses a schedule beyond memory") {
  // 2 (p-1) p for p = 32769 is 2147549184, past INT_MAX: it used to wrap in int.
  CHECK(sim::ring_step_count(32769) == std::int64_t{2147549184});
  CHECK(sim::ring_step_count(65536) == std::int64_t{2} * 65535 * 65536);
  CHECK(sim::ring_schedule(3, 7).size() == 12);
  MemoryLimitEnv limit("1G");
  const std::string e = error_of([] { (void)sim::ring_schedule(40000, 100); });
  CHECK(contains(e, "ring_schedule(p = 40000)"));
  CHECK(contains(e, "3199920000 steps"));
  CHECK(contains(e, "ATP_MEMORY_LIMIT=1G"));
}

TEST_CASE("limits: record_matmul refuses a flop count that does not fit in 64 bits") {
  sim::World world(1);
  sim::record_matmul(world, 0, std::int64_t{1} << 20, std::int64_t{1} << 20, std::int64_t{1} << 20, "big");
  CHECK(world.trace().flops(0) == std::int64_t{1} << 61);
  const std::int64_t n = std::int64_t{1} << 21;  // 2 n^3 = 2^64: one past the range
  const std::string e = error_of([&] { sim::record_matmul(world, 0, n, n, n, "huge"); });
  CHECK(contains(e, "record_matmul 'huge'"));
  CHECK(contains(e, "M = 2097152"));
  CHECK(contains(e, "do not fit in 64 bits"));
  // Four such matmuls sum to 2^63 flops: the trace's total refuses to wrap as well.
  for (int k = 0; k < 3; ++k)
    sim::record_matmul(world, 0, std::int64_t{1} << 20, std::int64_t{1} << 20, std::int64_t{1} << 20, "big");
  CHECK_THROWS_AS((void)world.trace().flops(0), std::overflow_error);
}

TEST_CASE("limits: tp_divide's message for n = 10^10 lists divisors without visiting all of them") {
  // The old loop visited every d <= n (27 s for 10^10); this one stops at sqrt(n) or 2^20.
  const std::string e = error_of([] { (void)sim::tp_divide(10000000000LL, 3, "vocabulary"); });
  CHECK(contains(e, "vocabulary 10000000000 is not divisible by tp 3; valid tp: 1, 2, 4, 5, 8, 10,"));
  CHECK(contains(e, "(tp up to 1048576 listed)"));
  CHECK(e.size() < 1000);
  // Small sizes keep the exact, complete list the chapters quote.
  CHECK(sim::valid_tp_list(10) == "1, 2, 5, 10");
  CHECK(sim::valid_tp_list(192) == "1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 192");
  CHECK(sim::valid_tp_list(1) == "1");
  // A prime above 2^40: only 1 is listed below the cap, and the message says the list is partial.
  CHECK(sim::valid_tp_list(1099511627791LL) == "1 (tp up to 1048576 listed)");
  // 720720 has 240 divisors: the first 64 are listed, the rest counted.
  CHECK(contains(sim::valid_tp_list(720720), "... (176 more)"));
}

TEST_CASE("limits: the memory budget names the estimate and the limit, and saturates instead of overflowing") {
  sim::MemoryEstimate need;
  need.add("W (out, in)", {16384, 16384}, 2);
  need.add("y gathered (T, out)", {130, 4096, 16384});
  CHECK(need.total() == std::int64_t{2} * 16384 * 16384 * 4 + std::int64_t{130} * 4096 * 16384 * 4);
  {
    MemoryLimitEnv limit("2G");
    const std::string e = error_of([&] { sim::require_memory(need, "this configuration"); });
    CHECK(contains(e, "this configuration needs about 34.5 GiB"));
    CHECK(contains(e, "y gathered (T, out): 32.5 GiB"));
    CHECK(contains(e, "the limit is 2.0 GiB (2147483648 bytes) (ATP_MEMORY_LIMIT=2G)"));
  }
  {
    MemoryLimitEnv limit("64G");
    sim::require_memory(need, "this configuration");  // fits: no throw
  }
  sim::MemoryEstimate absurd;
  absurd.add("everything", {std::int64_t{1} << 40, std::int64_t{1} << 40});
  CHECK(absurd.total() == std::numeric_limits<std::int64_t>::max());
  CHECK(contains(absurd.largest_terms(), "more than 8 EiB"));
  CHECK(sim::parse_memory_size("512M") == std::int64_t{512} << 20);
  CHECK(sim::parse_memory_size("1073741824") == std::int64_t{1} << 30);
  for (const char* bad : {"", "abc", "-1G", "0", "1.5G", "1g", "1GB", "99999999999T"}) {
    INFO("text '" << bad << "'");
    CHECK(contains(error_of([&] { (void)sim::parse_memory_size(bad); }), std::string("ATP_MEMORY_LIMIT='") + bad));
  }
  MemoryLimitEnv limit("lots");
  CHECK(contains(error_of([] { (void)sim::memory_limit(); }), "ATP_MEMORY_LIMIT='lots'"));
}

TEST_CASE("limits: strict JSON numbers: no float, boolean or out-of-range value becomes an integer") {
  CHECK(sim::json_to_int(json(3), 0, 10, "rank") == 3);
  CHECK(sim::json_to_int(json(-1), -1, 10, "rank") == -1);
  for (const json& bad : {json(1e300), json(2.9), json(2.0), json(true), json("3"), json(nullptr), json(11),
                          json(std::numeric_limits<std::uint64_t>::max())}) {
    INFO(bad.dump());
    const std::string e = error_of([&] { (void)sim::json_to_int(bad, -1, 10, "rank"); });
    CHECK(contains(e, "rank must be an integer in [-1, 10], got"));
  }
  CHECK(sim::json_to_u64(json(std::numeric_limits<std::uint64_t>::max()), "seed") ==
        std::numeric_limits<std::uint64_t>::max());
  CHECK(contains(error_of([] { (void)sim::json_to_u64(json(-1), "seed"); }), "seed must be an integer"));
  CHECK(contains(error_of([] { (void)sim::json_to_u64(json(1e19), "seed"); }), "seed must be an integer"));
}

TEST_CASE("limits: strict JSON parsing refuses duplicate keys, deep nesting, a BOM and bad text") {
  CHECK(sim::parse_json_strict(R"({"a": [1, {"b": 2}]})", "t")["a"][1]["b"] == 2);
  CHECK(contains(error_of([] { (void)sim::parse_json_strict(R"({"a": 1, "a": 2})", "t"); }),
                 "the key \"a\" appears twice"));
  CHECK(contains(error_of([] { (void)sim::parse_json_strict(R"([{"x": 1, "y": {"x": 2, "x": 3}}])", "t"); }),
                 "\"x\" appears twice"));
  // 64 levels are fine, 65 are not; 200,000 do not overflow the stack.
  const auto nested = [](int depth) { return std::string(depth, '[') + std::string(depth, ']'); };
  CHECK_NOTHROW((void)sim::parse_json_strict(nested(64), "t"));
  CHECK(contains(error_of([&] { (void)sim::parse_json_strict(nested(65), "t"); }), "deeper than 64 levels"));
  CHECK(contains(error_of([&] { (void)sim::parse_json_strict(nested(200000), "t"); }), "deeper than 64 levels"));
  CHECK(contains(error_of([] { (void)sim::parse_json_strict("{\"a\": NaN}", "t"); }), "not valid JSON"));
  CHECK(contains(error_of([] { (void)sim::parse_json_strict("{\"a\": 1e400}", "t"); }), "not valid JSON"));
  CHECK(contains(error_of([] { (void)sim::parse_json_strict("{} x", "t"); }), "not valid JSON"));
  CHECK(contains(error_of([] { (void)sim::parse_json_strict("\xEF\xBB\xBF{}", "t"); }), "byte order mark"));
}
