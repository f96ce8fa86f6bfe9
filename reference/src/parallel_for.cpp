/// \file parallel_for.cpp
/// \brief parallel_for: std::thread per task, exceptions carried back.
#include "parallel_for.hpp"

#include <exception>
#include <system_error>
#include <thread>
#include <vector>

namespace atp {

void parallel_for(int n, const std::function<void(int)>& body) {
  if (n <= 0) return;
  if (n == 1) {
    body(0);
    return;
  }
  std::vector<std::exception_ptr> errors(static_cast<std::size_t>(n));
  const auto run = [&](int i) {
    try {
      body(i);
    } catch (...) {
      errors[static_cast<std::size_t>(i)] = std::current_exception();
    }
  };
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(n - 1));
  for (int i = 1; i < n; ++i) {
    try {
      threads.emplace_back(run, i);
    } catch (const std::system_error&) {
      run(i);  // no thread to be had: same work, same bits, just later
    }
  }
  run(0);
  for (std::thread& t : threads) t.join();
  for (const std::exception_ptr& e : errors)
    if (e) std::rethrow_exception(e);
}

}  // namespace atp
