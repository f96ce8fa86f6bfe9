/// \file npy.cpp
/// \brief NumPy `.npy` format 1.0 writer and strict reader (see npy.hpp for what is left out).
///
/// The writer copies NumPy 1.24's `_write_array_header` + `_wrap_header`
/// rather than a minimal valid header, so a dump is byte-identical to
/// `numpy.save` and a test can compare the two files whole.
#include "atp/sim/npy.hpp"

#include <bit>
#include <cctype>
#include <cstring>
#include <fstream>
#include <limits>
#include <stdexcept>
#include <string_view>

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

[[noreturn]] void bad(const std::filesystem::path& path, const std::string& what) {
  throw std::invalid_argument("npy file '" + path.string() + "': " + what);
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

void write_file(const std::filesystem::path& path, const std::string& header, const void* data,
                std::size_t bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) throw std::runtime_error("npy file '" + path.string() + "': cannot open for writing");
  f.write(header.data(), static_cast<std::streamsize>(header.size()));
  if (bytes > 0) f.write(static_cast<const char*>(data), static_cast<std::streamsize>(bytes));
  f.close();
  if (!f) throw std::runtime_error("npy file '" + path.string() + "': write failed");
}

std::string read_all(const std::filesystem::path& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("npy file '" + path.string() + "': cannot open for reading");
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (f.bad()) throw std::runtime_error("npy file '" + path.string() + "': read failed");
  return bytes;
}

// A tiny parser for the one Python literal NumPy writes: a dict of
// 'descr' (str), 'fortran_order' (bool) and 'shape' (tuple of ints).
class DictParser {
 public:
  DictParser(const std::filesystem::path& path, std::string_view text) : path_(path), s_(text) {}

  void parse(NpyHeader& h) {
    bool seen_descr = false, seen_order = false, seen_shape = false;
    expect('{');
    while (true) {
      skip_ws();
      if (peek() == '}') break;
      const std::string key = quoted();
      expect(':');
      if (key == "descr") {
        h.descr = quoted();
        seen_descr = true;
      } else if (key == "fortran_order") {
        h.fortran_order = boolean();
        seen_order = true;
      } else if (key == "shape") {
        h.shape = tuple();
        seen_shape = true;
      } else {
        bad(path_, "unexpected key '" + key + "' in header (valid: descr, fortran_order, shape)");
      }
      skip_ws();
      if (peek() == ',') ++i_;
      else if (peek() != '}') bad(path_, "expected ',' or '}' in header at byte " + std::to_string(i_));
    }
    ++i_;
    if (!seen_descr || !seen_order || !seen_shape)
      bad(path_, "header lacks one of the keys 'descr', 'fortran_order', 'shape'");
    skip_ws();
    if (i_ != s_.size()) bad(path_, "unexpected text after the header dict");
  }

 private:
  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  void skip_ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\t')) ++i_;
  }
  void expect(char c) {
    skip_ws();
    if (peek() != c) bad(path_, std::string("expected '") + c + "' in header at byte " + std::to_string(i_));
    ++i_;
  }
  std::string quoted() {
    skip_ws();
    const char q = peek();
    if (q != '\'' && q != '"') bad(path_, "expected a quoted string in header at byte " + std::to_string(i_));
    const std::size_t end = s_.find(q, i_ + 1);
    if (end == std::string_view::npos) bad(path_, "unterminated string in header");
    std::string out(s_.substr(i_ + 1, end - i_ - 1));
    i_ = end + 1;
    return out;
  }
  bool boolean() {
    skip_ws();
    if (s_.substr(i_, 4) == "True") { i_ += 4; return true; }
    if (s_.substr(i_, 5) == "False") { i_ += 5; return false; }
    bad(path_, "fortran_order must be True or False");
  }
  std::vector<std::int64_t> tuple() {
    std::vector<std::int64_t> dims;
    expect('(');
    while (true) {
      skip_ws();
      if (peek() == ')') break;
      if (!std::isdigit(static_cast<unsigned char>(peek())))
        bad(path_, "shape must be a tuple of non-negative integers");
      std::int64_t v = 0;
      while (std::isdigit(static_cast<unsigned char>(peek()))) {
        if (v > (std::numeric_limits<std::int64_t>::max() - 9) / 10) bad(path_, "shape dimension too large");
        v = v * 10 + (peek() - '0');
        ++i_;
      }
      dims.push_back(v);
      skip_ws();
      if (peek() == ',') ++i_;
      else if (peek() != ')') bad(path_, "expected ',' or ')' in shape");
    }
    ++i_;
    return dims;
  }

  const std::filesystem::path& path_;
  std::string_view s_;
  std::size_t i_ = 0;
};

