// src/cli/cmd_train.cpp: `tapevit train` and `tapevit eval`.
#include <omp.h>
#include <unistd.h>

#include <iomanip>
#include <iostream>

#include "args.h"
#include "tapevit/io/checkpoint.h"
#include "tapevit/train/train.h"

namespace tapevit::cli {

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

}  // namespace tapevit::cli
