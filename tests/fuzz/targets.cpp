// tests/fuzz/targets.cpp: the fuzz targets (see targets.h). Each writes the input where the reader expects a file
// and calls tapevit as the command does; models are tiny and fixed (tiny_vit in targets.h), so that what is fuzzed is the reading.
#include "targets.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <stdexcept>
#include <streambuf>

#include "../../src/cli/args.h"
#include "tapevit/data/dataset.h"
#include "tapevit/data/image.h"
#include "tapevit/error.h"
#include "tapevit/io/checkpoint.h"
#include "tapevit/io/npy.h"
#include "tapevit/io/pretrained.h"
#include "tapevit/io/safetensors.h"
#include "tapevit/layers/vit.h"
#include "tapevit/optim/optimizer.h"
#include "tapevit/train/config.h"

namespace tapevit::fuzz {

namespace fs = std::filesystem;

namespace {


std::string write_input(const std::string& name, const uint8_t* data, size_t size) {
  const std::string path = (fs::path(scratch_dir()) / name).string();
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) throw std::runtime_error("fuzz: cannot write " + path);
  if (size && std::fwrite(data, 1, size, f) != size) throw std::runtime_error("fuzz: short write to " + path);
  std::fclose(f);
  return path;
}

// The input cut in two at its first 4 bytes: the first 3 a little-endian length of the first part (clamped to what
// is there), the 4th free for flags.
std::pair<std::string, std::string> split2(const uint8_t* data, size_t size) {
  if (size < 4) return {std::string(reinterpret_cast<const char*>(data), size), ""};
  size_t n = size_t(data[0]) | size_t(data[1]) << 8 | size_t(data[2]) << 16;
  n = std::min(n, size - 4);
  const char* p = reinterpret_cast<const char*>(data) + 4;
  return {std::string(p, n), std::string(p + n, size - 4 - n)};
}

// std::cout swallowed while a command runs (its output is not what is tested).
struct Quiet {
  struct Null : std::streambuf {
    int overflow(int c) override { return c; }
    std::streamsize xsputn(const char*, std::streamsize n) override { return n; }
  } null;
  std::streambuf* old = std::cout.rdbuf(&null);
  ~Quiet() { std::cout.rdbuf(old); }
};

// Runs a target's steps, keeping the first Error's message (the input's outcome; the steps after it still run).
struct Steps {
  Outcome out{true, ""};
  template <class F>
  bool run(F&& f) {
    try {
      f();
      return true;
    } catch (const Error& e) {
      if (out.error.empty()) out.error = e.what();
      return false;
    }
  }
};

// An import of the file's weights into the tiny model, strict and not (the second resamples and adapts what the
// first refuses).
void weights_into_tiny(Steps& s, const std::string& path) {
  VisionTransformer<float> model(tiny_vit(), 0);
  s.run([&] { (void)load_pretrained(path, model.params(), tiny_vit(), /*strict=*/true); });
  s.run([&] { (void)load_pretrained(path, model.params(), tiny_vit(), /*strict=*/false); });
}

// .safetensors: the reader, every float tensor converted, then an import into the tiny model (timm's renames,
// pos_embed resampling, patch_embed channel adaptation, the architecture checks). Accepted: the reader took it
// (other weights than a ViT's are then refused by the import).
Outcome run_safetensors(const uint8_t* data, size_t size) {
  const std::string path = write_input("in.safetensors", data, size);
  Steps s;
  s.out.accepted = s.run([&] {
    SafetensorsFile st(path);
    for (const auto& t : st.tensors())
      if (t.dtype == "F32" || t.dtype == "F16" || t.dtype == "BF16") (void)st.read_f32(t);
  });
  if (s.out.accepted) weights_into_tiny(s, path);
  return s.out;
}

// A tapevit checkpoint (.h5): `tapevit info --verify`, then (if it passes) `info --tensors --config`, the config and
// training state, a resume's load (weights, AdamW state, EMA) into the tiny model, and an import of its weights
// (init = an .h5). Accepted: the resume's load succeeded.
Outcome run_checkpoint(const uint8_t* data, size_t size) {
  const std::string path = write_input("in.h5", data, size);
  Quiet q;
  Steps s;
  // damaged: nothing else runs (every reader verifies the digest before libhdf5 and would say the same)
  if (!s.run([&] { (void)cli::cmd_info({path, "--verify"}); })) return {false, s.out.error};
  s.run([&] { (void)cli::cmd_info({path, "--tensors", "--config"}); });
  s.run([&] { (void)resolve_config(parse_ini_text(read_checkpoint_meta(path).config_ini, path, 0)); });
  s.out.accepted = s.run([&] {
    VisionTransformer<float> model(tiny_vit(), 0), ema(tiny_vit(), 0);
    auto opt = make_optimizer(OptimConfig{}, model.params());
    (void)load_checkpoint(path, model.params(), opt.get(), checkpoint_has_ema(path) ? &ema.params() : nullptr);
  });
  weights_into_tiny(s, path);
  return s.out;
}

// MNIST-format IDX pairs: part 1 is the images file, part 2 the labels file (split2); the 4th byte's low bit names
// them .gz (zlib then reads a gzip stream, or plain bytes as they are).
Outcome run_idx(const uint8_t* data, size_t size) {
  const bool gz = size >= 4 && (data[3] & 1);
  const auto [images, labels] = split2(data, size);
  const fs::path dir = fs::path(scratch_dir()) / "idx";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string ext = gz ? ".gz" : "";
  write_input("idx/t10k-images-idx3-ubyte" + ext, reinterpret_cast<const uint8_t*>(images.data()), images.size());
  write_input("idx/t10k-labels-idx1-ubyte" + ext, reinterpret_cast<const uint8_t*>(labels.data()), labels.size());
  Steps s;
  s.out.accepted = s.run([&] { (void)load_dataset("fashion-mnist", dir.string(), /*train=*/false); });
  return s.out;
}

// A CIFAR-10 binary batch (test_batch.bin).
Outcome run_cifar(const uint8_t* data, size_t size) {
  const std::string dir = (fs::path(scratch_dir()) / "cifar").string();
  fs::create_directories(dir);
  write_input("cifar/test_batch.bin", data, size);
  Steps s;
  s.out.accepted = s.run([&] { (void)load_dataset("cifar10", dir, /*train=*/false); });
  return s.out;
}

// A .npy file (predict's input): read, and the data must hold what the shape says (predict indexes it by the shape).
Outcome run_npy(const uint8_t* data, size_t size) {
  const std::string path = write_input("in.npy", data, size);
  Steps s;
  s.out.accepted = s.run([&] {
    const NpyArray a = read_npy(path);
    const size_t held = a.dtype == "float32" ? a.f32.size() : a.u8.size();
    if (int64_t(held) != a.shape.numel()) std::abort();
  });
  return s.out;
}

// An INI config file: parsed, then resolved (presets, checks of every key), as `tapevit train --config`.
Outcome run_ini(const uint8_t* data, size_t size) {
  const std::string path = write_input("in.ini", data, size);
  Steps s;
  s.out.accepted = s.run([&] { (void)resolve_config(read_config_file(path)); });
  return s.out;
}

// A command line: the input's NUL-separated words as `tapevit train WORDS...` up to the point where training would
// start (parsing with timm's flags, config files named by it, resolution). Words naming special files (/dev, /proc,
// /sys) are dropped: reading one could block, which is the user's choice and not a reader's fault.
Outcome run_cli(const uint8_t* data, size_t size) {
  std::vector<std::string> args;
  std::string word;
  for (size_t i = 0; i <= size; ++i) {
    if (i == size || data[i] == 0) {
      if (word.find("/dev") == std::string::npos && word.find("/proc") == std::string::npos &&
          word.find("/sys") == std::string::npos)
        args.push_back(word);
      word.clear();
    } else {
      word += char(data[i]);
    }
  }
  Quiet q;
  Steps s;
  s.out.accepted = s.run([&] {
    namespace po = boost::program_options;
    po::options_description fixed("train options");
    fixed.add_options()("help,h", "")("config", po::value<std::vector<std::string>>(), "")(
        "resume", po::value<std::string>(), "")("force", po::bool_switch(), "");
    po::variables_map vm;
    const ConfigValues from_cli = cli::parse_command(args, fixed, config_keys_for(kTrainCommand), vm);
    ConfigValues values;
    cli::overlay_config_files(values, vm);
    cli::overlay(values, from_cli);
    (void)resolve_config(values);
  });
  return s.out;
}

// A JPEG or PNG file, decoded to RGB or grey (odd or even size: both formats start with an odd byte).
Outcome run_image(const uint8_t* data, size_t size) {
  const int channels = size & 1 ? 1 : 3;
  Steps s;
  s.out.accepted = s.run([&] {
    const Image im = decode_image(data, size, channels, "fuzz input");
    if (int64_t(im.pixels.size()) != im.width * im.height * im.channels) std::abort();
  });
  return s.out;
}

}  // namespace

