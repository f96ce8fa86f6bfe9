/// \file test_matmul_threads.cpp
/// \brief The CPU matmul gives the same bits on 1, 2, 3 and 8 threads, and
/// its two environment variables (ATP_THREADS, ATP_MATMUL_KERNEL) refuse
/// bad values with a message naming them.
///
/// Each product is compared, as uint32 bit patterns, with a naive fma loop
/// written here and with the one-thread result, for every kernel the
/// machine supports. The shapes are small (CI has two cores) but each is
/// checked to really split into the requested number of threads, with
/// uneven shares and edge tiles. Left out: speed (bench/bench_matmul.cpp).
#include "atp/matmul_cpu.hpp"
#include "atp/rng.hpp"
#include "atp/ulp.hpp"
#include "naive_matmul.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#if defined(__linux__)
#include <sched.h>
#endif

namespace {

using atp::test::naive_nt;

using atp::Matrix;
using atp::detail::MatmulKernel;
using atp::detail::MatmulOptions;
using Index = Eigen::Index;

// Number of elements whose bit patterns differ (shapes must match).
Index differing(const Matrix& a, const Matrix& b) {
  const atp::BitwiseReport r = atp::compare_bitwise(a, b);
  REQUIRE(r.shape_mismatch.empty());
  return static_cast<Index>(r.differing);
}

// Sets (or unsets, with nullopt) an environment variable for one scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, std::optional<std::string> value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value)
      ::setenv(name, value->c_str(), 1);
    else
      ::unsetenv(name);
  }
  ~ScopedEnv() {
    if (old_)
      ::setenv(name_, old_->c_str(), 1);
    else
      ::unsetenv(name_);
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// The message of the std::invalid_argument f() throws, or "" if none.
template <class F>
std::string invalid_argument_message(F f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

struct Shape {
  Index M, N, K;
};

// Wide shapes split the columns, tall ones the rows; every one has at least
// 8 register tiles along the split side of every kernel (6 x 16 or 6 x 64),
// and none divides evenly, so shares differ and the last has an edge tile.
const Shape kShapes[] = {{37, 600, 130}, {130, 20, 300}, {9, 700, 33}, {200, 45, 7}};

}  // namespace

TEST_CASE("1, 2, 3 and 8 threads give the naive loop's bits, every kernel") {
  std::uint64_t stream = 0;
  for (const Shape& s : kShapes) {
    const Matrix A = atp::random_matrix(s.M, s.K, 21, stream++);
    const Matrix B = atp::random_matrix(s.N, s.K, 21, stream++);
    const Matrix Bt = B.transpose();  // the (K, N) layout of matmul_nn
    const Matrix want = naive_nt(A, B);
    for (MatmulKernel k : atp::detail::matmul_kernels_supported()) {
      const Matrix one = atp::detail::matmul_nt(A, B, {k, 1});
      for (int threads : {1, 2, 3, 8}) {
        const MatmulOptions opt{k, threads};
        INFO(atp::detail::matmul_kernel_name(k) << ", " << threads << " threads, M=" << s.M
                                                << " N=" << s.N << " K=" << s.K);
        // The split really happens (otherwise this case would prove nothing).
        CHECK(atp::detail::matmul_threads_used(s.M, s.N, s.K, opt) == threads);
        const Matrix nt = atp::detail::matmul_nt(A, B, opt);
        CHECK(differing(nt, want) == 0);
        CHECK(differing(nt, one) == 0);
        CHECK(differing(atp::detail::matmul_nn(A, Bt, opt), want) == 0);
      }
    }
  }
}

TEST_CASE("more threads than tiles use one thread per tile, with the same bits") {
  const Matrix A = atp::random_matrix(3, 40, 22, 0);
  const Matrix B = atp::random_matrix(5, 40, 22, 1);
  const MatmulOptions opt{MatmulKernel::best, 64};
  CHECK(atp::detail::matmul_threads_used(3, 5, 40, opt) == 1);
  CHECK(atp::detail::matmul_threads_used(60, 5, 40, {MatmulKernel::portable, 64}) == 10);
  CHECK(differing(atp::detail::matmul_nt(A, B, opt), naive_nt(A, B)) == 0);
}

TEST_CASE("by default, ATP_THREADS or one thread per core, and one for small products") {
  {
    ScopedEnv env("ATP_THREADS", std::nullopt);
    int cores = static_cast<int>(std::thread::hardware_concurrency());
#if defined(__linux__)
    cpu_set_t set;
    REQUIRE(sched_getaffinity(0, sizeof set, &set) == 0);
    cores = CPU_COUNT(&set);
#endif
    CHECK(atp::detail::matmul_threads() == cores);
  }
  ScopedEnv env("ATP_THREADS", "3");
  CHECK(atp::detail::matmul_threads() == 3);
  CHECK(atp::detail::matmul_threads_used(512, 512, 512, {}) == 3);
  CHECK(atp::detail::matmul_threads_used(8, 8, 8, {}) == 1);        // not worth a thread
  CHECK(atp::detail::matmul_threads_used(150, 300, 256, {}) == 1);  // 11.5 million fmas: nor this
  CHECK(atp::detail::matmul_threads_used(256, 512, 512, {}) == 2);  // 2^26 fmas: worth 2
  // The default path on 2 threads against the explicit single thread.
  const Matrix A = atp::random_matrix(256, 512, 23, 0);
  const Matrix B = atp::random_matrix(512, 512, 23, 1);
  CHECK(differing(atp::matmul_nt(A, B), atp::detail::matmul_nt(A, B, {MatmulKernel::best, 1})) == 0);
}

TEST_CASE("a bad ATP_THREADS is refused with a message naming it and the valid range") {
  const Matrix A = atp::random_matrix(2, 3, 24, 0);
  for (const char* bad : {"0", "-1", "abc", "2x", " 2", "2 ", "1025", "99999999999", "+4", "1e3"}) {
    ScopedEnv env("ATP_THREADS", bad);
    const std::string msg = invalid_argument_message([&] { (void)atp::matmul_nt(A, A); });
    INFO("ATP_THREADS='" << bad << "': " << msg);
    CHECK(msg.find(std::string("ATP_THREADS='") + bad + "'") != std::string::npos);
    CHECK(msg.find("1 to 1024") != std::string::npos);
  }
  ScopedEnv empty("ATP_THREADS", "");  // empty means unset
  CHECK(atp::detail::matmul_threads() >= 1);
}

TEST_CASE("ATP_MATMUL_KERNEL forces a kernel, and a bad one is refused naming it") {
  const Matrix A = atp::random_matrix(20, 30, 25, 0);
  const Matrix B = atp::random_matrix(40, 30, 25, 1);
  const Matrix want = naive_nt(A, B);
  for (MatmulKernel k : atp::detail::matmul_kernels_supported()) {
    ScopedEnv env("ATP_MATMUL_KERNEL", atp::detail::matmul_kernel_name(k));
    CHECK(atp::detail::matmul_kernel_in_use() == k);
    CHECK(differing(atp::matmul_nt(A, B), want) == 0);
  }
  for (const char* bad : {"avx9", "AVX2", "best", " portable"}) {
    ScopedEnv env("ATP_MATMUL_KERNEL", bad);
    const std::string msg = invalid_argument_message([&] { (void)atp::matmul_nt(A, B); });
    INFO(msg);
    CHECK(msg.find(std::string("ATP_MATMUL_KERNEL='") + bad + "'") != std::string::npos);
    CHECK(msg.find("portable, avx2 or avx512") != std::string::npos);
  }
  // A kernel this CPU lacks is refused too, listing the ones it has.
  const std::vector<MatmulKernel> have = atp::detail::matmul_kernels_supported();
  for (MatmulKernel k : {MatmulKernel::avx2, MatmulKernel::avx512}) {
    if (std::find(have.begin(), have.end(), k) != have.end()) continue;
    ScopedEnv env("ATP_MATMUL_KERNEL", atp::detail::matmul_kernel_name(k));
    const std::string msg = invalid_argument_message([&] { (void)atp::matmul_nt(A, B); });
    CHECK(msg.find("not available") != std::string::npos);
    CHECK(invalid_argument_message([&] { (void)atp::detail::matmul_nt(A, B, {k, 1}); }) != "");
  }
}

TEST_CASE("a negative thread count in MatmulOptions is refused") {
  const Matrix A = atp::random_matrix(2, 3, 26, 0);
  const std::string msg =
      invalid_argument_message([&] { (void)atp::detail::matmul_nt(A, A, {MatmulKernel::best, -2}); });
  CHECK(msg.find("-2") != std::string::npos);
}
