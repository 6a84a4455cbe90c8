// src/cli/cmd_train.cpp: `tapevit train` and `tapevit eval`.
#include <omp.h>
#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <iomanip>
#include <iostream>

#include "args.h"
#include "tapevit/data/dataset.h"
#include "tapevit/io/atomic_file.h"
#include "tapevit/io/checkpoint.h"
#include "tapevit/train/dist.h"
#include "tapevit/train/report.h"
#include "tapevit/train/timm_flags.h"
#include "tapevit/train/train.h"

namespace tapevit::cli {

namespace fs = std::filesystem;

namespace {

// A config file's bytes, for comparing what the ranks were started with ("" when unreadable: the error about it
// comes from reading the config).
std::string file_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  return f ? ss.str() : std::string();
}

int terminal_columns() {
  winsize ws{};
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 80;
}

}  // namespace

int cmd_train(const std::vector<std::string>& args) {
  po::options_description fixed("train options");
  fixed.add_options()("help,h", "show this help")(
      "config", po::value<std::vector<std::string>>()->value_name("FILE"),
      "INI config file (keys below, in sections [model] [data] [train] [optim]); may be given more than once, a "
      "later file wins")("resume", po::value<std::string>()->value_name("CKPT"),
                         "continue the run saved in CKPT: its config, overridden by --config files and the keys given "
                         "here; written beside CKPT unless --output says where")(
      "force", po::bool_switch(), "write into a directory that holds another run (or a later checkpoint of this one)")(
      "list_models", po::bool_switch(), "list the model presets and exit")(
      "timm_flags", po::bool_switch(), "list timm's train.py flags and what tapevit does with each, and exit");
  const std::vector<std::string> keys = config_keys_for(kTrainCommand);
  po::variables_map vm;
  ConfigValues cli = parse_command(args, fixed, keys, vm);
  if (vm.count("help")) {
    std::cout << "usage: tapevit train [--config FILE] [--resume CKPT] [--KEY VALUE ...]\n\n"
              << fixed << "\nconfig keys (the command line wins over config files; timm's spellings such as "
                          "--batch-size and -b work too):\n";
    print_keys_help(std::cout, keys);
    std::cout << "\nThe defaults above are the built-in ones; configs/fmnist.ini (scripts/train.sh, the README's quick "
                 "start) spells them out.\n";
    return 0;
  }
  if (vm["list_models"].as<bool>()) {
    std::cout << preset_table();
    return 0;
  }
  if (vm["timm_flags"].as<bool>()) {
    std::cout << timm_flag_table();
    return 0;
  }
  TrainOptions opts;
  if (vm.count("resume")) opts.resume = vm["resume"].as<std::string>();
  // Several ranks: rank 0 alone reads the files the config comes from (--resume's checkpoint, --init's Hub config)
  // and hands the resolved config to the others; what each rank was started with (its command line and config
  // files) is compared across ranks when the run starts.
  const bool root = dist::is_root();
  opts.invocation = command_line("train", args);
  if (vm.count("config"))
    for (const auto& file : vm["config"].as<std::vector<std::string>>()) opts.invocation += "\n" + file + "\n" + file_text(file);
  TrainConfig cfg;
  std::string resolved;
  if (root) {
    ConfigValues values;
    if (!opts.resume.empty()) {
      note_if_undigested(std::cout, opts.resume);
      values = parse_ini_text(read_checkpoint_meta(opts.resume).config_ini, opts.resume, /*priority=*/0);
      values.erase("output");  // where the run was written then; it writes beside the checkpoint now
    }
    const ConfigValues checkpoint = values;
    overlay_config_files(values, vm);
    overlay(values, cli);
    if (!opts.resume.empty()) {
      auto same_as_checkpoint = [&](const char* key) {
        const auto a = values.find(key);
        const auto b = checkpoint.find(key);
        return a != values.end() && b != checkpoint.end() && a->second.value == b->second.value;
      };
      // A config file given again names the run's own preset: it must not replace the run's architecture keys.
      if (same_as_checkpoint("model")) values["model"] = checkpoint.at("model");
      if (values.count("init") && values.at("init").priority > 0 && !same_as_checkpoint("init"))
        throw UsageError("init starts a new run from weights and --resume continues a run from its checkpoint: give "
                         "one of them (" + values.at("init").source + " sets init = " + values.at("init").value + ")");
    }
    if (opts.resume.empty()) layer_init(values, std::cout);
    cfg = resolve_config(values);
    print_notes(std::cout, cfg);
    if (!cfg.init.empty() && fs::path(cfg.init).extension() == ".h5") note_if_undigested(std::cout, cfg.init);
    resolved = config_to_ini(cfg);
  }
  if (dist::size() > 1) {
    dist::broadcast(resolved, "rank 0's config");
    if (!root) cfg = resolve_config(parse_ini_text(resolved, "rank 0's config", /*priority=*/0));
  }
  opts.force = vm["force"].as<bool>();
  opts.out = root ? &std::cout : nullptr;  // one progress report: rank 0's
  // Under a launcher of several ranks stdout is mpirun's pseudo-terminal wherever mpirun's own output goes (a file,
  // a pipe): progress lines every log_interval steps, not a redrawn line written into a log file
  opts.tty = isatty(STDOUT_FILENO) && dist::size() == 1;
  opts.columns = opts.tty ? terminal_columns() : 0;
  opts.command_line = command_line("train", args);
  // SIGINT / SIGTERM (Ctrl-C, Slurm, cloud preemption): finish the step, write last.h5, say how to resume; a second
  // signal exits at once, saying which checkpoint is on disk (it stays valid: checkpoints are replaced atomically, a
  // write under way is abandoned)
  static pthread_t main_thread;
  main_thread = pthread_self();
  struct sigaction sa {};
  sa.sa_handler = [](int sig) {
    // handled on the main thread, which writes the checkpoints: never while it goes on writing one, so the note
    // below names what is on disk (pthread_kill and pthread_self are async-signal-safe)
    if (!pthread_equal(pthread_self(), main_thread)) {
      pthread_kill(main_thread, sig);
      return;
    }
    if (stop_requested_by() != 0) {
      auto say = [](const char* s) {  // write(2) only: async-signal-safe
        const ssize_t n = ::write(STDERR_FILENO, s, std::strlen(s));
        (void)n;  // nothing to do if stderr is gone
      };
      say(sig == SIGINT ? "\ntapevit train: a second SIGINT: exiting at once, without a new checkpoint. "
                        : "\ntapevit train: a second signal: exiting at once, without a new checkpoint. ");
      say(checkpoint_on_disk());
      say("\n");
      _exit(128 + sig);
    }
    request_stop(sig);
  };
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  const TrainSummary sum = train(cfg, opts);
  if (sum.stopped_by != 0) {
    const std::string last = (fs::path(sum.run_dir) / "last.h5").string();
    std::cout << "stopped by " << (sum.stopped_by == SIGINT ? "SIGINT" : sum.stopped_by == SIGTERM ? "SIGTERM" : "a signal")
              << " after step " << sum.steps << " (epoch " << sum.epochs_done + 1 << "); " << last
              << " holds that step. Resume with: tapevit train --resume " << last << "\n"
              << std::flush;
    return 128 + sum.stopped_by;
  }
  return 0;
}

