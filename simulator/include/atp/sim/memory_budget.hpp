/// \file memory_budget.hpp
/// \brief Refusing a run that cannot fit before it starts: an estimate of the
///        bytes the requested sizes need, held against a limit.
///
/// The command lines allow sizes (a 4M-token vocabulary, 64 ranks of
/// 4096 x 4096 matrices) whose tensors need far more memory than a machine
/// has. Without a check such a run works for minutes and then dies with a bare
/// `std::bad_alloc`. A chapter instead adds up its largest tensors right after
/// parsing its options:
///
///     sim::MemoryEstimate need;
///     need.add("W and its shards (out, in)", {out, in}, 2);
///     need.add("y on every rank, gathered (T, out)", {tokens, out}, tp);
///     sim::require_memory(need, "chapter 2");   // throws, naming both numbers
///
/// The limit (memory_limit()) is ATP_MEMORY_LIMIT if set (bytes, or with a
/// K/M/G/T suffix for powers of 1024), else the kernel's MemAvailable
/// (/proc/meminfo), else the physical memory. An estimate counts the large
/// tensors a run holds at its peak; it is an estimate, not an allocator, and
/// leaves out small vectors, allocator overhead and the stack.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace atp::sim {

/// One term of an estimate: what it is and its bytes.
struct MemoryTerm {
  std::string what;       ///< e.g. "W (out, in) and its shards"
  std::int64_t bytes = 0; ///< saturated at INT64_MAX
};

/// The bytes a run needs, term by term. Products saturate at INT64_MAX
/// instead of overflowing, so an absurd size reads as "more than 8 EiB".
class MemoryEstimate {
 public:
  /// Adds `copies` tensors of shape `dims` with `element_bytes` each (fp32 by default).
  /// \throws std::invalid_argument for a negative dimension, copy count or element size.
  MemoryEstimate& add(const std::string& what, std::initializer_list<std::int64_t> dims, std::int64_t copies = 1,
                      std::int64_t element_bytes = 4);

  /// Adds `bytes` directly (for a term that is not a tensor, e.g. a list of steps).
  MemoryEstimate& add_bytes(const std::string& what, std::int64_t bytes);

  /// The sum of the terms, saturated at INT64_MAX.
  std::int64_t total() const { return total_; }

  /// The terms in the order added.
  const std::vector<MemoryTerm>& terms() const { return terms_; }

  /// "W (out, in): 1.0 GiB; y (T, out) x 64: 16.0 GiB": the three largest terms.
  std::string largest_terms(std::size_t count = 3) const;

 private:
  std::vector<MemoryTerm> terms_;
  std::int64_t total_ = 0;
};

/// The limit require_memory() holds an estimate against, and where it came from.
struct MemoryLimit {
  std::int64_t bytes = 0;  ///< the limit
  std::string source;      ///< "ATP_MEMORY_LIMIT=2G", "MemAvailable in /proc/meminfo", ...
};

/// ATP_MEMORY_LIMIT if set, else MemAvailable, else physical memory (see the file comment).
/// \throws std::invalid_argument if ATP_MEMORY_LIMIT is set but is not a positive
///         decimal integer with an optional K, M, G or T suffix.
MemoryLimit memory_limit();

/// Parses an ATP_MEMORY_LIMIT value: "1073741824", "512M", "2G" (powers of 1024).
/// \throws std::invalid_argument naming the text and the valid forms.
std::int64_t parse_memory_size(const std::string& text);

/// "3.2 GiB (3435973837 bytes)"; "more than 8 EiB" for a saturated count.
std::string format_bytes(std::int64_t bytes);

/// Does nothing if `estimate` fits memory_limit(); otherwise
/// \throws std::invalid_argument "<what> needs about X (largest: ...) but the
///         limit is Y (source); choose smaller sizes, or set ATP_MEMORY_LIMIT ...".
void require_memory(const MemoryEstimate& estimate, const std::string& what);

}  // namespace atp::sim
