// tests/fake_data.h: small data sets written to disk in the real formats, for end-to-end tests.
// A learnable task (stripes_task) that a tiny ViT picks up in a few dozen steps.
#pragma once
#include <jpeglib.h>
#include <png.h>

#include <cstdio>
#include <stdexcept>

#include "tapevit/data/image.h"
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tapevit/rng.h"

namespace tapevit::test {

inline void write_be32(std::ofstream& f, uint32_t v) {
  const unsigned char b[4] = {uint8_t(v >> 24), uint8_t(v >> 16), uint8_t(v >> 8), uint8_t(v)};
  f.write(reinterpret_cast<const char*>(b), 4);
}

// IDX image file (magic 0x803) and label file (0x801), uncompressed.
inline void write_idx(const std::string& images_path, const std::string& labels_path, const std::vector<uint8_t>& images,
                      const std::vector<uint8_t>& labels, uint32_t rows, uint32_t cols) {
  std::ofstream fi(images_path, std::ios::binary), fl(labels_path, std::ios::binary);
  write_be32(fi, 0x803);
  write_be32(fi, uint32_t(labels.size()));
  write_be32(fi, rows);
  write_be32(fi, cols);
  fi.write(reinterpret_cast<const char*>(images.data()), std::streamsize(images.size()));
  write_be32(fl, 0x801);
  write_be32(fl, uint32_t(labels.size()));
  fl.write(reinterpret_cast<const char*>(labels.data()), std::streamsize(labels.size()));
}

// Class c draws stripes over the whole image: horizontal for even c, vertical for odd c, with period
// 2 + c/2 pixels (2..6), over a noisy background. Every patch carries the class, so a crop or a flip keeps it.
// cyclic: class i % 10 for image i (every class present in any 10 consecutive images), else a random class.
inline void stripes_task(int64_t n, uint64_t seed, std::vector<uint8_t>& images, std::vector<uint8_t>& labels,
                         bool cyclic = false) {
  images.assign(size_t(n * 28 * 28), 0);
  labels.assign(size_t(n), 0);
  for (int64_t i = 0; i < n; ++i) {
    const int c = cyclic ? int(i % 10) : int(Rng::bits(seed, uint64_t(i)) % 10);
    labels[size_t(i)] = uint8_t(c);
    const int period = 2 + c / 2, phase = int(Rng::bits(seed + 2, uint64_t(i)) % uint64_t(period));
    uint8_t* img = images.data() + i * 784;
    for (int y = 0; y < 28; ++y)
      for (int x = 0; x < 28; ++x) {
        const int t = (c % 2 ? x : y) + phase;
        const bool on = t % period < (period + 1) / 2;
        img[y * 28 + x] = uint8_t(Rng::bits(seed + 1, uint64_t(i * 784 + y * 28 + x)) % 60 + (on ? 160 : 0));
      }
  }
}

// An MNIST-format directory (train-*/t10k-* IDX files) holding the stripes task.
inline void write_stripes_mnist(const std::filesystem::path& dir, int64_t n_train, int64_t n_test) {
  std::filesystem::create_directories(dir);
  std::vector<uint8_t> im, lb;
  stripes_task(n_train, 11, im, lb);
  write_idx((dir / "train-images-idx3-ubyte").string(), (dir / "train-labels-idx1-ubyte").string(), im, lb, 28, 28);
  stripes_task(n_test, 12, im, lb);
  write_idx((dir / "t10k-images-idx3-ubyte").string(), (dir / "t10k-labels-idx1-ubyte").string(), im, lb, 28, 28);
}

// Image files for folder tests (libpng's simplified writer; libjpeg at quality 90, 4:2:0 as PIL's default).
inline void write_png(const std::string& path, const Image& im) {
  png_image p{};
  p.version = PNG_IMAGE_VERSION;
  p.width = uint32_t(im.width), p.height = uint32_t(im.height);
  p.format = im.channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
  if (!png_image_write_to_file(&p, path.c_str(), 0, im.pixels.data(), 0, nullptr))
    throw std::runtime_error("write_png " + path + ": " + p.message);
}

inline void write_jpeg(const std::string& path, const Image& im, int quality = 90) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) throw std::runtime_error("write_jpeg: cannot open " + path);
  jpeg_compress_struct c;
  jpeg_error_mgr err;
  c.err = jpeg_std_error(&err);
  jpeg_create_compress(&c);
  jpeg_stdio_dest(&c, f);
  c.image_width = JDIMENSION(im.width), c.image_height = JDIMENSION(im.height);
  c.input_components = int(im.channels);
  c.in_color_space = im.channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&c);
  jpeg_set_quality(&c, quality, TRUE);
  jpeg_start_compress(&c, TRUE);
  while (c.next_scanline < c.image_height) {
    JSAMPROW row = const_cast<uint8_t*>(im.row(c.next_scanline));
    jpeg_write_scanlines(&c, &row, 1);
  }
  jpeg_finish_compress(&c);
  jpeg_destroy_compress(&c);
  std::fclose(f);
}