int cmd_eval(const std::vector<std::string>& args) {
  po::options_description fixed("eval options");
  fixed.add_options()("help,h", "show this help")("checkpoint", po::value<std::string>()->value_name("CKPT"),
                                                    "checkpoint to evaluate (its config gives the model and data)")(
      "ema", po::bool_switch(), "evaluate the checkpoint's EMA weights (runs trained with model_ema)")(
      "report", po::value<std::string>()->value_name("DIR"),
      "where per_class.csv, confusion.csv and confusion.svg go (default: eval_<split>/ beside the checkpoint, "
      "eval_<split>_ema/ with --ema)");
  const std::vector<std::string> keys = config_keys_for(kEvalCommand);
  po::variables_map vm;
  ConfigValues cli = parse_command(args, fixed, keys, vm);
  if (vm.count("help")) {
    std::cout << "usage: tapevit eval --checkpoint CKPT [--ema] [--report DIR] [--KEY VALUE ...]\n\n"
              << fixed << "\nconfig keys (each defaults to the checkpoint's value):\n";
    print_keys_help(std::cout, keys, "the checkpoint's");
    return 0;
  }
  if (!vm.count("checkpoint")) throw UsageError("eval needs --checkpoint CKPT");
  const std::string path = vm["checkpoint"].as<std::string>();
  note_if_undigested(std::cout, path);
  const CheckpointMeta meta = read_checkpoint_meta(path);
  ConfigValues values = parse_ini_text(meta.config_ini, path, 0);
  overlay(values, cli);
  TrainConfig cfg = resolve_config(values);
  print_notes(std::cout, cfg);
  if (cfg.threads > 0) omp_set_num_threads(int(cfg.threads));
  bind_data_defaults(cfg);
  VisionTransformer<float> model(cfg.vit, cfg.seed);
  const bool ema = vm["ema"].as<bool>();
  const TrainState st = load_checkpoint_weights<float>(path, model.params(), ema);
  Dataset test = load_split(cfg, false);
  select_classes(test, std::vector<int64_t>(cfg.classes.begin(), cfg.classes.end()), 0);
  check_data_fits(cfg, test);
  EvalProgress progress;
  const bool tty = isatty(STDOUT_FILENO);
  if (tty) progress = terminal_eval_progress(std::cout, terminal_columns(), "eval");
  EvalResult r = evaluate(model, test, cfg, progress);
  const std::string split = test.is_folder() ? fs::path(test.dir).filename().string() : "test";
  std::cout << std::fixed << std::setprecision(4) << "eval " << path << (ema ? " (EMA weights" : " (") << (ema ? ", " : "")
            << "epoch " << st.epoch << ", step " << st.global_step << ") on " << cfg.dataset << " " << split << ", "
            << r.n << " images: loss " << r.loss << "  top1 " << std::setprecision(2) << r.top1 << "%  top5 " << r.top5
            << "%  (" << per_second(double(r.n) / r.seconds) << " img/s)\n"
            << std::defaultfloat;
  const std::vector<std::string>& names = !test.class_names.empty() ? test.class_names : meta.class_names;
  const fs::path dir = vm.count("report") ? fs::path(vm["report"].as<std::string>())
                                          : fs::path(path).parent_path() / ("eval_" + split + (ema ? "_ema" : ""));
  fs::create_directories(dir);
  write_file_atomic((dir / "per_class.csv").string(), per_class_csv(r.confusion, names));
  write_file_atomic((dir / "confusion.csv").string(), confusion_csv(r.confusion, names));
  write_file_atomic((dir / "confusion.svg").string(),
                    confusion_svg(r.confusion, names, "confusion on " + cfg.dataset + " " + split + " (" + path + ")"));
  std::cout << "wrote " << (dir / "{per_class.csv,confusion.csv,confusion.svg}").string() << "\n";
  return 0;
}

}  // namespace tapevit::cli
