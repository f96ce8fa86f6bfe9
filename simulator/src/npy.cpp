/// \file npy.cpp
/// \brief NumPy `.npy` format 1.0 writer and strict reader (see npy.hpp for what is left out).
///
/// The writer copies NumPy 1.24's `_write_array_header` + `_wrap_header`
/// rather than a minimal valid header, so a dump is byte-identical to
/// `numpy.save` and a test can compare the two files whole.
#include "atp/sim/npy.hpp"

#include "atp/sim/file_write.hpp"
#include "atp/sim/memory_budget.hpp"

#include <algorithm>
#include <bit>
#include <cctype>
#include <cstring>
#include <fstream>
#include <limits>
#include <stdexcept>
#include <string_view>
#include <utility>

namespace atp::sim {

// The payload is the in-memory bytes; NumPy's '<' means little-endian.
static_assert(std::endian::native == std::endian::little,
              "atp .npy I/O writes host bytes as '<f4'/'<i8' and needs a little-endian host");
static_assert(sizeof(float) == 4 && std::numeric_limits<float>::is_iec559, "float must be IEEE binary32");

namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr std::size_t kMagicLen = 6;
constexpr std::size_t kAlign = 64;             // numpy.lib.format.ARRAY_ALIGN
constexpr std::size_t kGrowthAxisDigits = 21;  // numpy.lib.format.GROWTH_AXIS_MAX_DIGITS
// Headers NumPy writes are < 200 bytes; 1 MiB bounds what a hostile version-2.0 header can make us read.
constexpr std::size_t kMaxHeaderBytes = std::size_t{1} << 20;
// Tensors above this size are checked against the memory budget before they are allocated.
constexpr std::int64_t kBudgetCheckBytes = std::int64_t{64} << 20;

[[noreturn]] void bad(const std::string& name, const std::string& what) {
  throw std::invalid_argument("npy file '" + name + "': " + what);
}

// Python's repr of a shape tuple: "(3, 5)", "(7,)", "()".
std::string shape_repr(const std::vector<std::int64_t>& shape) {
  std::string s = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) s += ", ";
    s += std::to_string(shape[i]);
  }
  if (shape.size() == 1) s += ",";
  return s + ")";
}

// Magic, version 1.0, header length, dict, spaces, '\n' -- as numpy.save writes it.
std::string header_1_0(std::string_view descr, const std::vector<std::int64_t>& shape) {
  std::string dict = "{'descr': '" + std::string(descr) + "', 'fortran_order': False, 'shape': " +
                     shape_repr(shape) + ", }";
  // Room to grow axis 0 in place (NumPy >= 1.23 adds it; we match the bytes).
  if (!shape.empty()) dict.append(kGrowthAxisDigits - std::to_string(shape[0]).size(), ' ');
  const std::size_t hlen = dict.size() + 1;  // + the final '\n'
  const std::size_t padlen = kAlign - ((kMagicLen + 2 + 2 + hlen) % kAlign);  // 1..64, never 0, like NumPy
  const std::size_t total = hlen + padlen;
  if (total > 0xFFFF) throw std::invalid_argument("npy header of " + std::to_string(total) + " bytes does not fit format 1.0");
  std::string out(kMagic, kMagicLen);
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(total & 0xFF);
  out += static_cast<char>((total >> 8) & 0xFF);
  out += dict;
  out.append(padlen, ' ');
  out += '\n';
  return out;
}

// The payload of a .npy file: the whole file, or a buffer (fuzzers, tests).
// Reading goes header first, so a file's size is checked against the header
// before its data is touched (a huge or endless file is never read whole).
class Source {
 public:
  virtual ~Source() = default;
  virtual std::int64_t size() const = 0;
  // Copies exactly n bytes at `offset` to `dst`; the caller checked the range.
  virtual void read(std::int64_t offset, char* dst, std::size_t n) = 0;
  const std::string& name() const { return name_; }

 protected:
  explicit Source(std::string name) : name_(std::move(name)) {}

 private:
  std::string name_;
};

