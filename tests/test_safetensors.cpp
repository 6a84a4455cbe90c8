// tests/test_safetensors.cpp: the .safetensors reader and writer: round trip, F16/BF16 conversion, and every
// malformed file the reader must refuse with an Error naming the file and the tensor.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "tapevit/io/safetensors.h"

using namespace tapevit;
namespace fs = std::filesystem;

namespace {

std::string tmp_path(const std::string& name) { return (fs::temp_directory_path() / ("tapevit_st_" + name)).string(); }

// A file from a header text and a data buffer, exactly as given (no validation).
std::string raw_file(const std::string& name, const std::string& header, const std::string& buffer,
                     uint64_t header_len_override = ~uint64_t(0)) {
  const std::string p = tmp_path(name);
  std::ofstream f(p, std::ios::binary);
  const uint64_t n = header_len_override == ~uint64_t(0) ? header.size() : header_len_override;
  for (int i = 0; i < 8; ++i) f.put(char(uint8_t(n >> (8 * i))));
  f << header << buffer;
  return p;
}

std::string bytes_of(const std::vector<uint16_t>& v) {
  std::string s(v.size() * 2, '\0');
  std::memcpy(s.data(), v.data(), s.size());
  return s;
}

std::string error_of(const std::string& path) {
  try {
    SafetensorsFile f(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST_CASE("safetensors: write then read gives the same names, shapes, values and metadata") {
  std::vector<float> w(3 * 4), b(4), s(1);
  for (size_t i = 0; i < w.size(); ++i) w[i] = 0.25f * float(i) - 1.0f;
  for (size_t i = 0; i < b.size(); ++i) b[i] = std::ldexp(1.0f, -int(i));
  s[0] = -7.5f;
  const std::string p = tmp_path("roundtrip.safetensors");
  write_safetensors(p, {{"head.weight", {4, 3}, w.data()}, {"head.bias", {4}, b.data()}, {"scale", {}, s.data()}},
                    {{"format", "pt"}, {"architecture", "vit_tiny_patch16_224"}});
  SafetensorsFile f(p);
  REQUIRE(f.tensors().size() == 3);
  CHECK(f.tensors()[0].name == "head.bias");  // sorted by name
  CHECK(f.metadata().at("format") == "pt");
  CHECK(f.metadata().at("architecture") == "vit_tiny_patch16_224");
  const SafeTensor* tw = f.find("head.weight");
  REQUIRE(tw);
  CHECK(tw->dtype == "F32");
  CHECK(tw->shape == Shape({4, 3}));
  CHECK(f.read_f32(*tw) == w);
  CHECK(f.read_f32(*f.find("head.bias")) == b);
  CHECK(f.find("scale")->shape.rank == 0);
  CHECK(f.read_f32(*f.find("scale")) == s);
  CHECK(f.find("nope") == nullptr);
  // the data buffer starts 8-byte aligned, as the format recommends
  uint64_t n = 0;
  std::ifstream in(p, std::ios::binary);
  in.read(reinterpret_cast<char*>(&n), 8);
  CHECK(n % 8 == 0);
}

TEST_CASE("safetensors: F16 and BF16 convert to float32 exactly") {
  // F16: 1, -2, 65504 (max), 2^-24 (smallest subnormal), 0.333251953125, inf, -0
  const std::vector<uint16_t> h = {0x3C00, 0xC000, 0x7BFF, 0x0001, 0x3555, 0x7C00, 0x8000};
  // BF16: 1, -3, 2^-133 (subnormal), 3.140625
  const std::vector<uint16_t> bf = {0x3F80, 0xC040, 0x0001, 0x4049};
  const std::string header = R"({"h":{"dtype":"F16","shape":[7],"data_offsets":[0,14]},)"
                             R"("b":{"dtype":"BF16","shape":[2,2],"data_offsets":[14,22]}})";
  SafetensorsFile f(raw_file("half.safetensors", header, bytes_of(h) + bytes_of(bf)));
  const auto x = f.read_f32(*f.find("h"));
  CHECK(x[0] == 1.0f);
  CHECK(x[1] == -2.0f);
  CHECK(x[2] == 65504.0f);
  CHECK(x[3] == std::ldexp(1.0f, -24));
  CHECK(x[4] == 0.333251953125f);
  CHECK(std::isinf(x[5]));
  CHECK((x[6] == 0.0f && std::signbit(x[6])));
  const auto y = f.read_f32(*f.find("b"));
  CHECK(y[0] == 1.0f);
  CHECK(y[1] == -3.0f);
  CHECK(y[2] == std::ldexp(1.0f, -133));
  CHECK(y[3] == 3.140625f);
}

TEST_CASE("safetensors: malformed files are refused naming the file and the tensor") {
  const std::string ok4 = std::string(16, '\0');  // 4 floats
  SUBCASE("too short") {
    const std::string p = tmp_path("short.safetensors");
    std::ofstream(p, std::ios::binary) << "abc";
    CHECK(error_of(p) == p + ": 3 bytes is too short for a safetensors file (8-byte header length, then the header)");
  }
  SUBCASE("missing") {
    const std::string p = tmp_path("absent.safetensors");
    CHECK(error_of(p) == p + ": cannot open (No such file or directory)");
  }
  SUBCASE("header length past the end (truncated)") {
    const std::string p = raw_file("trunc.safetensors", "{}", "", 1000);
    CHECK(error_of(p).find(p + ": header length 1000 runs past the end of the file") == 0);
  }
  SUBCASE("header length over the format's limit") {
    CHECK(error_of(raw_file("huge.safetensors", "{}", "", uint64_t(1) << 40)).find("exceeds the format's limit") !=
          std::string::npos);
  }
  SUBCASE("not JSON") {
    CHECK(error_of(raw_file("notjson.safetensors", "{\"a\": [", "")).find("header is not valid JSON") != std::string::npos);
  }
  SUBCASE("duplicate names") {
    const std::string h = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"w":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})";
    CHECK(error_of(raw_file("dup.safetensors", h, ok4)).find(": tensor 'w' appears twice") != std::string::npos);
  }
  SUBCASE("unknown dtype") {
    const std::string h = R"({"w":{"dtype":"F31","shape":[4],"data_offsets":[0,16]}})";
    CHECK(error_of(raw_file("dtype.safetensors", h, ok4)).find(": tensor 'w': unknown dtype 'F31'") != std::string::npos);
  }
  SUBCASE("offsets past the buffer") {
    const std::string h = R"({"w":{"dtype":"F32","shape":[8],"data_offsets":[0,32]}})";
    CHECK(error_of(raw_file("oob.safetensors", h, ok4)).find("tensor 'w': data_offsets [0, 32] outside the data buffer of 16 bytes") !=
          std::string::npos);
  }
  SUBCASE("offsets that disagree with shape x dtype") {
    const std::string h = R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}})";
    CHECK(error_of(raw_file("span.safetensors", h, ok4)).find("tensor 'w': data_offsets span 16 bytes but shape [3] of F32 needs 12") !=
          std::string::npos);
  }
  SUBCASE("overlapping tensors") {
    const std::string h = R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})";
    CHECK(error_of(raw_file("overlap.safetensors", h, ok4)).find("tensor 'b' overlaps") != std::string::npos);
  }
  SUBCASE("unindexed bytes") {
    const std::string h = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})";
    CHECK(error_of(raw_file("hole.safetensors", h, ok4)).find("8 bytes before tensor 'a' belong to no tensor") != std::string::npos);
    const std::string t = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
    CHECK(error_of(raw_file("tail.safetensors", t, ok4)).find("8 bytes at the end of the data buffer belong to no tensor") !=
          std::string::npos);
  }
  SUBCASE("bad shape and offsets types") {
    const std::string h = R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,16]}})";
    CHECK(error_of(raw_file("neg.safetensors", h, ok4)).find("tensor 'a': shape entries must be non-negative integers") !=
          std::string::npos);
    const std::string o = R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0]}})";
    CHECK(error_of(raw_file("off.safetensors", o, ok4)).find("tensor 'a': data_offsets must be two non-negative integers") !=
          std::string::npos);
    const std::string m = R"({"a":{"dtype":"F32","shape":[4]}})";
    CHECK(error_of(raw_file("nooff.safetensors", m, ok4)).find("tensor 'a': expected an object with dtype, shape and data_offsets") !=
          std::string::npos);
  }
  SUBCASE("a dtype tapevit does not convert is refused when read, naming the tensor") {
    const std::string h = R"({"steps":{"dtype":"I64","shape":[2],"data_offsets":[0,16]}})";
    const std::string p = raw_file("i64.safetensors", h, ok4);
    SafetensorsFile f(p);
    CHECK_THROWS_WITH_AS(f.read_f32(*f.find("steps")), (p + ": tensor 'steps' has dtype I64; tapevit reads F32, F16 and BF16").c_str(), Error);
  }
}

TEST_CASE("safetensors: writing never leaves a partial file over an existing one") {
  const std::string p = tmp_path("keep.safetensors");
  std::vector<float> a = {1, 2, 3};
  write_safetensors(p, {{"a", {3}, a.data()}});
  CHECK_THROWS_WITH_AS(write_safetensors(p, {{"a", {3}, a.data()}, {"a", {3}, a.data()}}),
                       (p + ": tensor 'a' given twice").c_str(), Error);
  SafetensorsFile f(p);
  CHECK(f.read_f32(*f.find("a")) == a);
}