// The stripes task as an image folder (n_val >= 10 so that both splits hold every class):
// dir/{train,val}/class<c>/<i>.(png|jpg), RGB, sizes 28..43 x 28..43 (the
// stripes are drawn on the 28x28 grid and stretched, so classes keep their look), PNG and JPEG alternating.
inline void write_stripes_folder(const std::filesystem::path& dir, int64_t n_train, int64_t n_val) {
  std::vector<uint8_t> im, lb;
  for (const char* split : {"train", "val"}) {
    const bool train = std::string(split) == "train";
    const int64_t n = train ? n_train : n_val;
    stripes_task(n, train ? 21 : 22, im, lb, /*cyclic=*/true);
    for (int64_t i = 0; i < n; ++i) {
      const auto cdir = dir / split / ("class" + std::to_string(lb[size_t(i)]));
      std::filesystem::create_directories(cdir);
      const int64_t W = 28 + int64_t(Rng::bits(5, uint64_t(i)) % 16), H = 28 + int64_t(Rng::bits(6, uint64_t(i)) % 16);
      Image out = Image::blank(W, H, 3);
      for (int64_t y = 0; y < H; ++y)
        for (int64_t x = 0; x < W; ++x) {
          const uint8_t v = im[size_t(i * 784 + (y * 28 / H) * 28 + x * 28 / W)];
          out.row(y)[3 * x] = v, out.row(y)[3 * x + 1] = uint8_t(255 - v), out.row(y)[3 * x + 2] = uint8_t(v / 2);
        }
      const std::string name = (cdir / std::to_string(i)).string();
      if (i % 2) write_jpeg(name + ".jpg", out);
      else write_png(name + ".png", out);
    }
  }
}

// The same under the temp directory, as tapevit_<name>; returns its path.
inline std::string make_stripes_mnist(const std::string& name, int64_t n_train, int64_t n_test) {
  const auto dir = std::filesystem::temp_directory_path() / ("tapevit_" + name);
  write_stripes_mnist(dir, n_train, n_test);
  return dir.string();
}

// A CIFAR-10 binary directory (data_batch_1..5.bin, test_batch.bin) of noise images labelled i % 10: for
// tests of shapes and messages, not of learning.
inline void write_noise_cifar(const std::filesystem::path& dir, int64_t per_batch) {
  std::filesystem::create_directories(dir);
  uint64_t x = 1;
  auto file = [&](const std::string& name) {
    std::ofstream f(dir / name, std::ios::binary);
    for (int64_t i = 0; i < per_batch; ++i) {
      f.put(char(i % 10));
      for (int p = 0; p < 3 * 32 * 32; ++p) f.put(char((x = x * 6364136223846793005ull + 1442695040888963407ull) >> 56));
    }
  };
  for (int b = 1; b <= 5; ++b) file("data_batch_" + std::to_string(b) + ".bin");
  file("test_batch.bin");
}

}  // namespace tapevit::test
