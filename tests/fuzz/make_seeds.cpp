// tests/fuzz/make_seeds.cpp: writes the fuzz targets' seed corpora (valid inputs of each reader) into
// tests/fuzz/corpus/<target>/. The committed seeds came from this program; rerun it when a format changes:
//   build/tests/make_fuzz_seeds tests/fuzz/corpus SOURCE_DIR
#include <zlib.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "tapevit/io/checkpoint.h"
#include "tapevit/io/npy.h"
#include "tapevit/io/pretrained.h"
#include "tapevit/io/vit_json.h"
#include "tapevit/layers/vit.h"
#include "tapevit/optim/optimizer.h"
#include "tapevit/train/config.h"
#include "targets.h"

using namespace tapevit;
namespace fs = std::filesystem;

namespace {


std::string read_all(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void write(const fs::path& p, const std::string& bytes) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << bytes;
}

std::string be32(uint32_t x) {
  return {char(x >> 24), char(x >> 16), char(x >> 8), char(x)};
}
std::string le32(uint32_t x) {
  return {char(x), char(x >> 8), char(x >> 16), char(x >> 24)};
}

std::string gzip(const std::string& raw) {
  const std::string tmp = (fs::temp_directory_path() / "tapevit_seed.gz").string();
  gzFile g = gzopen(tmp.c_str(), "wb9");
  gzwrite(g, raw.data(), unsigned(raw.size()));
  gzclose(g);
  std::string out = read_all(tmp);
  fs::remove(tmp);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: make_fuzz_seeds CORPUS_DIR SOURCE_DIR\n";
    return 2;
  }
  const fs::path out = argv[1], src = argv[2];

  // safetensors and checkpoint: the tiny model's weights, a checkpoint with AdamW state, EMA and two epochs of
  // metrics, and the same checkpoint without its digest (as written before tapevit kept one)
  VisionTransformer<float> model(fuzz::tiny_vit(), 1), ema(fuzz::tiny_vit(), 2);
  fs::create_directories(out / "safetensors");
  export_safetensors((out / "safetensors" / "tiny.safetensors").string(), model.params(), {{"note", "seed"}});
  TrainConfig cfg;
  cfg.vit = fuzz::tiny_vit();
  CheckpointMeta meta;
  meta.config_ini = config_to_ini(cfg);
  meta.model_config_json = vit_config_to_json(cfg.vit).dump();
  meta.optimizer = "adamw";
  meta.run_id = "seed";
  meta.class_names = {"a", "b", "c"};
  auto opt = make_optimizer(OptimConfig{}, model.params());
  TrainState st;
  st.epoch = 2, st.global_step = 20, st.step_in_epoch = 3, st.lr = 1e-3, st.best_top1 = 50, st.best_epoch = 1;
  st.metrics = {{1, 1.0, 1.1, 40, 100, 1e-3, 1.5}, {2, 0.9, 1.0, 50, 100, 1e-3, 1.4}};
  fs::create_directories(out / "checkpoint");
  const fs::path ckpt = out / "checkpoint" / "tiny.h5";
  save_checkpoint(ckpt.string(), meta, model.params(), opt.get(), st, &ema.params());
  std::string undigested = read_all(ckpt);
  std::memset(undigested.data(), 0, 16);  // "TAPEVIT-DIGEST 1" gone: an old file, read by libhdf5 unverified
  write(out / "checkpoint" / "tiny_no_digest.h5", undigested);

  // idx: 3 images of 4x4 and their labels in split2's framing (3-byte length of the images file, a flags byte),
  // raw (flags 0) and .gz (flags 1)
  std::string images = be32(0x803) + be32(3) + be32(4) + be32(4), labels = be32(0x801) + be32(3);
  for (int i = 0; i < 48; ++i) images += char(i * 5);
  labels += std::string{0, 1, 9};
  const std::string raw = le32(uint32_t(images.size())) + images + labels;
  write(out / "idx" / "raw", raw);
  const std::string gi = gzip(images), gl = gzip(labels);
  write(out / "idx" / "gz", le32(uint32_t(gi.size()) | 1u << 24) + gi + gl);

  // cifar: two records
  std::string cifar;
  for (int r = 0; r < 2; ++r) {
    cifar += char(r * 7);
    for (int i = 0; i < 3072; ++i) cifar += char((i * 31 + r) & 255);
  }
  write(out / "cifar" / "two_records.bin", cifar);

  // npy: float32 (2, 1, 4, 4) by tapevit's writer, and uint8 (1, 3, 2, 2) in numpy's version 1.0 layout
  std::vector<float> x(32);
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(i) / 7;
  fs::create_directories(out / "npy");
  write_npy((out / "npy" / "f32.npy").string(), x.data(), {2, 1, 4, 4});
  std::string header = "{'descr': '|u1', 'fortran_order': False, 'shape': (1, 3, 2, 2), }";
  header += std::string(64 - (10 + header.size() + 1) % 64, ' ') + "\n";
  std::string u8 = std::string("\x93NUMPY\x01\x00", 8) + char(header.size() & 255) + char(header.size() >> 8) + header;
  for (int i = 0; i < 12; ++i) u8 += char(i * 20);
  write(out / "npy" / "u8.npy", u8);

  // ini: the shipped configs
  for (const auto& e : fs::directory_iterator(src / "configs"))
    if (e.path().extension() == ".ini") write(out / "ini" / e.path().filename(), read_all(e.path()));

  // cli: command lines (NUL-separated words) in tapevit's and timm's spellings
  const std::vector<std::vector<std::string>> lines = {
      {"--model", "vit_tiny_patch16_224", "--batch-size", "64", "--lr", "5e-4", "--epochs", "3"},
      {"--aa", "rand-m9-mstd0.5-inc1", "--scale", "0.08", "1",
       "--reprob", "0.25", "--remode", "pixel", "--smoothing", "0.1", "--mixup", "0.8"},
      {"--dataset", "folder", "--data_dir", "images", "--img_size", "32", "--crop_pct", "0.875", "-j", "2",
       "--model-ema", "--model-ema-decay", "0.999", "--opt", "sgd", "--momentum", "0.9", "--gp", "avg"},
  };
  for (size_t i = 0; i < lines.size(); ++i) {
    std::string joined;
    for (size_t w = 0; w < lines[i].size(); ++w) joined += (w ? std::string(1, '\0') : "") + lines[i][w];
    write(out / "cli" / ("line" + std::to_string(i)), joined);
  }

  // image: the decoder fixtures that are valid images
  for (const auto& e : fs::directory_iterator(src / "tests" / "fixtures" / "images")) {
    const std::string n = e.path().filename().string();
    if (n.rfind("corrupt", 0) && n.rfind("empty", 0) && n.rfind("not_image", 0) && n.rfind("truncated", 0))
      write(out / "image" / n, read_all(e.path()));
  }
  std::cout << "seeds written to " << out.string() << "\n";
  return 0;
}
