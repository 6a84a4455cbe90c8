// src/cli/cmd_weights.cpp: weights in and out of tapevit: `tapevit export` (to timm's safetensors) and
// `tapevit predict` (logits of .npy images from a checkpoint or imported weights).
#include <omp.h>

#include <filesystem>
#include <iostream>

#include "args.h"
#include "tapevit/io/atomic_file.h"
#include "tapevit/io/checkpoint.h"
#include "tapevit/io/npy.h"
#include "tapevit/io/pretrained.h"
#include "tapevit/train/train.h"

namespace tapevit::cli {

int cmd_export(const std::vector<std::string>& args) {
  po::options_description desc("export options");
  desc.add_options()("help,h", "show this help")("checkpoint", po::value<std::string>()->value_name("CKPT"),
                                                   "tapevit checkpoint to export (its config gives the architecture)")(
      "out", po::value<std::string>()->value_name("FILE"), "the .safetensors file to write (timm's names and shapes, float32)")(
      "hub_config", po::bool_switch(), "also write config.json beside it in timm's Hugging Face Hub layout");
  po::variables_map vm;
  parse_args(args, desc, vm);
  if (vm.count("help")) {
    std::cout << "usage: tapevit export --checkpoint CKPT --out model.safetensors [--hub_config]\n\n" << desc << "\n";
    return 0;
  }
  if (!vm.count("checkpoint") || !vm.count("out")) throw UsageError("export needs --checkpoint CKPT and --out FILE");
  const std::string path = vm["checkpoint"].as<std::string>(), out = vm["out"].as<std::string>();
  namespace fs = std::filesystem;
  if (fs::path(out).extension() != ".safetensors")
    throw UsageError("--out " + out + ": the weights are written as safetensors; name the file *.safetensors");
  TrainConfig cfg = resolve_config(parse_ini_text(read_checkpoint_meta(path).config_ini, path, 0));
  VisionTransformer<float> model(cfg.vit, cfg.seed);
  load_checkpoint<float>(path, model.params(), nullptr);
  if (fs::path(out).has_parent_path()) fs::create_directories(fs::path(out).parent_path());
  export_safetensors(out, model.params(), {{"tapevit_checkpoint", path}});
  std::cout << "wrote " << out << ": " << model.params().size() << " tensors, " << model.params().numel()
            << " parameters (float32, timm's state_dict names)\n";
  if (vm["hub_config"].as<bool>()) {
    bind_normalisation_defaults(cfg);  // the dataset's mean/std when the config left them empty
    const std::string json_path = (fs::path(out).parent_path() / "config.json").string();
    const std::string arch = architecture_name(cfg.vit);
    write_file_atomic(json_path, timm_hub_config(arch, cfg.vit, cfg.aug.mean, cfg.aug.std));
    std::cout << "wrote " << json_path << ": architecture " << arch
              << (is_timm_name(arch) ? "" : " (not a timm model name: build it in timm with timm.create_model("
                                            "'vit_tiny_patch16_224', **model_args), model_args set every architecture "
                                            "argument)")
              << "\n";
  }
  return 0;
}

int cmd_predict(const std::vector<std::string>& args) {
  po::options_description fixed("predict options");
  fixed.add_options()("help,h", "show this help")("input", po::value<std::string>()->value_name("NPY"),
                                                    "images: float32 (N, C, H, W) already normalised, or uint8 (N, C, H, W) "
                                                    "or (N, H, W), normalised by the config's mean/std")(
      "out", po::value<std::string>()->value_name("NPY"), "logits (N, num_classes), float32")(
      "checkpoint", po::value<std::string>()->value_name("CKPT"), "weights and config from a tapevit checkpoint")(
      "config", po::value<std::vector<std::string>>()->value_name("FILE"), "config file(s) for the architecture (with --init)");
  // the architecture and the weights (no training-only keys such as dropout), normalisation, batching
  const std::vector<std::string> keys = {"model",     "img_size",    "patch_size", "in_chans",   "num_classes",
                                         "embed_dim", "depth",       "num_heads",  "mlp_ratio",  "qkv_bias",
                                         "init_values", "global_pool", "class_token", "reg_tokens", "no_embed_class",
                                         "pre_norm",  "norm_eps",    "act_layer",  "fc_norm",    "final_norm",
                                         "distilled", "init",        "init_strict", "dataset",
                                         "mean",      "std",         "validation_batch_size", "batch_size", "threads"};
  po::variables_map vm;
  ConfigValues cli = parse_command(args, fixed, keys, vm);
  if (vm.count("help")) {
    std::cout << "usage: tapevit predict --input images.npy --out logits.npy (--checkpoint CKPT | --init WEIGHTS "
                 "[--config FILE] [--KEY VALUE ...])\n\n"
              << fixed << "\nconfig keys (with --checkpoint each defaults to the checkpoint's value; with --init they "
                          "describe the architecture of the weights):\n";
    print_keys_help(std::cout, keys);
    return 0;
  }
  if (!vm.count("input") || !vm.count("out")) throw UsageError("predict needs --input NPY and --out NPY");
  if (vm.count("checkpoint") == cli.count("init"))
    throw UsageError("predict needs weights from exactly one of --checkpoint CKPT and --init WEIGHTS");
  ConfigValues values;
  const std::string ckpt = vm.count("checkpoint") ? vm["checkpoint"].as<std::string>() : "";
  if (!ckpt.empty()) values = parse_ini_text(read_checkpoint_meta(ckpt).config_ini, ckpt, 0);
  overlay_config_files(values, vm);
  overlay(values, cli);
  if (ckpt.empty()) layer_hub_config(values, std::cerr);
  TrainConfig cfg = resolve_config(values);
  print_notes(std::cerr, cfg);  // stdout may be a pipe of results
  if (cfg.threads > 0) omp_set_num_threads(int(cfg.threads));
  VisionTransformer<float> model(cfg.vit, cfg.seed);
  if (!ckpt.empty())
    load_checkpoint<float>(ckpt, model.params(), nullptr);
  else
    std::cerr << load_pretrained(cfg.init, model.params(), cfg.vit, cfg.init_strict).table();

  const std::string in_path = vm["input"].as<std::string>();
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
  const std::string out = vm["out"].as<std::string>();
  write_npy(out, logits.data(), {n, K});
  std::cout << "wrote " << out << ": logits [" << n << ", " << K << "]\n";
  return 0;
}

}  // namespace tapevit::cli
