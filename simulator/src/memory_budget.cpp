/// \file memory_budget.cpp
/// \brief Memory estimates with saturating arithmetic, the limit, and the refusal.
#include "atp/sim/memory_budget.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <stdexcept>
#include <string>

namespace atp::sim {

namespace {

constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();

std::int64_t saturating_mul(std::int64_t a, std::int64_t b) {
  std::int64_t r = 0;
  return __builtin_mul_overflow(a, b, &r) ? kMax : r;
}

std::int64_t saturating_add(std::int64_t a, std::int64_t b) {
  std::int64_t r = 0;
  return __builtin_add_overflow(a, b, &r) ? kMax : r;
}

// MemAvailable from /proc/meminfo, in bytes, or -1.
std::int64_t mem_available() {
  std::ifstream f("/proc/meminfo");
  std::string key;
  std::int64_t kib = 0;
  std::string unit;
  while (f >> key >> kib >> unit)
    if (key == "MemAvailable:") return saturating_mul(kib, 1024);
  return -1;
}

}  // namespace

MemoryEstimate& MemoryEstimate::add(const std::string& what, std::initializer_list<std::int64_t> dims,
                                    std::int64_t copies, std::int64_t element_bytes) {
  if (copies < 0 || element_bytes < 0)
    throw std::invalid_argument("MemoryEstimate '" + what + "': copies " + std::to_string(copies) +
                                " and element size " + std::to_string(element_bytes) + " must be >= 0");
  std::int64_t bytes = saturating_mul(copies, element_bytes);
  for (const std::int64_t d : dims) {
    if (d < 0) throw std::invalid_argument("MemoryEstimate '" + what + "': dimension " + std::to_string(d) + " < 0");
    bytes = saturating_mul(bytes, d);
  }
  return add_bytes(what, bytes);
}

MemoryEstimate& MemoryEstimate::add_bytes(const std::string& what, std::int64_t bytes) {
  if (bytes < 0) throw std::invalid_argument("MemoryEstimate '" + what + "': " + std::to_string(bytes) + " bytes < 0");
  terms_.push_back({what, bytes});
  total_ = saturating_add(total_, bytes);
  return *this;
}

std::string MemoryEstimate::largest_terms(std::size_t count) const {
  std::vector<MemoryTerm> sorted = terms_;
  std::stable_sort(sorted.begin(), sorted.end(), [](const MemoryTerm& a, const MemoryTerm& b) { return a.bytes > b.bytes; });
  std::string out;
  for (std::size_t i = 0; i < sorted.size() && i < count; ++i) {
    out += (i ? "; " : "") + sorted[i].what + ": ";
    out += sorted[i].bytes == kMax ? std::string("more than 8 EiB") : format_bytes(sorted[i].bytes);
  }
  return out;
}

std::string format_bytes(std::int64_t bytes) {
  if (bytes == kMax) return "more than 8 EiB";
  const char* units[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024.0 && u < 6) {
    v /= 1024.0;
    ++u;
  }
  char buf[96];
  if (u == 0)
    std::snprintf(buf, sizeof buf, "%lld bytes", static_cast<long long>(bytes));
  else
    std::snprintf(buf, sizeof buf, "%.1f %s (%lld bytes)", v, units[u], static_cast<long long>(bytes));
  return buf;
}

std::int64_t parse_memory_size(const std::string& text) {
  const auto refuse = [&] {
    throw std::invalid_argument("ATP_MEMORY_LIMIT='" + text +
                                "' is not a memory size; valid: a positive decimal number of bytes, optionally "
                                "followed by K, M, G or T (powers of 1024), e.g. 512M or 8G");
  };
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0 || digits > 18) refuse();
  std::int64_t value = std::stoll(text.substr(0, digits));
  const std::string suffix = text.substr(digits);
  std::int64_t scale = 1;
  if (suffix == "K") scale = std::int64_t{1} << 10;
  else if (suffix == "M") scale = std::int64_t{1} << 20;
  else if (suffix == "G") scale = std::int64_t{1} << 30;
  else if (suffix == "T") scale = std::int64_t{1} << 40;
  else if (!suffix.empty()) refuse();
  std::int64_t bytes = 0;
  if (value <= 0 || __builtin_mul_overflow(value, scale, &bytes)) refuse();
  return bytes;
}

MemoryLimit memory_limit() {
  if (const char* env = std::getenv("ATP_MEMORY_LIMIT"); env != nullptr) {
    return {parse_memory_size(env), std::string("ATP_MEMORY_LIMIT=") + env};
  }
  if (const std::int64_t avail = mem_available(); avail > 0) return {avail, "MemAvailable in /proc/meminfo"};
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  const long page = ::sysconf(_SC_PAGE_SIZE);
  if (pages > 0 && page > 0) return {saturating_mul(pages, page), "physical memory"};
  return {kMax, "no limit known"};
}

void require_memory(const MemoryEstimate& estimate, const std::string& what) {
  const MemoryLimit limit = memory_limit();
  if (estimate.total() <= limit.bytes) return;
  throw std::invalid_argument(what + " needs about " + format_bytes(estimate.total()) + " of memory (largest: " +
                              estimate.largest_terms() + ") but the limit is " + format_bytes(limit.bytes) + " (" +
                              limit.source +
                              "); choose smaller sizes, or set ATP_MEMORY_LIMIT=<bytes> (e.g. 64G) to allow more");
}

}  // namespace atp::sim