class BytesSource final : public Source {
 public:
  BytesSource(std::string_view bytes, std::string name) : Source(std::move(name)), bytes_(bytes) {}
  std::int64_t size() const override { return static_cast<std::int64_t>(bytes_.size()); }
  void read(std::int64_t offset, char* dst, std::size_t n) override {
    if (n > 0) std::memcpy(dst, bytes_.data() + offset, n);
  }

 private:
  std::string_view bytes_;
};

class FileSource final : public Source {
 public:
  explicit FileSource(const std::filesystem::path& path) : Source(path.string()) {
    std::error_code ec;
    const auto status = std::filesystem::status(path, ec);
    if (ec || !std::filesystem::exists(status))
      throw std::runtime_error("npy file '" + path.string() + "': cannot open for reading" +
                               (ec ? ": " + ec.message() : std::string(": no such file")));
    // /dev/zero, a FIFO, a directory: no size to check. Refuse rather than read forever.
    if (!std::filesystem::is_regular_file(status))
      throw std::invalid_argument("npy file '" + path.string() + "' is not a regular file");
    size_ = static_cast<std::int64_t>(std::filesystem::file_size(path, ec));
    if (ec) throw std::runtime_error("npy file '" + path.string() + "': " + ec.message());
    f_.open(path, std::ios::binary);
    if (!f_) throw std::runtime_error("npy file '" + path.string() + "': cannot open for reading");
  }
  std::int64_t size() const override { return size_; }
  void read(std::int64_t offset, char* dst, std::size_t n) override {
    f_.seekg(offset);
    f_.read(dst, static_cast<std::streamsize>(n));
    if (!f_ || f_.gcount() != static_cast<std::streamsize>(n))
      throw std::runtime_error("npy file '" + name() + "': read failed at byte " + std::to_string(offset) +
                               " (the file changed while being read?)");
  }

 private:
  std::ifstream f_;
  std::int64_t size_ = 0;
};

// A tiny parser for the one Python literal NumPy writes: a dict of
// 'descr' (str), 'fortran_order' (bool) and 'shape' (tuple of ints), each key
// exactly once. notebooks/atp_dump.py implements the same grammar.
class DictParser {
 public:
  DictParser(const std::string& name, std::string_view text) : name_(name), s_(text) {}

  void parse(NpyHeader& h) {
    bool seen_descr = false, seen_order = false, seen_shape = false;
    expect('{');
    while (true) {
      skip_ws();
      if (peek() == '}') break;
      const std::string key = quoted();
      expect(':');
      bool* seen = key == "descr" ? &seen_descr : key == "fortran_order" ? &seen_order : key == "shape" ? &seen_shape : nullptr;
      if (seen == nullptr)
        bad(name_, "unexpected key '" + key.substr(0, 40) + "' in header (valid: descr, fortran_order, shape)");
      if (*seen) bad(name_, "header names the key '" + key + "' twice");
      *seen = true;
      if (key == "descr") h.descr = quoted();
      else if (key == "fortran_order") h.fortran_order = boolean();
      else h.shape = tuple();
      skip_ws();
      if (peek() == ',') ++i_;
      else if (peek() != '}') bad(name_, "expected ',' or '}' in header at byte " + std::to_string(i_));
    }
    ++i_;
    if (!seen_descr || !seen_order || !seen_shape)
      bad(name_, "header lacks one of the keys 'descr', 'fortran_order', 'shape'");
    skip_ws();
    if (i_ != s_.size()) bad(name_, "unexpected text after the header dict");
  }

