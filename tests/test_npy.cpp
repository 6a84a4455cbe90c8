// tests/test_npy.cpp: .npy files as numpy.save writes them (predict's input and output).
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "tapevit/io/npy.h"

using namespace tapevit;
namespace fs = std::filesystem;

namespace {
std::string tmp_path(const std::string& name) { return (fs::temp_directory_path() / ("tapevit_npy_" + name)).string(); }

// A version-1.0 file with the given header dict and payload, padded as numpy pads it.
std::string npy_file(const std::string& name, std::string dict, const std::string& payload) {
  dict.append(64 - (10 + dict.size() + 1) % 64, ' ');
  dict += '\n';
  const std::string p = tmp_path(name);
  std::ofstream f(p, std::ios::binary);
  f.write("\x93NUMPY\x01\x00", 8);
  f.put(char(dict.size() & 0xff)).put(char(dict.size() >> 8));
  f << dict << payload;
  return p;
}
}  // namespace

TEST_CASE("npy: float32 round trip, and numpy's own header layout") {
  std::vector<float> x(2 * 3 * 4);
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(i) * 0.5f - 3.0f;
  const std::string p = tmp_path("f32.npy");
  write_npy(p, x.data(), {2, 3, 4});
  NpyArray a = read_npy(p);
  CHECK(a.dtype == "float32");
  CHECK(a.shape == Shape({2, 3, 4}));
  CHECK(a.f32 == x);
  CHECK(fs::file_size(p) == 128 + x.size() * 4);  // numpy pads the header to 64-byte alignment: 128 here
  write_npy(p, x.data(), {24});
  CHECK(read_npy(p).shape == Shape({24}));
}

TEST_CASE("npy: uint8 images as numpy writes them") {
  std::string px;
  for (int i = 0; i < 2 * 2 * 3; ++i) px += char(i * 20);
  NpyArray a = read_npy(npy_file("u8.npy", "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 2, 3), }", px));
  CHECK(a.dtype == "uint8");
  CHECK(a.shape == Shape({2, 2, 3}));
  CHECK(a.u8[11] == 220);
}

TEST_CASE("npy: unsupported and malformed files name the file and the problem") {
  const std::string f8 = npy_file("f8.npy", "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", std::string(16, '\0'));
  CHECK_THROWS_WITH_AS(read_npy(f8), (f8 + ": dtype '<f8' is not supported: expected float32 ('<f4') or uint8 ('|u1')").c_str(), Error);
  const std::string fo = npy_file("fo.npy", "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", std::string(16, '\0'));
  CHECK_THROWS_WITH_AS(read_npy(fo), doctest::Contains("Fortran-order arrays are not supported"), Error);
  const std::string tr = npy_file("tr.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (8,), }", std::string(16, '\0'));
  CHECK_THROWS_WITH_AS(read_npy(tr), (tr + ": truncated: shape [8] needs 32 bytes of data, the file holds 16").c_str(), Error);
  const std::string bad = tmp_path("bad.npy");
  std::ofstream(bad) << "not numpy at all";
  CHECK_THROWS_WITH_AS(read_npy(bad), doctest::Contains("not a .npy file"), Error);
  CHECK_THROWS_WITH_AS(read_npy(tmp_path("absent.npy")), doctest::Contains("absent.npy: cannot open"), Error);
}

TEST_CASE("npy: shapes that wrap, absurd sizes, giant headers and bad dimensions are refused before any allocation") {
  // (2^60, 1, 28, 28) multiplies to 0 in 64 bits: it used to be accepted with no data
  const std::string wrap = npy_file("wrap.npy", "{'descr': '|u1', 'fortran_order': False, 'shape': (1152921504606846976, 1, 28, 28), }", "");
  CHECK_THROWS_WITH_AS(read_npy(wrap), doctest::Contains("holds more than 2^48 elements"), Error);
  const std::string big = npy_file("big.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 1000), }", "xx");
  CHECK_THROWS_WITH_AS(read_npy(big), doctest::Contains("needs 4000000000 bytes of data, the file holds 2"), Error);
  const std::string neg = npy_file("neg.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (-2, 3), }", "");
  CHECK_THROWS_WITH_AS(read_npy(neg), doctest::Contains("holds '-2'"), Error);
  const std::string word = npy_file("word.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }", "");
  CHECK_THROWS_WITH_AS(read_npy(word), doctest::Contains("expected dimensions as non-negative integers"), Error);
  const std::string huge = npy_file("huge.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }", "");
  CHECK_THROWS_WITH_AS(read_npy(huge), doctest::Contains("non-negative integers below 2^63"), Error);
  // a version-2 header of ~600 KB used to overflow the stack inside std::regex: numpy's own limit is 10,000 bytes
  const std::string giant = tmp_path("giant.npy");
  {
    std::string dict = "{'descr': '" + std::string(600000, 'a') + "', 'fortran_order': False, 'shape': (1,), }\n";
    std::ofstream f(giant, std::ios::binary);
    f.write("\x93NUMPY\x02\x00", 8);
    const uint32_t n = uint32_t(dict.size());
    for (int i = 0; i < 4; ++i) f.put(char(n >> (8 * i)));
    f << dict;
  }
  CHECK_THROWS_WITH_AS(read_npy(giant), doctest::Contains("exceeds numpy's limit of 10000 bytes"), Error);
}
