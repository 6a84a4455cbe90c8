// tests/test_data.cpp: the IDX (Fashion-MNIST / MNIST) and CIFAR-10 binary readers, on small files written here
// (raw and gzip'd) and on Debian's Fashion-MNIST; every malformed file is an Error naming it.
#include <doctest/doctest.h>

#include "test_util.h"
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "tapevit/data/loader.h"
#include "tapevit/error.h"

using namespace tapevit;
using namespace tapevit::test;
namespace fs = std::filesystem;

namespace {

// A fresh directory per test case (ctest runs cases in parallel), removed at scope exit.
struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& name) : path(fs::temp_directory_path() / ("tapevit_test_data_" + name)) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string operator/(const std::string& f) const { return (path / f).string(); }
};

void put_be32(std::vector<uint8_t>& v, uint32_t x) {
  for (int s = 24; s >= 0; s -= 8) v.push_back(uint8_t(x >> s));
}

std::vector<uint8_t> idx_images(uint32_t n, uint32_t rows, uint32_t cols, const std::vector<uint8_t>& pixels,
                                uint32_t magic = 0x803) {
  std::vector<uint8_t> v;
  put_be32(v, magic);
  put_be32(v, n);
  put_be32(v, rows);
  put_be32(v, cols);
  v.insert(v.end(), pixels.begin(), pixels.end());
  return v;
}

std::vector<uint8_t> idx_labels(uint32_t n, const std::vector<uint8_t>& labels, uint32_t magic = 0x801) {
  std::vector<uint8_t> v;
  put_be32(v, magic);
  put_be32(v, n);
  v.insert(v.end(), labels.begin(), labels.end());
  return v;
}

void write_raw(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  REQUIRE(f.good());
}

void write_gz(const std::string& path, const std::vector<uint8_t>& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  REQUIRE(f != nullptr);
  REQUIRE(gzwrite(f, bytes.data(), unsigned(bytes.size())) == int(bytes.size()));
  REQUIRE(gzclose(f) == Z_OK);
}

// 3 images of 2x4 (non-square, to catch a rows/cols swap): pixel = 10 * image + position
std::vector<uint8_t> small_pixels() {
  std::vector<uint8_t> p;
  for (int i = 0; i < 3; ++i)
    for (int k = 0; k < 8; ++k) p.push_back(uint8_t(10 * i + k));
  return p;
}

}  // namespace

TEST_CASE("IDX: raw train files and gzip'd test files read back as written") {
  TempDir dir("idx_roundtrip");
  write_raw(dir / "train-images-idx3-ubyte", idx_images(3, 2, 4, small_pixels()));
  write_raw(dir / "train-labels-idx1-ubyte", idx_labels(3, {7, 0, 9}));
  std::vector<uint8_t> test_pixels(2 * 2 * 4, 200);
  test_pixels[5] = 17;
  write_gz(dir / "t10k-images-idx3-ubyte.gz", idx_images(2, 2, 4, test_pixels));
  write_gz(dir / "t10k-labels-idx1-ubyte.gz", idx_labels(2, {3, 4}));

  const Dataset tr = load_dataset("fashion-mnist", dir.path.string(), true);
  CHECK(tr.name == "fashion-mnist");
  CHECK(tr.n == 3);
  CHECK(tr.channels == 1);
  CHECK(tr.height == 2);
  CHECK(tr.width == 4);
  CHECK(tr.num_classes == 10);
  CHECK(tr.images == small_pixels());
  CHECK(tr.labels == std::vector<int32_t>{7, 0, 9});

  const Dataset te = load_dataset("mnist", dir.path.string(), false);
  CHECK(te.name == "mnist");
  CHECK(te.n == 2);
  CHECK(te.images == test_pixels);
  CHECK(te.labels == std::vector<int32_t>{3, 4});

  // both present: the raw file wins
  write_raw(dir / "t10k-images-idx3-ubyte", idx_images(2, 2, 4, std::vector<uint8_t>(16, 1)));
  CHECK(load_dataset("mnist", dir.path.string(), false).images == std::vector<uint8_t>(16, 1));
}

