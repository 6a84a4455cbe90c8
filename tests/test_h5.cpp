// tests/test_h5.cpp: HDF5 round trips and the errors a user can trigger.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "tapevit/layers/vit.h"
#include "tapevit/error.h"
#include "tapevit/io/h5.h"
#include "tapevit/io/params_h5.h"

using namespace tapevit;
namespace fs = std::filesystem;

namespace {
std::string tmp_path(const std::string& name) { return (fs::temp_directory_path() / ("tapevit_test_" + name)).string(); }
VitConfig small() {
  VitConfig c;
  c.img_size = 8; c.patch_size = 4; c.in_chans = 1; c.num_classes = 3; c.embed_dim = 8; c.depth = 2; c.num_heads = 2;
  return c;
}
}  // namespace

TEST_CASE("H5: parameters round-trip bit-exactly by timm name, attributes too") {
  const std::string path = tmp_path("roundtrip.h5");
  VisionTransformer<float> a(small(), 1), b(small(), 2);
  {
    H5File f(path, H5File::Create);
    write_params(f, "params", a.params());
    f.set_attr("config", std::string("{\"embed_dim\": 8}"));
    f.set_attr("step", int64_t(42));
    f.set_attr("lr", 1e-3);
  }
  H5File f(path, H5File::Read);
  CHECK(f.dtype("params/blocks.0.attn.qkv.weight") == "float32");
  CHECK(f.shape("params/blocks.0.attn.qkv.weight") == Shape{24, 8});
  read_params(f, "params", b.params());
  CHECK(std::memcmp(a.params().data(), b.params().data(), sizeof(float) * size_t(a.params().flat_size())) == 0);
  CHECK(f.attr_string("config") == "{\"embed_dim\": 8}");
  CHECK(f.attr_int("step") == 42);
  CHECK(f.attr_double("lr") == 1e-3);
  fs::remove(path);
}

TEST_CASE("H5: a different architecture lists every missing, unexpected and mismatched tensor") {
  const std::string path = tmp_path("arch.h5");
  VitConfig c = small();
  c.depth = 3;
  c.num_classes = 5;
  {
    VisionTransformer<float> big(c, 1);
    H5File f(path, H5File::Create);
    write_params(f, "params", big.params());
  }
  VisionTransformer<float> m(small(), 1);
  H5File f(path, H5File::Read);
  try {
    read_params(f, "params", m.params());
    FAIL("no error");
  } catch (const Error& e) {
    const std::string msg = e.what();
    CHECK(msg.find("mismatched: head.weight file [5, 8], model [3, 8]") != std::string::npos);
    CHECK(msg.find("mismatched: head.bias file [5], model [3]") != std::string::npos);
    CHECK(msg.find("unexpected: blocks.2.norm1.weight") != std::string::npos);
    CHECK(msg.find(path) == 0);
  }
  fs::remove(path);
}

TEST_CASE("H5: missing and corrupt files are clear errors") {
  CHECK_THROWS_WITH_AS(H5File("/nonexistent/x.h5", H5File::Read), "/nonexistent/x.h5: no such file", Error);
  // a run directory given for its checkpoint, and a mistyped name: both say what is there
  const fs::path run = fs::path(tmp_path("h5_run_dir"));
  fs::remove_all(run);
  fs::create_directories(run);
  for (const char* n : {"last.h5", "best.h5"}) H5File((run / n).string(), H5File::Create);
  CHECK_THROWS_WITH_AS(H5File(run.string(), H5File::Read),
                       (run.string() + ": is a directory, not a file; " + run.string() + " holds " + (run / "best.h5").string() +
                        ", " + (run / "last.h5").string()).c_str(), Error);
  CHECK_THROWS_WITH_AS(H5File((run / "bset.h5").string(), H5File::Read),
                       ((run / "bset.h5").string() + ": no such file; " + run.string() + " holds " + (run / "best.h5").string() +
                        ", " + (run / "last.h5").string()).c_str(), Error);
  fs::remove_all(run);
  const std::string path = tmp_path("corrupt.h5");
  std::ofstream(path) << "this is not hdf5";
  CHECK_THROWS_WITH_AS(H5File(path, H5File::Read), (path + ": not an HDF5 file (missing, unreadable or corrupt)").c_str(),
                       Error);
  // a real file cut short
  {
    VisionTransformer<float> a(small(), 1);
    H5File f(path, H5File::Create);
    write_params(f, "params", a.params());
  }
  fs::resize_file(path, fs::file_size(path) / 2);
  std::string msg;
  try {
    H5File f(path, H5File::Read);
    VisionTransformer<float> b(small(), 1);
    read_params(f, "params", b.params());
  } catch (const Error& e) {
    msg = e.what();
  }
  CHECK(msg == path + ": not an HDF5 file (missing, unreadable or corrupt)");
  fs::remove(path);
}

TEST_CASE("H5: a file verified once is verified again after any change to it (the digest check's cache)") {
  const std::string path = tmp_path("verify_cache.h5");
  fs::copy_file(std::string(TAPEVIT_FIXTURES) + "/../fuzz/corpus/checkpoint/tiny.h5", path,
                fs::copy_options::overwrite_existing);
  std::string bytes;
  {
    std::ifstream f(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  }
  // older than the 2 s a changed file is always re-verified for; then opened (verified, and remembered) twice
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));
  CHECK(H5File(path, H5File::Read).exists("params"));
  CHECK(H5File(path, H5File::Read).exists("params"));
  // the last byte of the last tensor flipped in place (the same inode and size): caught on the next open
  const size_t at = bytes.size() - 1;
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(std::streamoff(at));
    f.put(char(bytes[at] ^ 0x04));
  }
  CHECK_THROWS_WITH_AS(H5File(path, H5File::Read), doctest::Contains("damaged"), Error);
  fs::remove(path);
}