 private:
  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  void skip_ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\t')) ++i_;
  }
  void expect(char c) {
    skip_ws();
    if (i_ >= s_.size() || peek() != c)
      bad(name_, std::string("expected '") + c + "' in header at byte " + std::to_string(i_));
    ++i_;
  }
  std::string quoted() {
    skip_ws();
    const char q = peek();
    if (i_ >= s_.size() || (q != '\'' && q != '"'))
      bad(name_, "expected a quoted string in header at byte " + std::to_string(i_));
    const std::size_t end = s_.find(q, i_ + 1);
    if (end == std::string_view::npos) bad(name_, "unterminated string in header");
    std::string out(s_.substr(i_ + 1, end - i_ - 1));
    i_ = end + 1;
    return out;
  }
  bool boolean() {
    skip_ws();
    if (s_.substr(i_, 4) == "True") { i_ += 4; return true; }
    if (s_.substr(i_, 5) == "False") { i_ += 5; return false; }
    bad(name_, "fortran_order must be True or False");
  }
  std::vector<std::int64_t> tuple() {
    std::vector<std::int64_t> dims;
    expect('(');
    while (true) {
      skip_ws();
      if (peek() == ')') break;
      if (!std::isdigit(static_cast<unsigned char>(peek())))
        bad(name_, "shape must be a tuple of non-negative integers");
      std::int64_t v = 0;
      while (std::isdigit(static_cast<unsigned char>(peek()))) {
        if (v > (std::numeric_limits<std::int64_t>::max() - 9) / 10) bad(name_, "shape dimension too large");
        v = v * 10 + (peek() - '0');
        ++i_;
      }
      dims.push_back(v);
      skip_ws();
      if (peek() == ',') ++i_;
      else if (peek() != ')') bad(name_, "expected ',' or ')' in shape");
    }
    ++i_;
    return dims;
  }

  const std::string& name_;
  std::string_view s_;
  std::size_t i_ = 0;
};

NpyHeader parse_header(Source& src) {
  const std::string& name = src.name();
  const std::int64_t size = src.size();
  char prefix_bytes[12] = {};
  const auto first = static_cast<std::size_t>(std::min<std::int64_t>(size, 12));
  src.read(0, prefix_bytes, first);
  if (first < kMagicLen + 2 || std::memcmp(prefix_bytes, kMagic, kMagicLen) != 0)
    bad(name, "not a .npy file (missing the magic \"\\x93NUMPY\")");
  NpyHeader h;
  const auto major = static_cast<unsigned char>(prefix_bytes[6]);
  const auto minor = static_cast<unsigned char>(prefix_bytes[7]);
  if ((major != 1 && major != 2) || minor != 0)
    bad(name, "format version " + std::to_string(major) + "." + std::to_string(minor) +
                  " is not supported (valid: 1.0, 2.0)");
  h.major_version = major;
  const std::size_t len_bytes = major == 1 ? 2 : 4;
  const std::size_t prefix = kMagicLen + 2 + len_bytes;
  if (first < prefix) bad(name, "truncated before the header length");
  std::size_t hlen = 0;
  for (std::size_t k = 0; k < len_bytes; ++k)
    hlen |= static_cast<std::size_t>(static_cast<unsigned char>(prefix_bytes[kMagicLen + 2 + k])) << (8 * k);
  if (hlen > kMaxHeaderBytes)
    bad(name, "header of " + std::to_string(hlen) + " bytes is larger than the limit of " +
                  std::to_string(kMaxHeaderBytes));
  if (size - static_cast<std::int64_t>(prefix) < static_cast<std::int64_t>(hlen))
    bad(name, "truncated header (" + std::to_string(hlen) + " header bytes announced, " +
                  std::to_string(size - static_cast<std::int64_t>(prefix)) + " present)");
  std::string text(hlen, '\0');
  src.read(static_cast<std::int64_t>(prefix), text.data(), hlen);
  if (hlen == 0 || text.back() != '\n') bad(name, "header does not end with a newline");
  DictParser(name, text).parse(h);
  h.data_offset = static_cast<std::int64_t>(prefix + hlen);
  return h;
}