TEST_CASE("IDX: truncated, padded, mislabelled and mismatched files name the file") {
  TempDir dir("idx_errors");
  const std::string d = dir.path.string();
  const std::string images = dir / "train-images-idx3-ubyte", labels = dir / "train-labels-idx1-ubyte";
  const auto good_labels = idx_labels(3, {1, 2, 3});
  write_raw(labels, good_labels);

  SUBCASE("missing images") {
    const std::string msg = error_of([&] { load_dataset("fashion-mnist", d, true); });
    CHECK(contains(msg, images));
    CHECK(contains(msg, "not found"));
  }
  SUBCASE("missing labels") {
    fs::remove(labels);
    write_raw(images, idx_images(3, 2, 4, small_pixels()));
    const std::string msg = error_of([&] { load_dataset("fashion-mnist", d, true); });
    CHECK(contains(msg, labels));
    CHECK(contains(msg, "not found"));
  }
  SUBCASE("pixels cut short by one byte") {
    auto bytes = idx_images(3, 2, 4, small_pixels());
    bytes.pop_back();
    write_raw(images, bytes);
    const std::string msg = error_of([&] { load_dataset("fashion-mnist", d, true); });
    CHECK(contains(msg, images));
    CHECK(contains(msg, "truncated"));
    CHECK(contains(msg, "expected 24 bytes"));
    CHECK(contains(msg, "found 23"));
  }
  SUBCASE("gzip'd file cut short") {
    std::vector<uint8_t> pixels(3 * 2 * 4);
    for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = uint8_t(i * 37 + 11);
    write_gz(images + ".gz", idx_images(3, 2, 4, pixels));
    const auto size = fs::file_size(images + ".gz");
    fs::resize_file(images + ".gz", size - 12);  // drops the gzip trailer and the last deflate bytes
    const std::string msg = error_of([&] { load_dataset("fashion-mnist", d, true); });
    CHECK(contains(msg, images + ".gz"));
  }
  SUBCASE("header cut short") {
    write_raw(images, {0, 0, 8, 3, 0, 0});
    const std::string msg = error_of([&] { load_dataset("fashion-mnist", d, true); });
    CHECK(contains(msg, images));
    CHECK(contains(msg, "truncated header"));
  }
  SUBCASE("trailing bytes") {
    auto bytes = idx_images(3, 2, 4, small_pixels());
    bytes.push_back(0);
    write_raw(images, bytes);
    const std::string msg = error_of([&] { load_dataset("fashion-mnist", d, true); });
    CHECK(contains(msg, images));
    CHECK(contains(msg, "trailing"));
  }
  SUBCASE("wrong magic: a label file where images belong") {
    write_raw(images, idx_labels(3, {1, 2, 3}));
    const std::string msg = error_of([&] { load_dataset("fashion-mnist", d, true); });
    CHECK(contains(msg, images));
    CHECK(contains(msg, "magic 0x00000801"));
  }
  SUBCASE("wrong label magic") {
    write_raw(images, idx_images(3, 2, 4, small_pixels()));
    write_raw(labels, idx_labels(3, {1, 2, 3}, 0x802));
    const std::string msg = error_of([&] { load_dataset("fashion-mnist", d, true); });
    CHECK(contains(msg, labels));
    CHECK(contains(msg, "magic 0x00000802"));
  }
  SUBCASE("count mismatch") {
    write_raw(images, idx_images(3, 2, 4, small_pixels()));
    write_raw(labels, idx_labels(4, {1, 2, 3, 4}));
    const std::string msg = error_of([&] { load_dataset("fashion-mnist", d, true); });
    CHECK(contains(msg, labels));
    CHECK(contains(msg, "4 labels"));
    CHECK(contains(msg, "3 images"));
  }
  SUBCASE("labels truncated") {
    write_raw(images, idx_images(3, 2, 4, small_pixels()));
    write_raw(labels, idx_labels(3, {1, 2}));
    const std::string msg = error_of([&] { load_dataset("fashion-mnist", d, true); });
    CHECK(contains(msg, labels));
    CHECK(contains(msg, "expected 3 bytes"));
    CHECK(contains(msg, "found 2"));
  }
  SUBCASE("label 10") {
    write_raw(images, idx_images(3, 2, 4, small_pixels()));
    write_raw(labels, idx_labels(3, {1, 10, 3}));
    const std::string msg = error_of([&] { load_dataset("fashion-mnist", d, true); });
    CHECK(contains(msg, labels));
    CHECK(contains(msg, "label 10 of sample 1"));
  }
}

namespace {
// CIFAR record r of a file: label (r + file) % 10, plane c pixel k = (r * 7 + c * 50 + k + file) % 256
std::vector<uint8_t> cifar_file(int records, int file) {
  std::vector<uint8_t> v;
  for (int r = 0; r < records; ++r) {
    v.push_back(uint8_t((r + file) % 10));
    for (int c = 0; c < 3; ++c)
      for (int k = 0; k < 1024; ++k) v.push_back(uint8_t((r * 7 + c * 50 + k + file) % 256));
  }
  return v;
}
}  // namespace