NpyHeader parse_header(const std::filesystem::path& path, const std::string& bytes) {
  if (bytes.size() < kMagicLen + 2 || std::memcmp(bytes.data(), kMagic, kMagicLen) != 0)
    bad(path, "not a .npy file (missing the magic \"\\x93NUMPY\")");
  NpyHeader h;
  const auto major = static_cast<unsigned char>(bytes[6]);
  const auto minor = static_cast<unsigned char>(bytes[7]);
  if ((major != 1 && major != 2) || minor != 0)
    bad(path, "format version " + std::to_string(major) + "." + std::to_string(minor) +
                  " is not supported (valid: 1.0, 2.0)");
  h.major_version = major;
  const std::size_t len_bytes = major == 1 ? 2 : 4;
  const std::size_t prefix = kMagicLen + 2 + len_bytes;
  if (bytes.size() < prefix) bad(path, "truncated before the header length");
  std::size_t hlen = 0;
  for (std::size_t k = 0; k < len_bytes; ++k)
    hlen |= static_cast<std::size_t>(static_cast<unsigned char>(bytes[kMagicLen + 2 + k])) << (8 * k);
  if (bytes.size() < prefix + hlen)
    bad(path, "truncated header (" + std::to_string(hlen) + " header bytes announced, " +
                  std::to_string(bytes.size() - prefix) + " present)");
  const std::string_view text(bytes.data() + prefix, hlen);
  if (hlen == 0 || text.back() != '\n') bad(path, "header does not end with a newline");
  DictParser(path, text).parse(h);
  h.data_offset = static_cast<std::int64_t>(prefix + hlen);
  return h;
}

// Checks dtype/order/rank and that exactly count*elem bytes follow the header.
std::int64_t check_payload(const std::filesystem::path& path, const std::string& bytes, const NpyHeader& h,
                           std::string_view want_descr, std::size_t elem, bool allow_2d) {
  if (h.descr != want_descr)
    bad(path, "dtype '" + h.descr + "' is not supported here (valid: '" + std::string(want_descr) + "')");
  if (h.fortran_order) bad(path, "fortran_order is True; only C-order arrays are supported");
  const std::size_t rank = h.shape.size();
  if (rank != 1 && !(allow_2d && rank == 2))
    bad(path, "shape " + shape_repr(h.shape) + " has rank " + std::to_string(rank) +
                  (allow_2d ? " (valid: rank 1 or 2)" : " (valid: rank 1)"));
  std::int64_t count = 1;
  const std::int64_t limit = std::numeric_limits<std::int64_t>::max() / static_cast<std::int64_t>(elem);
  for (const auto d : h.shape) {
    if (d != 0 && count > limit / d) bad(path, "shape " + shape_repr(h.shape) + " is too large");
    count *= d;
  }
  const auto have = static_cast<std::int64_t>(bytes.size()) - h.data_offset;
  const std::int64_t want = count * static_cast<std::int64_t>(elem);
  if (have < want)
    bad(path, "truncated data: shape " + shape_repr(h.shape) + " needs " + std::to_string(want) +
                  " bytes, file has " + std::to_string(have));
  if (have > want)
    bad(path, std::to_string(have - want) + " unexpected bytes after the data of shape " + shape_repr(h.shape));
  return count;
}

}  // namespace

void write_npy(const std::filesystem::path& path, const Matrix& m) {
  const std::string header = header_1_0("<f4", {m.rows(), m.cols()});
  write_file(path, header, m.data(), static_cast<std::size_t>(m.size()) * sizeof(float));
}

void write_npy_i64(const std::filesystem::path& path, const std::vector<std::int64_t>& v) {
  const std::string header = header_1_0("<i8", {static_cast<std::int64_t>(v.size())});
  write_file(path, header, v.data(), v.size() * sizeof(std::int64_t));
}

NpyHeader read_npy_header(const std::filesystem::path& path) {
  return parse_header(path, read_all(path));
}

Matrix read_npy(const std::filesystem::path& path) {
  const std::string bytes = read_all(path);
  const NpyHeader h = parse_header(path, bytes);
  const std::int64_t count = check_payload(path, bytes, h, "<f4", sizeof(float), true);
  const Eigen::Index rows = h.shape.size() == 2 ? h.shape[0] : 1;
  const Eigen::Index cols = h.shape.size() == 2 ? h.shape[1] : h.shape[0];
  Matrix m(rows, cols);
  if (count > 0) std::memcpy(m.data(), bytes.data() + h.data_offset, static_cast<std::size_t>(count) * sizeof(float));
  return m;
}

std::vector<std::int64_t> read_npy_i64(const std::filesystem::path& path) {
  const std::string bytes = read_all(path);
  const NpyHeader h = parse_header(path, bytes);
  const std::int64_t count = check_payload(path, bytes, h, "<i8", sizeof(std::int64_t), false);
  std::vector<std::int64_t> v(static_cast<std::size_t>(count));
  if (count > 0)
    std::memcpy(v.data(), bytes.data() + h.data_offset, static_cast<std::size_t>(count) * sizeof(std::int64_t));
  return v;
}

}  // namespace atp::sim