// Checks dtype/order/rank and that exactly count*elem bytes follow the header,
// before any data is read; returns the element count.
std::int64_t check_payload(const Source& src, const NpyHeader& h, std::string_view want_descr, std::size_t elem,
                           bool allow_2d) {
  const std::string& name = src.name();
  if (h.descr != want_descr)
    bad(name, "dtype '" + h.descr.substr(0, 40) + "' is not supported here (valid: '" + std::string(want_descr) + "')");
  if (h.fortran_order) bad(name, "fortran_order is True; only C-order arrays are supported");
  const std::size_t rank = h.shape.size();
  if (rank != 1 && !(allow_2d && rank == 2))
    bad(name, "shape " + shape_repr(h.shape) + " has rank " + std::to_string(rank) +
                  (allow_2d ? " (valid: rank 1 or 2)" : " (valid: rank 1)"));
  std::int64_t count = 1;
  const std::int64_t limit = std::numeric_limits<std::int64_t>::max() / static_cast<std::int64_t>(elem);
  for (const auto d : h.shape) {
    if (d != 0 && count > limit / d) bad(name, "shape " + shape_repr(h.shape) + " is too large");
    count *= d;
  }
  const std::int64_t have = src.size() - h.data_offset;
  const std::int64_t want = count * static_cast<std::int64_t>(elem);
  if (have < want)
    bad(name, "truncated data: shape " + shape_repr(h.shape) + " needs " + std::to_string(want) +
                  " bytes, file has " + std::to_string(have));
  if (have > want)
    bad(name, std::to_string(have - want) + " unexpected bytes after the data of shape " + shape_repr(h.shape));
  // A genuine tensor can still be larger than this machine's memory: refuse it by the budget, not by bad_alloc.
  if (want > kBudgetCheckBytes) {
    MemoryEstimate need;
    need.add_bytes("the tensor " + shape_repr(h.shape), want);
    require_memory(need, "npy file '" + name + "'");
  }
  return count;
}

Matrix read_matrix(Source& src, NpyHeader* header_out) {
  const NpyHeader h = parse_header(src);
  const std::int64_t count = check_payload(src, h, "<f4", sizeof(float), true);
  const Eigen::Index rows = h.shape.size() == 2 ? h.shape[0] : 1;
  const Eigen::Index cols = h.shape.size() == 2 ? h.shape[1] : h.shape[0];
  Matrix m(rows, cols);
  src.read(h.data_offset, reinterpret_cast<char*>(m.data()), static_cast<std::size_t>(count) * sizeof(float));
  if (header_out != nullptr) *header_out = h;
  return m;
}

std::vector<std::int64_t> read_i64(Source& src) {
  const NpyHeader h = parse_header(src);
  const std::int64_t count = check_payload(src, h, "<i8", sizeof(std::int64_t), false);
  std::vector<std::int64_t> v(static_cast<std::size_t>(count));
  src.read(h.data_offset, reinterpret_cast<char*>(v.data()), static_cast<std::size_t>(count) * sizeof(std::int64_t));
  return v;
}

std::string_view as_chars(const void* data, std::size_t bytes) {
  return {static_cast<const char*>(data), bytes};
}

}  // namespace

void write_npy(const std::filesystem::path& path, const Matrix& m) {
  const std::string header = header_1_0("<f4", {m.rows(), m.cols()});
  write_file_replacing(path, {header, as_chars(m.data(), static_cast<std::size_t>(m.size()) * sizeof(float))},
                       "npy file");
}

void write_npy_i64(const std::filesystem::path& path, const std::vector<std::int64_t>& v) {
  const std::string header = header_1_0("<i8", {static_cast<std::int64_t>(v.size())});
  write_file_replacing(path, {header, as_chars(v.data(), v.size() * sizeof(std::int64_t))}, "npy file");
}

NpyHeader read_npy_header(const std::filesystem::path& path) {
  FileSource src(path);
  return parse_header(src);
}

Matrix read_npy(const std::filesystem::path& path, NpyHeader* header) {
  FileSource src(path);
  return read_matrix(src, header);
}

std::vector<std::int64_t> read_npy_i64(const std::filesystem::path& path) {
  FileSource src(path);
  return read_i64(src);
}

NpyHeader read_npy_header_bytes(std::string_view bytes, const std::string& name) {
  BytesSource src(bytes, name);
  return parse_header(src);
}

Matrix read_npy_bytes(std::string_view bytes, const std::string& name, NpyHeader* header) {
  BytesSource src(bytes, name);
  return read_matrix(src, header);
}

std::vector<std::int64_t> read_npy_i64_bytes(std::string_view bytes, const std::string& name) {
  BytesSource src(bytes, name);
  return read_i64(src);
}

}  // namespace atp::sim