const std::vector<Target>& targets() {
  static const std::vector<Target> all = {
      {"safetensors", run_safetensors, "safetensors reader, timm weight import (load_pretrained)"},
      {"checkpoint", run_checkpoint,
       "HDF5 checkpoints: digest check, tapevit info, load_checkpoint (resume), load_pretrained of an .h5"},
      {"idx", run_idx, "MNIST/Fashion-MNIST IDX files, raw and gzip"},
      {"cifar", run_cifar, "CIFAR-10 binary batches"},
      {"npy", run_npy, ".npy arrays (predict's input)"},
      {"ini", run_ini, "INI config files and their resolution"},
      {"cli", run_cli, "the train command line (timm flags, --config files) and its resolution"},
      {"image", run_image, "JPEG and PNG decoding (libjpeg-turbo, libpng, PIL's conversions)"},
  };
  return all;
}

const Target& target(const std::string& name) {
  for (const Target& t : targets())
    if (name == t.name) return t;
  throw std::invalid_argument("no fuzz target '" + name + "'");
}

const std::string& scratch_dir() {
  static const std::string dir = [] {
    const fs::path base = fs::is_directory("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
    const fs::path d = base / ("tapevit_fuzz_" + std::to_string(::getpid()));
    fs::create_directories(d);
    return d.string();
  }();
  return dir;
}

void remove_scratch() {
  std::error_code ec;
  fs::remove_all(scratch_dir(), ec);
}

}  // namespace tapevit::fuzz
