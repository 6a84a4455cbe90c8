// src/data/idx.cpp: MNIST / Fashion-MNIST in LeCun's IDX format, raw or gzip'd: the four files
// torchvision.datasets.MNIST / FashionMNIST read.
//   {train,t10k}-images-idx3-ubyte: magic 0x00000803, n, rows, cols (big-endian uint32), then n*rows*cols bytes
//   {train,t10k}-labels-idx1-ubyte: magic 0x00000801, n, then n bytes, each in [0, 10)
// -> Dataset: images (n, 1, rows, cols) uint8, labels (n). Either name may carry `.gz` (the raw file wins when
// both exist); zlib's gzread reads plain and gzip'd files alike.
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "tapevit/data/dataset.h"
#include "tapevit/error.h"

namespace tapevit {

namespace {

std::string hex32(uint32_t x) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", x);
  return buf;
}

class GzFile {
 public:
  explicit GzFile(std::string path) : path_(std::move(path)) {
    errno = 0;
    f_ = gzopen(path_.c_str(), "rb");
    if (!f_) fail(path_, ": cannot open (", errno ? std::strerror(errno) : "out of memory", ")");
  }
  ~GzFile() { gzclose(f_); }
  GzFile(const GzFile&) = delete;
  GzFile& operator=(const GzFile&) = delete;

  // Reads up to n bytes; returns how many were read (fewer only at the end of the data). A gzip stream cut
  // short counts as the end of the data, so the caller reports it as truncated with the byte counts.
  int64_t read(void* dst, int64_t n) {
    int64_t got = 0;
    while (got < n) {
      const unsigned chunk = unsigned(std::min<int64_t>(n - got, int64_t(1) << 30));
      const int r = gzread(f_, static_cast<char*>(dst) + got, chunk);
      if (r < 0) {
        int err = 0;
        const char* msg = gzerror(f_, &err);
        if (err == Z_BUF_ERROR) break;  // "unexpected end of file"
        fail(path_, ": read error (", msg, ")");
      }
      if (r == 0) break;
      got += r;
    }
    return got;
  }

  uint32_t read_be32(const char* what) {
    unsigned char b[4];
    if (read(b, 4) != 4) fail(path_, ": truncated header (no ", what, ")");
    return uint32_t(b[0]) << 24 | uint32_t(b[1]) << 16 | uint32_t(b[2]) << 8 | uint32_t(b[3]);
  }

  // Exactly n payload bytes, then the end of the file. The payload into out, grown as the data arrives (16 MiB at a time): a header that announces more than the file
  // holds costs one chunk, not the announced size, before the file is reported truncated.
  void read_payload(std::vector<uint8_t>& out, int64_t n, int64_t header_bytes, const char* what) {
    constexpr int64_t kChunk = int64_t(16) << 20;
    out.clear();
    int64_t got = 0;
    while (got < n) {
      const int64_t want = std::min(kChunk, n - got);
      out.resize(size_t(got + want));
      const int64_t r = read(out.data() + got, want);
      got += r;
      if (r < want) break;
    }
    if (got < n)
      fail(path_, ": truncated: expected ", n, " bytes of ", what, " after the ", header_bytes, "-byte header, found ",
           got);
    unsigned char extra;
    if (read(&extra, 1) != 0)
      fail(path_, ": trailing data after the ", n, " bytes of ", what, " the header announces");
  }

 private:
  std::string path_;
  gzFile f_ = nullptr;
};

// name or name.gz in dir, the raw file first.
std::string find_idx_file(const std::string& dir, const std::string& name) {
  const std::filesystem::path raw = std::filesystem::path(dir) / name;
  if (std::filesystem::exists(raw)) return raw.string();
  const std::string gz = raw.string() + ".gz";
  if (std::filesystem::exists(gz)) return gz;
  fail(raw.string(), "[.gz]: not found");
}

}  // namespace

// Called by load_dataset (datasets.cpp) for "mnist" and "fashion-mnist".
Dataset load_idx(const std::string& kind, const std::string& dir, bool train) {
  const std::string split = train ? "train" : "t10k";
  const std::string images_path = find_idx_file(dir, split + "-images-idx3-ubyte");
  const std::string labels_path = find_idx_file(dir, split + "-labels-idx1-ubyte");
  Dataset d;
  d.name = kind;
  d.channels = 1;
  d.num_classes = 10;
  {
    GzFile f(images_path);
    const uint32_t magic = f.read_be32("magic number");
    if (magic != 0x00000803u)
      fail(images_path, ": not an IDX image file: magic ", hex32(magic), ", expected 0x00000803 (uint8, 3 dims)");
    const uint32_t n = f.read_be32("image count"), rows = f.read_be32("row count"), cols = f.read_be32("column count");
    if (n == 0 || rows == 0 || cols == 0 || rows > 65536 || cols > 65536 || double(n) * rows * cols > 0x1p40)
      fail(images_path, ": implausible dimensions ", n, " x ", rows, " x ", cols);
    d.n = n;
    d.height = rows;
    d.width = cols;
    f.read_payload(d.images, d.n * d.height * d.width, 16, "pixels");
  }
  {
    GzFile f(labels_path);
    const uint32_t magic = f.read_be32("magic number");
    if (magic != 0x00000801u)
      fail(labels_path, ": not an IDX label file: magic ", hex32(magic), ", expected 0x00000801 (uint8, 1 dim)");
    const uint32_t n = f.read_be32("label count");
    if (int64_t(n) != d.n) fail(labels_path, ": ", n, " labels, but ", images_path, " holds ", d.n, " images");
    std::vector<uint8_t> raw;
    f.read_payload(raw, n, 8, "labels");
    d.labels.resize(n);
    for (uint32_t i = 0; i < n; ++i) {
      if (raw[i] >= d.num_classes)
        fail(labels_path, ": label ", int(raw[i]), " of sample ", i, " is outside [0, ", d.num_classes, ")");
      d.labels[i] = raw[i];
    }
  }
  return d;
}

}  // namespace tapevit