TEST_CASE("CIFAR: five train batches and the test batch read back as CHW planes, in dir or its subfolder") {
  TempDir dir("cifar_roundtrip");
  fs::create_directories(dir.path / "cifar-10-batches-bin");
  for (int f = 1; f <= 5; ++f)
    write_raw((dir.path / "cifar-10-batches-bin" / ("data_batch_" + std::to_string(f) + ".bin")).string(),
              cifar_file(2, f));
  const Dataset tr = load_dataset("cifar10", dir.path.string(), true);
  CHECK(tr.name == "cifar10");
  CHECK(tr.n == 10);
  CHECK(tr.channels == 3);
  CHECK(tr.height == 32);
  CHECK(tr.width == 32);
  CHECK(tr.num_classes == 10);
  REQUIRE(tr.images.size() == 10u * 3072);
  for (int f = 1; f <= 5; ++f)
    for (int r = 0; r < 2; ++r) {
      const int i = (f - 1) * 2 + r;
      CHECK(tr.labels[size_t(i)] == (r + f) % 10);
      // green plane, pixel (row 3, col 5) = k 101
      CHECK(int(tr.images[size_t(i * 3072 + 1 * 1024 + 3 * 32 + 5)]) == (r * 7 + 50 + 101 + f) % 256);
      CHECK(int(tr.images[size_t(i * 3072 + 2 * 1024 + 1023)]) == (r * 7 + 100 + 1023 + f) % 256);
    }

  write_raw(dir / "test_batch.bin", cifar_file(3, 0));  // directly in dir
  const Dataset te = load_dataset("cifar10", dir.path.string(), false);
  CHECK(te.n == 3);
  CHECK(te.labels == std::vector<int32_t>{0, 1, 2});
  CHECK(int(te.images[0]) == 0);
  CHECK(int(te.images[2 * 3072 + 1024]) == (14 + 50) % 256);
}

TEST_CASE("CIFAR: truncated, empty, missing and mislabelled batches name the file") {
  TempDir dir("cifar_errors");
  const std::string d = dir.path.string();
  for (int f = 1; f <= 5; ++f) write_raw(dir / ("data_batch_" + std::to_string(f) + ".bin"), cifar_file(2, f));
  const std::string third = dir / "data_batch_3.bin";
  SUBCASE("truncated") {
    auto bytes = cifar_file(2, 3);
    bytes.resize(bytes.size() - 100);
    write_raw(third, bytes);
    const std::string msg = error_of([&] { load_dataset("cifar10", d, true); });
    CHECK(contains(msg, third));
    CHECK(contains(msg, "truncated"));
  }
  SUBCASE("empty") {
    write_raw(third, {});
    const std::string msg = error_of([&] { load_dataset("cifar10", d, true); });
    CHECK(contains(msg, third));
    CHECK(contains(msg, "truncated"));
  }
  SUBCASE("missing") {
    fs::remove(third);
    const std::string msg = error_of([&] { load_dataset("cifar10", d, true); });
    CHECK(contains(msg, third));
    CHECK(contains(msg, "not found"));
  }
  SUBCASE("missing test batch") {
    const std::string msg = error_of([&] { load_dataset("cifar10", d, false); });
    CHECK(contains(msg, dir / "test_batch.bin"));
  }
  SUBCASE("label 10") {
    auto bytes = cifar_file(2, 3);
    bytes[3073] = 10;
    write_raw(third, bytes);
    const std::string msg = error_of([&] { load_dataset("cifar10", d, true); });
    CHECK(contains(msg, third));
    CHECK(contains(msg, "label 10 of record 1"));
  }
}

