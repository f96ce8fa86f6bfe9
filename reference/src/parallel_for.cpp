/// \file parallel_for.cpp
/// \brief parallel_for: tasks claimed from a shared counter by the calling
/// thread and n - 1 fresh std::threads; exceptions carried back.
#include "parallel_for.hpp"

#include <atomic>
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
  std::atomic<int> next{0};
  // Every thread, the caller included, takes the next unclaimed task until
  // none is left. A thread that starts late (a busy machine, a sleeping
  // virtual CPU) then finds its share already done by the others instead of
  // making everyone wait for it. Which thread runs a task never changes its
  // result.
  const auto work = [&] {
    for (int i = next++; i < n; i = next++) {
      try {
        body(i);
      } catch (...) {
        errors[static_cast<std::size_t>(i)] = std::current_exception();
      }
    }
  };
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(n - 1));
  for (int i = 1; i < n; ++i) {
    try {
      threads.emplace_back(work);
    } catch (const std::system_error&) {
      break;  // no more threads to be had: the ones we have (and we) do the rest
    }
  }
  work();
  for (std::thread& t : threads) t.join();
  for (const std::exception_ptr& e : errors)
    if (e) std::rethrow_exception(e);
}

}  // namespace atp
