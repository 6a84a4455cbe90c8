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
    std::cout << "\nStopping: SIGTERM or SIGINT (Ctrl-C) stops the step under way at its next layer and gives it up\n"
                 "(in its optimizer update: lets it finish), writes last.h5 at the last finished step and exits with\n"
                 "128 + the signal; the resume redoes the step, bitwise. However long a step is, a stop takes the layer\n"
                 "under way plus the write of last.h5 (weights, optimizer state: AdamW twice the weights, the EMA;\n"
                 "about 0.26 GB for a ViT-S, 1 GB for a ViT-B) at the disk's speed; an evaluation under way finishes\n"
                 "first. On Slurm, ask for the signal ahead of the time limit with room for that write:\n"
                 "#SBATCH --signal=TERM@120. A second signal exits at once, keeping the last checkpoint on disk.\n";
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
  // SIGINT / SIGTERM (Ctrl-C, Slurm, cloud preemption): give up the step at its next tape node (finish it when in
  // its optimizer update), write last.h5 at the last finished step, say how to resume; a second
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
    const char* by = sum.stopped_by == SIGINT ? "SIGINT" : sum.stopped_by == SIGTERM ? "SIGTERM" : "a signal";
    if (sum.abandoned_step != 0) {
      std::cout << "stopped by " << by << " during step " << sum.abandoned_step << " (epoch " << sum.epochs_done + 1
                << "), which is given up (a resume redoes it). " << sum.kept << "\n"
                << std::flush;
      return 128 + sum.stopped_by;
    }
    std::cout << "stopped by " << by << " after step " << sum.steps << " (epoch " << sum.epochs_done + 1 << "); " << last
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
      "class_subset", po::bool_switch(),
      "a folder that holds some of the checkpoint's classes only: score their images (predicted among all its classes)")(
      "report", po::value<std::string>()->value_name("DIR"),
      "where per_class.csv, confusion.csv and confusion.svg go (default: eval_<split>/ beside the checkpoint, "
      "eval_<data_dir>_<split>/ for another data_dir than the run's, eval_heldout/ with --val_fraction; _ema with --ema)");
  const std::vector<std::string> keys = config_keys_for(kEvalCommand);
  po::variables_map vm;
  ConfigValues cli = parse_command(args, fixed, keys, vm);
  if (vm.count("help")) {
    std::cout << "usage: tapevit eval --checkpoint CKPT [--ema] [--class_subset] [--report DIR] [--KEY VALUE ...]\n\n"
              << fixed << "\nconfig keys (each defaults to the checkpoint's value; val_fraction to 0, the val split):\n";
    print_keys_help(std::cout, keys, "the checkpoint's");
    return 0;
  }
  if (!vm.count("checkpoint")) throw UsageError("eval needs --checkpoint CKPT");
  const std::string path = vm["checkpoint"].as<std::string>();
  note_if_undigested(std::cout, path);
  const CheckpointMeta meta = read_checkpoint_meta(path);
  ConfigValues values = parse_ini_text(meta.config_ini, path, 0);
  const TrainConfig run_cfg = resolve_config(values);  // the run's own config (its data defaults bound)
  overlay(values, cli);
  TrainConfig cfg = resolve_config(values);
  print_notes(std::cout, cfg);
  if (cfg.threads > 0) omp_set_num_threads(int(cfg.threads));
  bind_data_defaults(cfg);
  // The split: the val split (the test split of the in-memory sets), whole; with --val_fraction the images the run
  // held out of train, exactly as it evaluated them each epoch (its seed, classes and val_per_class)
  const bool held_out = cli.count("val_fraction") > 0;
  if (!held_out) cfg.val_fraction = 0, cfg.val_per_class = 0;
  else if (run_cfg.val_fraction == 0)
    fail("--val_fraction ", config_get(cfg, "val_fraction"), ": the run of ", path, " held nothing out of train "
         "(val_fraction 0): it trained on every image of it. Leave --val_fraction out to score the val split");
  else if (cfg.val_fraction != run_cfg.val_fraction)
    fail("--val_fraction ", config_get(cfg, "val_fraction"), ": the run of ", path, " held out val_fraction ",
         config_get(run_cfg, "val_fraction"), " of train; another fraction would score images it trained on. Give "
         "--val_fraction ", config_get(run_cfg, "val_fraction"), " (the run's), or leave it out to score the val split");
  // A folder's classes are the model's by name (its class_names), whatever their sorted order
  ClassNames labels;
  labels.names = meta.class_names;
  labels.from = path;
  labels.allow_missing = vm["class_subset"].as<bool>();
  labels.advice = ". The labels are the model's: name the class folders as its classes";
  labels.subset_advice = labels.advice + ", or pass --class_subset to score only the classes that have a folder";
  if (cli.count("class_map") && !labels.names.empty() && cfg.dataset == "folder")
    std::cout << "note: class_map is not read: the labels are the class names of " << path << "\n";
  VisionTransformer<float> model(cfg.vit, cfg.seed);
  const bool ema = vm["ema"].as<bool>();
  const TrainState st = load_checkpoint_weights<float>(path, model.params(), ema);
  const DataSplits splits = load_splits(cfg, labels, kEvalCommand);
  const Dataset& test = splits.eval;
  check_data_fits(cfg, test, kEvalCommand);
  if (labels.allow_missing) {
    std::vector<int64_t> count(size_t(test.num_classes), 0);
    for (int32_t y : test.labels) ++count[size_t(y)];
    std::string absent;
    for (size_t k = 0; k < count.size(); ++k)
      if (count[k] == 0) absent += (absent.empty() ? "'" : ", '") + test.class_names[k] + "'";
    if (!absent.empty())
      std::cout << "note: --class_subset: no image of " << absent << "; the other classes' images are scored, each "
                << "predicted among all " << test.num_classes << " classes of the model\n";
  }
  EvalProgress progress;
  const bool tty = isatty(STDOUT_FILENO);
  if (tty) progress = terminal_eval_progress(std::cout, terminal_columns(), "eval");
  EvalResult r = evaluate(model, test, cfg, progress);
  const std::string split = held_out ? "heldout" : test.is_folder() ? fs::path(test.dir).filename().string() : "test";
  std::cout << std::fixed << std::setprecision(4) << "eval " << path << (ema ? " (EMA weights" : " (") << (ema ? ", " : "")
            << "epoch " << st.epoch << ", step " << st.global_step << ") on " << cfg.dataset << " "
            << (held_out ? splits.eval_name : split) << ", " << r.n << " images: loss " << r.loss << "  top1 "
            << std::setprecision(2) << r.top1 << "%  top5 " << r.top5 << "%  (" << per_second(double(r.n) / r.seconds)
            << " img/s)\n"
            << std::defaultfloat;
  const std::vector<std::string>& names = !test.class_names.empty() ? test.class_names : meta.class_names;
  // Another data set than the run's has a report of its own (eval_<its folder>_<split>), beside the run's
  std::error_code ec;
  const bool own_data = cfg.dataset == run_cfg.dataset &&
                        (cfg.data_dir == run_cfg.data_dir || fs::equivalent(cfg.data_dir, run_cfg.data_dir, ec));
  const std::string data_name = fs::path(cfg.data_dir).lexically_normal().filename().string();
  const std::string report = "eval_" + (own_data ? "" : (data_name.empty() ? cfg.dataset : data_name) + "_") + split +
                             (ema ? "_ema" : "");
  const fs::path dir = vm.count("report") ? fs::path(vm["report"].as<std::string>()) : fs::path(path).parent_path() / report;
  fs::create_directories(dir);
  write_file_atomic((dir / "per_class.csv").string(), per_class_csv(r.confusion, names));
  write_file_atomic((dir / "confusion.csv").string(), confusion_csv(r.confusion, names));
  write_file_atomic((dir / "confusion.svg").string(),
                    confusion_svg(r.confusion, names, "confusion on " + cfg.dataset + " " + (own_data ? "" : cfg.data_dir + " ") + split + " (" + path + ")"));
  std::cout << "wrote " << (dir / "{per_class.csv,confusion.csv,confusion.svg}").string() << "\n";
  return 0;
}

}  // namespace tapevit::cli
