/// \file mapped_file.hpp
/// \brief MappedFile: a read-only memory map of a whole file (POSIX mmap).
///
/// A checkpoint is mapped, not read: the operating system brings a page into
/// memory only when someone touches it, so a rank that copies out its own
/// shard reads (about) its own bytes and no others. The mapping is private and
/// read-only; it lives until the MappedFile is destroyed.
///
/// Leaves out: Windows, files that change while mapped (a truncated file
/// would fault), huge pages, prefetch advice.
#pragma once

#include <cstddef>
#include <filesystem>
#include <span>

namespace atp::sim {

/// A whole file mapped read-only into memory; move-only.
class MappedFile {
 public:
  /// Maps `path`. \throws std::runtime_error naming the path and the reason
  /// (missing, a directory, unreadable, empty, mmap failed).
  explicit MappedFile(const std::filesystem::path& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;             ///< One owner of the mapping.
  MappedFile& operator=(const MappedFile&) = delete;  ///< One owner of the mapping.
  /// Takes other's mapping; other becomes empty.
  MappedFile(MappedFile&& other) noexcept;
  /// Unmaps this mapping and takes other's.
  MappedFile& operator=(MappedFile&& other) noexcept;

  /// The file's bytes.
  std::span<const std::byte> bytes() const { return {data_, size_}; }
  /// The file's size in bytes.
  std::size_t size() const { return size_; }
  /// The path it was opened from.
  const std::filesystem::path& path() const { return path_; }

 private:
  void unmap() noexcept;
  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
  std::filesystem::path path_;
};

}  // namespace atp::sim
