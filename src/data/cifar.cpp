// src/data/cifar.cpp: CIFAR-10 "binary version" (https://www.cs.toronto.edu/~kriz/cifar.html), the files
// torchvision's CIFAR10 reads from its python pickle twin.
//   train: data_batch_1.bin .. data_batch_5.bin, test: test_batch.bin, in dir or dir/cifar-10-batches-bin.
//   Each record: 1 label byte in [0, 10), then 3072 pixel bytes = 3 planes (R, G, B) of 32x32, row-major.
// -> Dataset: images (n, 3, 32, 32) uint8 (the record's CHW layout as is), labels (n).
#include <filesystem>
#include <fstream>

#include "tapevit/data/dataset.h"
#include "tapevit/error.h"

namespace tapevit {

namespace fs = std::filesystem;

// Called by load_dataset (datasets.cpp) for "cifar10".
Dataset load_cifar10(const std::string& dir, bool train) {
  constexpr int64_t kPixels = 3 * 32 * 32, kRecord = 1 + kPixels;
  std::vector<std::string> names;
  if (train)
    for (int i = 1; i <= 5; ++i) names.push_back("data_batch_" + std::to_string(i) + ".bin");
  else
    names.push_back("test_batch.bin");

  // dir itself, or the folder the official tarball unpacks to
  fs::path base = dir;
  if (!fs::exists(base / names[0]) && fs::exists(base / "cifar-10-batches-bin" / names[0]))
    base = base / "cifar-10-batches-bin";

  std::vector<std::string> paths;
  std::vector<int64_t> records;
  int64_t total = 0;
  for (const std::string& name : names) {
    const fs::path p = base / name;
    std::error_code ec;
    const auto size = fs::file_size(p, ec);
    if (ec) {
      if (base == fs::path(dir))
        fail(p.string(), ": not found (nor in ", (base / "cifar-10-batches-bin").string(), ")");
      fail(p.string(), ": not found");
    }
    if (size == 0 || size % kRecord != 0)
      fail(p.string(), ": truncated or not a CIFAR-10 binary batch: ", size, " bytes is not a positive multiple of ",
           kRecord, " (1 label byte + 3x32x32 pixels)");
    paths.push_back(p.string());
    records.push_back(int64_t(size) / kRecord);
    total += records.back();
  }

  Dataset d;
  d.name = "cifar10";
  d.n = total;
  d.channels = 3;
  d.height = d.width = 32;
  d.num_classes = 10;
  d.images.resize(size_t(total * kPixels));
  d.labels.resize(size_t(total));
  std::vector<uint8_t> buf;
  int64_t at = 0;
  for (size_t f = 0; f < paths.size(); ++f) {
    buf.resize(size_t(records[f] * kRecord));
    std::ifstream in(paths[f], std::ios::binary);
    in.read(reinterpret_cast<char*>(buf.data()), std::streamsize(buf.size()));
    if (!in || in.gcount() != std::streamsize(buf.size()))
      fail(paths[f], ": read error after ", in.gcount(), " of ", buf.size(), " bytes");
    for (int64_t r = 0; r < records[f]; ++r, ++at) {
      const uint8_t* rec = buf.data() + r * kRecord;
      if (rec[0] >= d.num_classes)
        fail(paths[f], ": label ", int(rec[0]), " of record ", r, " is outside [0, ", d.num_classes, ")");
      d.labels[size_t(at)] = rec[0];
      std::copy(rec + 1, rec + kRecord, d.images.begin() + at * kPixels);
    }
  }
  return d;
}

}  // namespace tapevit
