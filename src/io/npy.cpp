// src/io/npy.cpp: see tapevit/io/npy.h. Format: numpy.lib.format (magic "\x93NUMPY", version, header length, a Python
// dict literal {'descr': ..., 'fortran_order': ..., 'shape': (...)} padded with spaces to a multiple of 64).
#include "tapevit/io/npy.h"

#include <cstring>
#include <fstream>
#include <charconv>
#include <regex>
#include <sstream>

#include "tapevit/io/atomic_file.h"
#include "tapevit/error.h"

namespace tapevit {

NpyArray read_npy(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) fail(path, ": cannot open");
  char magic[8];
  if (!f.read(magic, 8) || std::memcmp(magic, "\x93NUMPY", 6) != 0) fail(path, ": not a .npy file (no \\x93NUMPY magic)");
  const int major = uint8_t(magic[6]);
  uint32_t hlen = 0;
  unsigned char b[4] = {};
  if (major == 1) {
    if (!f.read(reinterpret_cast<char*>(b), 2)) fail(path, ": truncated header");
    hlen = b[0] | b[1] << 8;
  } else if (major == 2 || major == 3) {
    if (!f.read(reinterpret_cast<char*>(b), 4)) fail(path, ": truncated header");
    hlen = b[0] | b[1] << 8 | b[2] << 16 | uint32_t(b[3]) << 24;
  } else {
    fail(path, ": unsupported .npy format version ", major);
  }
  // numpy reads headers of up to 10,000 bytes by default (np.load's max_header_size); longer ones are not .npy
  // files numpy wrote, and parsing them would cost unbounded time and stack
  if (hlen > 10000) fail(path, ": header length ", hlen, " exceeds numpy's limit of 10000 bytes");
  std::string header(hlen, '\0');
  if (!f.read(header.data(), hlen)) fail(path, ": truncated header");
  std::smatch m;
  if (!std::regex_search(header, m, std::regex(R"('descr'\s*:\s*'([^']*)')")))
    fail(path, ": header has no 'descr': ", header);
  const std::string descr = m[1];
  if (std::regex_search(header, std::regex(R"('fortran_order'\s*:\s*True)")))
    fail(path, ": Fortran-order arrays are not supported (save with numpy.ascontiguousarray)");
  if (!std::regex_search(header, m, std::regex(R"('shape'\s*:\s*\(([^)]*)\))"))) fail(path, ": header has no 'shape'");
  NpyArray a;
  {
    std::string dims = m[1];
    std::stringstream ss(dims);
    std::string tok;
    std::vector<int64_t> d;
    while (std::getline(ss, tok, ',')) {
      const size_t b = tok.find_first_not_of(" \t"), e = tok.find_last_not_of(" \tL");
      if (b == std::string::npos) continue;
      int64_t x = 0;
      const auto [end, ec] = std::from_chars(tok.data() + b, tok.data() + e + 1, x);
      if (ec != std::errc() || end != tok.data() + e + 1 || x < 0)
        fail(path, ": shape (", dims, ") holds '", tok, "', expected dimensions as non-negative integers below 2^63");
      d.push_back(x);
    }
    if (d.size() > size_t(Shape::kMaxRank)) fail(path, ": rank ", d.size(), " exceeds ", Shape::kMaxRank);
    for (int64_t x : d) a.shape.dims[a.shape.rank++] = x;
  }
  // the element count must not wrap, and the file must hold the data before anything is allocated for it
  int64_t n = 1;
  for (int i = 0; i < a.shape.rank; ++i)
    if (__builtin_mul_overflow(n, a.shape.dims[i], &n) || n > (int64_t(1) << 48))
      fail(path, ": shape ", a.shape, " holds more than 2^48 elements");
  const int64_t item = descr == "<f4" ? 4 : 1;
  const auto here = f.tellg();
  f.seekg(0, std::ios::end);
  const int64_t left = int64_t(f.tellg() - here);
  f.seekg(here);
  if (left < n * item)
    fail(path, ": truncated: shape ", a.shape, " needs ", n * item, " bytes of data, the file holds ", left);
  if (descr == "<f4") {
    a.dtype = "float32";
    a.f32.resize(size_t(n));
    if (!f.read(reinterpret_cast<char*>(a.f32.data()), std::streamsize(n * 4)))
      fail(path, ": truncated: expected ", n, " float32 values for shape ", a.shape);
  } else if (descr == "|u1" || descr == "<u1") {
    a.dtype = "uint8";
    a.u8.resize(size_t(n));
    if (!f.read(reinterpret_cast<char*>(a.u8.data()), std::streamsize(n)))
      fail(path, ": truncated: expected ", n, " uint8 values for shape ", a.shape);
  } else {
    fail(path, ": dtype '", descr, "' is not supported: expected float32 ('<f4') or uint8 ('|u1')");
  }
  return a;
}

void write_npy(const std::string& path, const float* data, const Shape& shape) {
  std::string dims;
  for (int i = 0; i < shape.rank; ++i) dims += std::to_string(shape[i]) + (shape.rank == 1 || i + 1 < shape.rank ? "," : "");
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + dims + "), }";
  header.append(64 - (10 + header.size() + 1) % 64, ' ');
  header += '\n';
  const uint16_t len = uint16_t(header.size());
  const std::string head = std::string("\x93NUMPY\x01\x00", 8) + char(len & 0xff) + char(len >> 8) + header;
  write_file_atomic(path, {{head.data(), head.size()}, {data, size_t(shape.numel() * 4)}});
}

}  // namespace tapevit
