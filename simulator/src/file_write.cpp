/// \file file_write.cpp
/// \brief write_file_replacing(): exclusive, no-follow creation, checked
///        writes and close, then an atomic rename (see file_write.hpp).
#include "atp/sim/file_write.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace atp::sim {

namespace {

std::string name_of(std::string_view what, const std::filesystem::path& path) {
  return std::string(what) + " '" + path.string() + "'";
}

[[noreturn]] void fail(std::string_view what, const std::filesystem::path& path, const std::string& step, int err) {
  throw std::runtime_error(name_of(what, path) + ": " + step + ": " + std::strerror(err));
}

// Refuses a target that is a link or not a regular file; a missing one is fine.
void check_target(const std::filesystem::path& path, std::string_view what) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return;
    fail(what, path, "cannot inspect", errno);
  }
  if (S_ISLNK(st.st_mode))
    throw std::invalid_argument(name_of(what, path) +
                                " is a symbolic link; refusing to write through it (remove the link or write "
                                "somewhere else)");
  if (!S_ISREG(st.st_mode))
    throw std::invalid_argument(name_of(what, path) + " exists and is not a regular file; refusing to replace it");
}

// Creates a fresh sibling temporary: never an existing file, never through a link.
int create_temporary(const std::filesystem::path& path, std::string_view what, std::filesystem::path& tmp) {
  static std::atomic<unsigned> counter{0};
  for (int attempt = 0; attempt < 100; ++attempt) {
    tmp = path;
    tmp += ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd >= 0) return fd;
    if (errno != EEXIST) fail(what, tmp, "cannot create", errno);
  }
  fail(what, tmp, "cannot create a temporary beside it", EEXIST);
}

bool write_all(int fd, std::string_view bytes) {
  const char* p = bytes.data();
  std::size_t left = bytes.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace

void write_file_replacing(const std::filesystem::path& path, std::initializer_list<std::string_view> pieces,
                          std::string_view what) {
  check_target(path, what);
  std::filesystem::path tmp;
  const int fd = create_temporary(path, what, tmp);
  for (const std::string_view piece : pieces) {
    if (!write_all(fd, piece)) {
      const int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      fail(what, path, "write failed", err);
    }
  }
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    fail(what, path, "close failed", err);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    fail(what, path, "cannot rename the finished temporary over it", err);
  }
}

}  // namespace atp::sim
