// src/cli/cmd_weights.cpp: weights in and out of tapevit: `tapevit export` (to timm's safetensors, and its Hub
// config.json) and `tapevit predict` (a checkpoint's or imported timm weights' top-5 classes per image as CSV, or
// logits as .npy, of a JPEG/PNG file, a folder of them or a .npy of images).
#include <omp.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <numeric>
#include <sstream>

#include "args.h"
#include "tapevit/gemm.h"
#include "tapevit/io/atomic_file.h"
#include "tapevit/io/checkpoint.h"
#include "tapevit/io/npy.h"
#include "tapevit/io/pretrained.h"
#include "tapevit/data/loader.h"
#include "tapevit/train/hub_config.h"
#include "tapevit/train/report.h"
#include "tapevit/train/train.h"

namespace tapevit::cli {

namespace fs = std::filesystem;

int cmd_export(const std::vector<std::string>& args) {
  po::options_description desc("export options");
  desc.add_options()("help,h", "show this help")("checkpoint", po::value<std::string>()->value_name("CKPT"),
                                                   "tapevit checkpoint to export (its config gives the architecture)")(
      "out", po::value<std::string>()->value_name("FILE"), "the .safetensors file to write (timm's names and shapes, float32)")(
      "hub_config", po::bool_switch(), "also write config.json beside it in timm's Hugging Face Hub layout")(
      "ema", po::bool_switch(), "export the checkpoint's EMA weights (runs trained with model_ema)");
  po::variables_map vm;
  parse_args(args, desc, vm);
  if (vm.count("help")) {
    std::cout << "usage: tapevit export --checkpoint CKPT --out model.safetensors [--hub_config] [--ema]\n\n" << desc << "\n";
    return 0;
  }
  if (!vm.count("checkpoint") || !vm.count("out")) throw UsageError("export needs --checkpoint CKPT and --out FILE");
  const std::string path = vm["checkpoint"].as<std::string>(), out = vm["out"].as<std::string>();
  namespace fs = std::filesystem;
  if (fs::path(out).extension() != ".safetensors")
    throw UsageError("--out " + out + ": the weights are written as safetensors; name the file *.safetensors");
  note_if_undigested(std::cout, path);
  const CheckpointMeta meta = read_checkpoint_meta(path);
  TrainConfig cfg = resolve_config(parse_ini_text(meta.config_ini, path, 0));
  VisionTransformer<float> model(cfg.vit, cfg.seed);
  load_checkpoint_weights<float>(path, model.params(), vm["ema"].as<bool>());
  if (fs::path(out).has_parent_path()) fs::create_directories(fs::path(out).parent_path());
  export_safetensors(out, model.params(), {{"tapevit_checkpoint", path}, {"weights", vm["ema"].as<bool>() ? "ema" : "model"}});
  std::cout << "wrote " << out << ": " << model.params().size() << " tensors, " << model.params().numel()
            << " parameters (float32, timm's state_dict names)\n";
  const std::string not_timm = timm_cannot_build(cfg.vit);
  if (vm["hub_config"].as<bool>()) {
    bind_normalisation_defaults(cfg);  // the dataset's mean/std when the config left them empty
    const std::string json_path = (fs::path(out).parent_path() / "config.json").string();
    const std::string arch = architecture_name(cfg.vit);
    // the run's own eval transform and classes, so that timm sets up the transform tapevit measured with
    HubDataConfig data{cfg.aug.mean, cfg.aug.std, cfg.aug.image.crop_pct, interpolation_name(cfg.aug.image.interpolation), meta.class_names};
    if (data.label_names.empty()) data.label_names = data_set_kind(cfg.dataset).class_names;
    write_file_atomic(json_path, timm_hub_config(arch, cfg.vit, data));
    std::cout << "wrote " << json_path << ": architecture " << arch
              << (is_timm_name(arch) || !not_timm.empty()
                      ? ""
                      : " (not a timm model name: build it in timm with timm.create_model("
                        "'vit_tiny_patch16_224', **model_args), model_args set every architecture argument)")
              << "\n";
  }
  if (!not_timm.empty())  // the files are written for tapevit, which reads them back
    std::cout << "note: " << not_timm << ". tapevit reads them back: --init " << out
              << (vm["hub_config"].as<bool>()
                      ? " (config.json beside it gives num_kv_heads)"
                      : " --num_heads " + std::to_string(cfg.vit.num_heads) + " (the qkv rows then give num_kv_heads " +
                            std::to_string(cfg.vit.kv_heads()) + ")")
              << "\n";
  return 0;
}

namespace {

std::string lower(std::string s) {
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Logits of the images in a .npy (float32 normalised, or uint8 normalised here by the config's mean/std).
std::vector<float> predict_npy(const VisionTransformer<float>& model, TrainConfig& cfg, const std::string& in_path) {
  NpyArray a = read_npy(in_path);
  const VitConfig& v = cfg.vit;
  Shape want{a.shape.rank ? a.shape[0] : 0, v.in_chans, v.img_size, v.img_size};
  const bool gray3 = a.dtype == "uint8" && v.in_chans == 1 && a.shape.rank == 3;  // (N, H, W) images
  if (!(a.shape == want) && !(gray3 && a.shape[1] == v.img_size && a.shape[2] == v.img_size))
    fail(in_path, ": images of shape ", a.shape, ", expected [N, ", v.in_chans, ", ", v.img_size, ", ", v.img_size,
         "] for this model (in_chans ", v.in_chans, ", img_size ", v.img_size, ")");
  const int64_t n = want[0], per = v.in_chans * v.img_size * v.img_size;
  std::vector<float> images;
  if (a.dtype == "uint8") {
    bind_normalisation_defaults(cfg);
    const std::vector<double>&mean = cfg.aug.mean, &stdv = cfg.aug.std;
    images.resize(a.u8.size());
    for (int64_t i = 0; i < n * per; ++i) {
      const size_t c = mean.size() == 1 ? 0 : size_t((i % per) / (v.img_size * v.img_size));
      images[size_t(i)] = float((a.u8[size_t(i)] / 255.0 - mean[c]) / stdv[c]);
    }
  } else {
    images = std::move(a.f32);
  }
  const int64_t K = v.num_classes > 0 ? v.num_classes : v.embed_dim;
  std::vector<float> logits(size_t(n * K));
  const int64_t batch = cfg.validation_batch_size > 0 ? cfg.validation_batch_size : cfg.batch_size;
  predict(model, images.data(), n, batch, logits.data());
  return logits;
}

// Logits of an image file or of every image under a folder (recursively, sorted by path), through timm's eval
// transform and the batch pipeline. files: the images, in the logits' order. A file that cannot be read or decoded
// stops predict naming it, or with skip_bad is left out: when a batch fails, each of its files is decoded alone to
// find the bad ones (with skip_bad each is said on stderr with its error, and counted in `skipped`), and the
// pipeline restarts at that batch without them, so a good folder is decoded once.
std::vector<float> predict_images(const VisionTransformer<float>& model, TrainConfig& cfg, const std::string& in_path,
                                  std::vector<std::string>& files, int64_t& skipped) {
  if (fs::is_directory(in_path)) {
    for (const auto& e : fs::recursive_directory_iterator(in_path, fs::directory_options::follow_directory_symlink)) {
      if (e.is_regular_file() && is_image_name(e.path().string())) files.push_back(e.path().string());
    }
    std::sort(files.begin(), files.end());
    if (files.empty()) fail("--input ", in_path, ": no .jpg, .jpeg or .png file in this folder");
  } else {
    if (!fs::exists(in_path)) fail("--input ", in_path, ": no such file or folder");
    files.push_back(in_path);
  }
  bind_normalisation_defaults(cfg);
  const VitConfig& v = cfg.vit;
  const int64_t K = v.num_classes > 0 ? v.num_classes : v.embed_dim;
  const int64_t B = cfg.validation_batch_size > 0 ? cfg.validation_batch_size : cfg.batch_size;
  std::vector<float> logits;
  size_t done = 0;  // files[0, done) are predicted
  while (done < files.size()) {
    Dataset d;
    d.name = "folder";
    d.n = int64_t(files.size() - done), d.channels = v.in_chans, d.height = d.width = v.img_size, d.num_classes = K;
    d.files.assign(files.begin() + long(done), files.end());
    d.labels.assign(d.files.size(), 0);
    BatchLoader loader(d, B, cfg.seed, cfg.aug, /*train=*/false);
    Prefetcher batches(loader, 0, 0, cfg.workers >= 0 ? int(cfg.workers) : default_workers(d));
    for (int64_t s = 0; s < loader.steps_per_epoch(); ++s) {
      const Prefetcher::Batch* b = nullptr;
      try {
        b = &batches.get(0, s);
      } catch (const Error&) {
        // the failing batch is files[done, done + B): which of them cannot be read or decoded, and why
        std::vector<size_t> bad;
        std::string first_why;
        for (size_t i = done; i < std::min(files.size(), done + size_t(B)); ++i) {
          try {
            read_image(files[i], int(v.in_chans));
          } catch (const Error& why) {
            if (bad.empty()) first_why = why.what();
            if (cfg.skip_bad) std::cerr << "skipped " << why.what() << "\n";
            bad.push_back(i);
          }
        }
        if (bad.empty()) throw;  // not a file's fault: skipping cannot help
        if (!cfg.skip_bad)
          fail(first_why, "; --skip_bad leaves out the files that cannot be read or decoded (naming each) and "
                          "predicts the rest");
        for (auto it = bad.rbegin(); it != bad.rend(); ++it) files.erase(files.begin() + long(*it));
        skipped += int64_t(bad.size());
        break;  // restart at this batch without them
      }
      logits.resize((done + size_t(b->n)) * size_t(K));
      predict(model, b->images.data(), b->n, b->n, logits.data() + done * size_t(K));
      done += size_t(b->n);
    }
  }
  if (files.empty()) fail("--input ", in_path, ": no image could be read or decoded (", skipped, " skipped, listed above)");
  return logits;
}

// path, then the top-5 classes (names when known) with their softmax probabilities
std::string predictions_csv(const std::vector<float>& logits, int64_t K, const std::vector<std::string>& files,
                            const std::vector<std::string>& names) {
  const int64_t n = int64_t(logits.size()) / K, top = std::min<int64_t>(5, K);
  std::ostringstream os;
  os << "path";
  for (int64_t t = 1; t <= top; ++t) os << ",top" << t << ",prob" << t;
  os << "\n";
  for (int64_t i = 0; i < n; ++i) {
    const float* z = logits.data() + i * K;
    const float mx = *std::max_element(z, z + K);
    double se = 0;
    for (int64_t k = 0; k < K; ++k) se += std::exp(double(z[k] - mx));
    std::vector<int64_t> order(static_cast<size_t>(K));
    std::iota(order.begin(), order.end(), int64_t(0));
    std::partial_sort(order.begin(), order.begin() + top, order.end(), [&](int64_t a, int64_t b) { return z[a] > z[b]; });
    os << (size_t(i) < files.size() ? csv_field(files[size_t(i)]) : std::to_string(i));
    for (int64_t t = 0; t < top; ++t) {
      const int64_t k = order[size_t(t)];
      os << "," << (size_t(k) < names.size() ? csv_field(names[size_t(k)]) : std::to_string(k)) << "," << std::fixed
         << std::setprecision(6) << std::exp(double(z[k] - mx)) / se << std::defaultfloat;
    }
    os << "\n";
  }
  return os.str();
}

}  // namespace

int cmd_predict(const std::vector<std::string>& args) {
  po::options_description fixed("predict options");
  fixed.add_options()("help,h", "show this help")("input", po::value<std::string>()->value_name("NPY|IMAGE|DIR"),
                                                    "a .npy of float32 (N, C, H, W) already normalised, or uint8 (N, C, H, W) "
                                                    "or (N, H, W), normalised by the config's mean/std; or a JPEG/PNG file or "
                                                    "a folder of them (walked recursively, sorted by path), each resized and "
                                                    "center-cropped by timm's eval transform")(
      "out", po::value<std::string>()->value_name("NPY|CSV|-"),
      "logits.npy: (N, num_classes) float32; preds.csv: per image its path (its index for a .npy input) and the "
      "top-5 classes (top-k with k classes fewer than 5) with their probabilities; -: that CSV on standard output "
      "(notes and the summary go to standard error)")(
      "ema", po::bool_switch(), "use the checkpoint's EMA weights (runs trained with model_ema)")(
      "checkpoint", po::value<std::string>()->value_name("CKPT"), "weights and config from a tapevit checkpoint")(
      "config", po::value<std::vector<std::string>>()->value_name("FILE"),
      "config file(s): the architecture of --init's weights (with --checkpoint they override its config)");
  // the architecture and the weights (no training-only keys such as dropout), normalisation, batching
  const std::vector<std::string> keys = config_keys_for(kPredictCommand);
  po::variables_map vm;
  ConfigValues cli = parse_command(args, fixed, keys, vm);
  if (vm.count("help")) {
    std::cout << "usage: tapevit predict --input images.npy|image.jpg|DIR --out logits.npy|preds.csv|- (--checkpoint CKPT "
                 "[--ema] | --init WEIGHTS) [--config FILE] [--KEY VALUE ...]\n\n"
              << fixed << "\nconfig keys (with --checkpoint each defaults to the checkpoint's value; with --init they "
                          "describe the architecture of the weights):\n";
    print_keys_help(std::cout, keys);
    return 0;
  }
  if (!vm.count("input") || !vm.count("out")) throw UsageError("predict needs --input NPY|IMAGE|DIR and --out NPY|CSV|-");
  if (vm.count("checkpoint") == cli.count("init"))
    throw UsageError("predict needs weights from exactly one of --checkpoint CKPT and --init WEIGHTS");
  const std::string in_path = vm["input"].as<std::string>(), out = vm["out"].as<std::string>();
  const bool to_stdout = out == "-";  // the CSV on standard output; everything else on standard error
  const std::string out_ext = to_stdout ? ".csv" : lower(fs::path(out).extension().string());
  if (out_ext != ".npy" && out_ext != ".csv")
    throw UsageError("--out " + out + ": name it *.npy (logits) or *.csv (top-5 per image), or - (the CSV on standard output)");
  std::ostream& say = to_stdout ? std::cerr : std::cout;
  const bool images_in = fs::is_directory(in_path) || is_image_name(in_path);
  ConfigValues values;
  const std::string ckpt = vm.count("checkpoint") ? vm["checkpoint"].as<std::string>() : "";
  CheckpointMeta meta;
  if (!ckpt.empty()) {
    note_if_undigested(std::cerr, ckpt);
    meta = read_checkpoint_meta(ckpt);
    values = parse_ini_text(meta.config_ini, ckpt, 0);
  }
  overlay_config_files(values, vm);
  overlay(values, cli);
  if (ckpt.empty()) layer_init(values, std::cerr);
  // images from elsewhere and weights from elsewhere: the weights' own normalisation (the preset's pretrained_cfg)
  if (images_in && ckpt.empty() && !values.count("dataset")) values["dataset"] = {"folder", "predict on images"};
  TrainConfig cfg = resolve_config(values);
  if (cfg.skip_bad && !images_in) throw UsageError("--skip_bad applies to image files and folders, not to a .npy input");
  print_notes(std::cerr, cfg);  // stdout may be a pipe of results
  if (cfg.threads > 0) omp_set_num_threads(int(cfg.threads));
  VisionTransformer<float> model(cfg.vit, cfg.seed);
  if (!ckpt.empty()) {
    load_checkpoint_weights<float>(ckpt, model.params(), vm["ema"].as<bool>());
  } else {
    if (vm["ema"].as<bool>()) throw UsageError("--ema needs --checkpoint (imported weights have no EMA)");
    if (fs::path(cfg.init).extension() == ".h5") note_if_undigested(std::cerr, cfg.init);
    std::cerr << load_pretrained(cfg.init, model.params(), cfg.vit, cfg.init_strict).table();
  }
  const VitConfig& v = cfg.vit;
  const int64_t K = v.num_classes > 0 ? v.num_classes : v.embed_dim;
  std::vector<float> logits;
  std::vector<std::string> files;
  int64_t skipped = 0;
  const Bf16Scope amp(cfg.amp);  // --amp: the matrix products on bfloat16 operands
  if (images_in) {
    logits = predict_images(model, cfg, in_path, files, skipped);
  } else {
    logits = predict_npy(model, cfg, in_path);
  }
  const int64_t n = int64_t(logits.size()) / K;
  const std::string skips =
      skipped == 0 ? "" : "; " + std::to_string(skipped) + (skipped == 1 ? " file" : " files") + " skipped (listed above)";
  if (out_ext == ".npy") {
    write_npy(out, logits.data(), {n, K});
    say << "wrote " << out << ": logits [" << n << ", " << K << "]" << skips << "\n";
  } else {
    // the class names: the checkpoint's, those --init's weights carry (weights_class_names), or the data set's
    std::vector<std::string> names = meta.class_names;
    if (names.empty() && !cfg.init.empty()) names = weights_class_names(cfg.init);
    if (names.empty()) names = data_set_kind(cfg.dataset).class_names;
    const std::string csv = predictions_csv(logits, K, files, names);
    if (to_stdout) std::cout << csv << std::flush;
    else write_file_atomic(out, csv);
    say << (to_stdout ? "predicted" : "wrote " + out + ":") << " top-" << std::min<int64_t>(5, K) << " classes of " << n
        << (n == 1 ? " image" : " images") << skips << "\n";
  }
  return 0;
}

}  // namespace tapevit::cli
