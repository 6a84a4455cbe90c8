// src/cli/main.cpp: the `tapevit` command: train, eval, info. The only place that prints errors and exits.
//
//   tapevit train [--config FILE] [--resume CKPT] [--KEY VALUE ...]
//   tapevit eval  --checkpoint CKPT [--KEY VALUE ...]
//   tapevit info  FILE
//   tapevit export --checkpoint CKPT --out model.safetensors [--hub_config]
//   tapevit predict --input images.npy --out logits.npy (--checkpoint CKPT | --init WEIGHTS [--config FILE] [--KEY V])
// Exit codes: 0 success, 1 a run-time error (bad data, checkpoint, non-finite loss, ...), 2 bad usage.
#include <omp.h>
#include <unistd.h>

#include <filesystem>
#include <iomanip>
#include <iostream>
#include <map>

#include <boost/program_options.hpp>

#include "tapevit/io/checkpoint.h"
#include "tapevit/train/config.h"
#include "tapevit/io/h5.h"
#include "tapevit/io/npy.h"
#include "tapevit/io/pretrained.h"
#include "tapevit/train/train.h"

using namespace tapevit;
namespace po = boost::program_options;

namespace {

struct UsageError : Error {
  using Error::Error;
};

const char* kUsage =
    "usage: tapevit <command> [options]\n"
    "commands:\n"
    "  train   train a ViT from a config file and/or command-line keys (tapevit train --help)\n"
    "  eval    evaluate a checkpoint on the test split (tapevit eval --help)\n"
    "  info    show what a checkpoint holds: config, step, metrics, tensors (tapevit info FILE)\n"
    "  export  write a checkpoint's weights as timm-loadable .safetensors (tapevit export --help)\n"
    "  predict logits of images in a .npy file, from a checkpoint or imported weights (tapevit predict --help)\n";

// Every config key as --key VALUE, with its default in the help text.
void add_config_keys(po::options_description& desc, const std::vector<std::string>& sections) {
  TrainConfig defaults;
  apply_preset(defaults.model, defaults.vit);
  for (const auto& k : config_keys()) {
    if (std::find(sections.begin(), sections.end(), k.section) == sections.end()) continue;
    std::string def = config_get(defaults, k.name);
    auto* v = po::value<std::string>()->value_name(def.empty() ? "\"\"" : def);
    if (def == "true" || def == "false") v->implicit_value("true")->value_name(def);  // --no_aug alone means true
    desc.add_options()(k.name.c_str(), v, ("[" + k.section + "] " + k.help).c_str());
  }
}

// Parse argv into fixed options (vm) and config key values (marked "command line").
ConfigValues parse_args(const std::vector<std::string>& args, const po::options_description& desc, po::variables_map& vm,
                        const po::positional_options_description* pos = nullptr) {
  po::parsed_options parsed(&desc);
  try {
    po::command_line_parser p(args);
    p.options(desc).style(po::command_line_style::default_style & ~po::command_line_style::allow_guessing);
    if (pos) p.positional(*pos);
    parsed = p.run();
    po::store(parsed, vm);
    po::notify(vm);
  } catch (const po::unknown_option& e) {
    std::string name = e.get_option_name();
    while (!name.empty() && name[0] == '-') name.erase(0, 1);
    const std::string hint = suggest_config_key(name);
    throw UsageError("unknown option '" + e.get_option_name() + "'" + (hint.empty() ? "" : "; " + hint));
  } catch (const po::error& e) {
    throw UsageError(e.what());
  }
  ConfigValues values;
  for (const auto& o : parsed.options)
    if (find_config_key(o.string_key))  // from vm, which holds the implicit value of a bare boolean flag
      values[o.string_key] = {vm[o.string_key].as<std::string>(), "command line"};
  return values;
}

void overlay(ConfigValues& base, const ConfigValues& top) {
  for (const auto& [k, v] : top) base[k] = v;
}

// Every --config FILE in order, each over what came before.
void overlay_config_files(ConfigValues& values, const po::variables_map& vm) {
  if (vm.count("config"))
    for (const auto& file : vm["config"].as<std::vector<std::string>>()) overlay(values, read_config_file(file));
}

int cmd_train(const std::vector<std::string>& args) {
  po::options_description fixed("train options");
  fixed.add_options()("help,h", "show this help")("config", po::value<std::vector<std::string>>()->value_name("FILE"),
                                                    "INI config file (keys below, in sections [model] [data] [train] [optim]); "
                                                    "may be given more than once, a later file wins")(
      "resume", po::value<std::string>()->value_name("CKPT"),
      "continue the run saved in CKPT (its config, overridden by --config and the keys given here)");
  po::options_description keys("config keys (command line wins over the config file)");
  add_config_keys(keys, {"model", "data", "train", "optim"});
  po::options_description all;
  all.add(fixed).add(keys);
  po::variables_map vm;
  ConfigValues cli = parse_args(args, all, vm);
  if (vm.count("help")) {
    std::cout << "usage: tapevit train [--config FILE] [--resume CKPT] [--KEY VALUE ...]\n\n" << all << "\n";
    return 0;
  }
  ConfigValues values;
  TrainOptions opts;
  if (vm.count("resume")) {
    opts.resume = vm["resume"].as<std::string>();
    values = parse_ini_text(read_checkpoint_meta(opts.resume).config_ini, opts.resume);
  }
  overlay_config_files(values, vm);
  overlay(values, cli);
  TrainConfig cfg = resolve_config(values);
  opts.out = &std::cout;
  opts.tty = isatty(STDOUT_FILENO);
  train(cfg, opts);
  return 0;
}

int cmd_eval(const std::vector<std::string>& args) {
  po::options_description fixed("eval options");
  fixed.add_options()("help,h", "show this help")("checkpoint", po::value<std::string>()->value_name("CKPT"),
                                                    "checkpoint to evaluate (its config gives the model and data)");
  po::options_description keys("config keys (override the checkpoint's)");
  add_config_keys(keys, {"data", "train"});
  po::options_description all;
  all.add(fixed).add(keys);
  po::variables_map vm;
  ConfigValues cli = parse_args(args, all, vm);
  if (vm.count("help")) {
    std::cout << "usage: tapevit eval --checkpoint CKPT [--KEY VALUE ...]\n\n" << all << "\n";
    return 0;
  }
  if (!vm.count("checkpoint")) throw UsageError("eval needs --checkpoint CKPT");
  const std::string path = vm["checkpoint"].as<std::string>();
  ConfigValues values = parse_ini_text(read_checkpoint_meta(path).config_ini, path);
  overlay(values, cli);
  TrainConfig cfg = resolve_config(values);
  if (cfg.threads > 0) omp_set_num_threads(int(cfg.threads));
  bind_data_defaults(cfg);
  VisionTransformer<float> model(cfg.vit, cfg.seed);
  TrainState st = load_checkpoint<float>(path, model.params(), nullptr);
  Dataset test = load_dataset(cfg.dataset, cfg.data_dir, false);
  select_classes(test, std::vector<int64_t>(cfg.classes.begin(), cfg.classes.end()), 0);
  check_data_fits(cfg, test);
  EvalResult r = evaluate(model, test, cfg);
  std::cout << std::fixed << std::setprecision(4) << "eval " << path << " (epoch " << st.epoch << ", step "
            << st.global_step << ") on " << cfg.dataset << " test, " << r.n << " images: loss " << r.loss << "  top1 "
            << std::setprecision(2) << r.top1 << "%  top5 " << r.top5 << "%  (" << std::setprecision(0)
            << double(r.n) / r.seconds << " img/s)\n";
  return 0;
}

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
  TrainConfig cfg = resolve_config(parse_ini_text(read_checkpoint_meta(path).config_ini, path));
  VisionTransformer<float> model(cfg.vit, cfg.seed);
  load_checkpoint<float>(path, model.params(), nullptr);
  export_safetensors(out, model.params(), {{"tapevit_checkpoint", path}});
  std::cout << "wrote " << out << ": " << model.params().size() << " tensors, " << model.params().numel()
            << " parameters (float32, timm's state_dict names)\n";
  if (vm["hub_config"].as<bool>()) {
    // timm builds the model from model_args; the architecture names a timm ViT it starts from
    const bool timm_preset = cfg.model.rfind("vit_", 0) == 0 && cfg.model.find("_patch16_224") != std::string::npos;
    bind_normalisation_defaults(cfg);  // the dataset's mean/std when the config left them empty
    const std::string json_path = (std::filesystem::path(out).parent_path() / "config.json").string();
    write_file_atomic(json_path, timm_hub_config(timm_preset ? cfg.model : "vit_tiny_patch16_224", cfg.vit,
                                                 cfg.aug.mean, cfg.aug.std));
    std::cout << "wrote " << json_path << "\n";
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
  po::options_description keys("config keys (the architecture for --init: a preset and/or keys)");
  add_config_keys(keys, {"model", "data", "train"});
  po::options_description all;
  all.add(fixed).add(keys);
  po::variables_map vm;
  ConfigValues cli = parse_args(args, all, vm);
  if (vm.count("help")) {
    std::cout << "usage: tapevit predict --input images.npy --out logits.npy (--checkpoint CKPT | --init WEIGHTS "
                 "[--config FILE] [--KEY VALUE ...])\n\n"
              << all << "\n";
    return 0;
  }
  if (!vm.count("input") || !vm.count("out")) throw UsageError("predict needs --input NPY and --out NPY");
  if (vm.count("checkpoint") == cli.count("init"))
    throw UsageError("predict needs weights from exactly one of --checkpoint CKPT and --init WEIGHTS");
  ConfigValues values;
  const std::string ckpt = vm.count("checkpoint") ? vm["checkpoint"].as<std::string>() : "";
  if (!ckpt.empty()) values = parse_ini_text(read_checkpoint_meta(ckpt).config_ini, ckpt);
  overlay_config_files(values, vm);
  overlay(values, cli);
  TrainConfig cfg = resolve_config(values);
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

void list_datasets(const H5File& f, const std::string& group, std::ostream& os) {
  for (const auto& name : f.list(group)) {
    const std::string path = group == "/" ? name : group + "/" + name;
    try {
      Shape s = f.shape(path);
      os << "  " << std::left << std::setw(52) << path << " " << std::setw(18) << s.str() << " " << f.dtype(path) << "\n";
    } catch (const Error&) {
      list_datasets(f, path, os);  // a group
    }
  }
}

int cmd_info(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    std::cout << "usage: tapevit info FILE\n  FILE: a tapevit checkpoint (.h5) or any HDF5 file\n";
    return args.empty() ? 2 : 0;
  }
  if (args.size() != 1) throw UsageError("info takes one file");
  const std::string& path = args[0];
  H5File f(path, H5File::Read);
  if (f.has_attr("format") && f.attr_string("format") == "tapevit-checkpoint") {
    std::cout << path << ": tapevit checkpoint v" << f.attr_int("version") << "\n"
              << "  epoch " << f.attr_int("epoch") << " (+" << f.attr_int("step_in_epoch") << " batches), step "
              << f.attr_int("global_step") << ", optimizer " << f.attr_string("optimizer") << " ("
              << f.attr_int("optimizer_steps") << " steps), lr " << f.attr_double("lr") << ", best top1 "
              << f.attr_double("best_top1") << "% (epoch " << f.attr_int("best_epoch") << ")\n"
              << "  model: " << f.attr_string("model_config") << "\n";
    auto ep = f.read<double>("metrics/epoch");
    if (!ep.empty()) {
      auto tl = f.read<double>("metrics/train_loss"), el = f.read<double>("metrics/eval_loss"),
           t1 = f.read<double>("metrics/eval_top1"), t5 = f.read<double>("metrics/eval_top5"),
           sec = f.read<double>("metrics/seconds");
      std::cout << "  metrics:\n    epoch  train_loss  eval_loss   top1    top5   seconds\n";
      for (size_t i = 0; i < ep.size(); ++i)
        std::cout << std::fixed << "    " << std::setw(5) << int64_t(ep[i]) << std::setprecision(4) << std::setw(12)
                  << tl[i] << std::setw(11) << el[i] << std::setprecision(2) << std::setw(8) << t1[i] << std::setw(8)
                  << t5[i] << std::setprecision(1) << std::setw(10) << sec[i] << "\n"
                  << std::defaultfloat;
    }
    std::cout << "  config:\n";
    std::istringstream cfg(f.attr_string("config"));
    for (std::string line; std::getline(cfg, line);) std::cout << "    " << line << "\n";
  } else {
    std::cout << path << ": HDF5 file\n";
  }
  std::cout << "  tensors:\n";
  list_datasets(f, "/", std::cout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::cout << kUsage;
    return args.empty() ? 2 : 0;
  }
  const std::string cmd = args[0];
  args.erase(args.begin());
  try {
    if (cmd == "train") return cmd_train(args);
    if (cmd == "eval") return cmd_eval(args);
    if (cmd == "info") return cmd_info(args);
    if (cmd == "export") return cmd_export(args);
    if (cmd == "predict") return cmd_predict(args);
    throw UsageError("unknown command '" + cmd + "'");
  } catch (const UsageError& e) {
    std::cerr << "tapevit " << cmd << ": " << e.what() << "\n" << (cmd == "train" || cmd == "eval" || cmd == "info" || cmd == "export" || cmd == "predict" ? "see 'tapevit " + cmd + " --help'\n" : std::string(kUsage));
    return 2;
  } catch (const Error& e) {
    std::cerr << "\ntapevit " << cmd << ": error: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "\ntapevit " << cmd << ": error: " << e.what() << "\n";
    return 1;
  }
}