TEST_CASE("Data: kinds, default directories and normalisation statistics") {
  const std::string msg = error_of([] { load_dataset("imagenet", "/tmp", true); });
  CHECK(contains(msg, "imagenet"));
  CHECK(contains(msg, "fashion-mnist, mnist, cifar10"));
  CHECK_THROWS_WITH_AS(default_data_dir("cifar100"), doctest::Contains("unknown data set 'cifar100': expected one of"), Error);
  CHECK(default_data_dir("fashion-mnist") == "/usr/share/datasets/fashion-mnist");
  CHECK(default_data_dir("mnist") == "/usr/share/datasets/mnist");
  CHECK(default_data_dir("cifar10").empty());
  CHECK(contains(error_of([] { load_dataset("cifar10", "", true); }), "no data directory"));

  std::vector<double> mean, std;
  default_mean_std("fashion-mnist", mean, std);
  CHECK(mean == std::vector<double>{0.2860});
  CHECK(std == std::vector<double>{0.3530});
  default_mean_std("mnist", mean, std);
  CHECK(mean == std::vector<double>{0.1307});
  CHECK(std == std::vector<double>{0.3081});
  default_mean_std("cifar10", mean, std);
  CHECK(mean == std::vector<double>{0.4914, 0.4822, 0.4465});
  CHECK(std == std::vector<double>{0.2470, 0.2435, 0.2616});
  CHECK_THROWS_WITH_AS(default_mean_std("svhn", mean, std), doctest::Contains("unknown data set 'svhn': expected one of"),
                       Error);
}

TEST_CASE("Data: Debian's Fashion-MNIST loads 60000 + 10000 balanced 28x28 images") {
  const std::string dir = "/usr/share/datasets/fashion-mnist";
  if (!fs::exists(dir)) {
    MESSAGE("skipped: ", dir, " is absent (apt-get install dataset-fashion-mnist)");
    return;
  }
  for (bool train : {true, false}) {
    const Dataset d = load_dataset("fashion-mnist", "", train);  // "" = the default directory
    const int64_t n = train ? 60000 : 10000;
    CHECK(d.n == n);
    CHECK(d.channels == 1);
    CHECK(d.height == 28);
    CHECK(d.width == 28);
    CHECK(d.num_classes == 10);
    CHECK(int64_t(d.images.size()) == n * 784);
    std::vector<int64_t> count(10, 0);
    for (int32_t y : d.labels) ++count[size_t(y)];
    for (int k = 0; k < 10; ++k) CHECK(count[size_t(k)] == n / 10);  // Fashion-MNIST is balanced
    double sum = 0;
    for (uint8_t p : d.images) sum += p;
    const double mean = sum / double(d.images.size()) / 255.0;
    if (train)
      CHECK(mean == doctest::Approx(0.2860).epsilon(0.002));
    else
      CHECK(mean == doctest::Approx(0.2868).epsilon(0.01));
  }
}

TEST_CASE("Data: select_classes keeps, relabels and caps classes, and bad class lists name the key") {
  Dataset d;
  d.name = "toy";
  d.n = 8, d.channels = 1, d.height = 1, d.width = 2, d.num_classes = 4;
  d.labels = {0, 1, 2, 3, 2, 1, 2, 3};
  for (int i = 0; i < 8; ++i) d.images.insert(d.images.end(), {uint8_t(i), uint8_t(10 + i)});
  Dataset a = d;
  select_classes(a, {2, 1}, 0);  // class 2 -> 0, class 1 -> 1
  CHECK(a.n == 5);
  CHECK(a.num_classes == 2);
  CHECK(a.labels == std::vector<int32_t>({1, 0, 0, 1, 0}));
  CHECK(a.images == std::vector<uint8_t>({1, 11, 2, 12, 4, 14, 5, 15, 6, 16}));
  Dataset b = d;
  select_classes(b, {}, 1);  // the first sample of every class
  CHECK(b.labels == std::vector<int32_t>({0, 1, 2, 3}));
  CHECK(b.num_classes == 4);
  Dataset c = d;
  CHECK_THROWS_WITH_AS(select_classes(c, {1, 4}, 0), "key 'classes': class 4 is outside [0, 4) of 'toy'", Error);
  CHECK_THROWS_WITH_AS(select_classes(c, {1, 1}, 0), "key 'classes': class 1 is listed twice", Error);
}

TEST_CASE("IDX: a 16-byte file announcing a terabyte of pixels is truncated, not an allocation of what it claims") {
  TempDir dir("idx_huge_header");
  write_raw(dir / "train-images-idx3-ubyte", idx_images(1000000, 1000, 1000, {}));  // 10^12 bytes announced
  write_raw(dir / "train-labels-idx1-ubyte", idx_labels(3, {1, 2, 3}));
  // (the old reader allocated the announced size first: std::bad_alloc, naming no file)
  const std::string msg = error_of([&] { load_dataset("fashion-mnist", dir.path.string(), true); });
  CHECK(contains(msg, dir / "train-images-idx3-ubyte"));
  CHECK(contains(msg, "truncated: expected 1000000000000 bytes of pixels after the 16-byte header, found 0"));
}
