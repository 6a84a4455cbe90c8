// src/cli/cmd_info.cpp: looking at what a run left: `tapevit info` (a run directory, a checkpoint, a safetensors
// file or any HDF5 file; --verify checks a checkpoint's digest) and `tapevit plot` (curves.svg from summary.csv files).
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "args.h"
#include "tapevit/io/atomic_file.h"
#include "tapevit/io/checkpoint.h"
#include "tapevit/io/h5.h"
#include "tapevit/io/pretrained.h"
#include "tapevit/io/safetensors.h"
#include "tapevit/train/curves.h"

namespace tapevit::cli {

namespace {

namespace fs = std::filesystem;

// Every dataset below `group` (a row each), the first `limit` of them when limit > 0, none when limit < 0; counts
// them in total.
void list_datasets(const H5File& f, const std::string& group, std::ostream& os, int64_t& shown, int64_t limit,
                   int64_t& total, int depth = 0) {
  // a hard link back to a parent group makes a cycle; tapevit's and timm's files nest 4 deep at most
  if (depth > 32) fail(f.path(), ": groups nest deeper than 32 levels at '", group, "' (a link cycle?)");
  for (const auto& name : f.list(group)) {
    const std::string path = group == "/" ? name : group + "/" + name;
    if (f.is_group(path)) {
      list_datasets(f, path, os, shown, limit, total, depth + 1);
      continue;
    }
    const Shape s = f.shape(path);
    ++total;
    if (limit < 0 || (limit > 0 && shown >= limit)) continue;  // limit < 0: count only
    os << "    " << std::left << std::setw(52) << path << " " << std::setw(18) << s.str() << " " << f.dtype(path) << "\n";
    ++shown;
  }
}

void print_tensors(const H5File& f, const std::string& group, std::ostream& os, bool all) {
  int64_t shown = 0, total = 0;
  list_datasets(f, group, os, shown, all ? 0 : 12, total);
  if (shown < total) os << "    ... " << total - shown << " more (--tensors lists every tensor)\n";
}

// Some epoch has the EMA weights' evaluation (model_ema runs).
bool has_ema_metrics(const TrainState& st) {
  return std::any_of(st.metrics.begin(), st.metrics.end(), [](const EpochMetrics& m) { return std::isfinite(m.ema_top1); });
}

void print_metrics(const TrainState& st, std::ostream& os) {
  if (st.metrics.empty()) return;
  const bool ema = has_ema_metrics(st);
  os << "  metrics:\n    epoch  train_loss  eval_loss   top1    top5" << (ema ? "   ema_loss  ema_top1  ema_top5" : "")
     << "   seconds\n";
  for (const auto& m : st.metrics) {
    os << std::fixed << "    " << std::setw(5) << int64_t(m.epoch) << std::setprecision(4) << std::setw(12) << m.train_loss
       << std::setw(11) << m.eval_loss << std::setprecision(2) << std::setw(8) << m.eval_top1 << std::setw(8) << m.eval_top5;
    if (ema)
      os << std::setprecision(4) << std::setw(11) << m.ema_loss << std::setprecision(2) << std::setw(10) << m.ema_top1
         << std::setw(10) << m.ema_top5;
    os << std::setprecision(1) << std::setw(10) << m.seconds << "\n" << std::defaultfloat;
  }
}

// "4 (a, b, c, d)"; past 8 names the first 4 and the last 2: "100 (a, b, c, d, ... 94 more ..., y, z)".
std::string class_list(const std::vector<std::string>& names) {
  std::string s;
  for (size_t i = 0; i < names.size(); ++i) {
    if (names.size() > 8 && i == 4) {
      s += ", ... " + std::to_string(names.size() - 6) + " more ...";
      i = names.size() - 3;
      continue;
    }
    s += (i ? ", " : "") + names[i];
  }
  return std::to_string(names.size()) + " (" + s + ")";
}

// The EMA of the weights (model_ema): whether the file holds it (/ema), its decay, and its evaluations: the last
// epoch's and its best, beside the weights' own.
void print_ema(const std::string& ckpt, const TrainConfig& cfg, const TrainState& st, std::ostream& os) {
  const bool weights = checkpoint_has_ema(ckpt);
  if (!weights && !cfg.model_ema && !has_ema_metrics(st)) return;
  os << "  ema: " << (weights ? "/ema holds the EMA of the weights" : "no /ema in this file") << " (model_ema "
     << (cfg.model_ema ? "true" : "false") << ", model_ema_decay " << cfg.model_ema_decay << ")";
  const EpochMetrics* best = nullptr;
  for (const auto& m : st.metrics)
    if (std::isfinite(m.ema_top1) && (!best || m.ema_top1 > best->ema_top1)) best = &m;
  if (best) {
    const EpochMetrics& last = st.metrics.back();
    os << std::fixed << std::setprecision(2) << "; eval top1 " << last.ema_top1 << "% at epoch " << int64_t(last.epoch)
       << " (the weights " << last.eval_top1 << "%), best " << best->ema_top1 << "% at epoch " << int64_t(best->epoch)
       << std::defaultfloat << " (eval --ema, predict --ema use it)";
  }
  os << "\n";
}

// The run a checkpoint belongs to: architecture, data, where it is, best epoch, provenance.
void print_run_summary(const std::string& ckpt, std::ostream& os) {
  const CheckpointMeta meta = read_checkpoint_meta(ckpt);
  const TrainState st = read_checkpoint_state(ckpt);
  const TrainConfig cfg = resolve_config(parse_ini_text(meta.config_ini, ckpt, 0));
  VisionTransformer<float> model(cfg.vit, 0);  // for its parameter count
  os << "  model: " << describe_architecture(cfg.model, cfg.vit) << ", "
     << model.params().numel() << " parameters\n"
     << "  data: " << cfg.dataset << ", batch " << cfg.batch_size << ", " << cfg.optim.opt << " lr " << cfg.lr << "\n"
     << "  progress: epoch " << st.epoch << " of " << cfg.epochs << (st.step_in_epoch ? " (+" + std::to_string(st.step_in_epoch) + " batches)" : "")
     << ", step " << st.global_step << (st.epoch >= cfg.epochs ? ", complete" : "") << "\n";
  if (st.best_epoch > 0) {
    // best.h5 is the epoch whose better top-1, the weights' or the EMA's, is best
    const bool by_ema = st.best_epoch <= int64_t(st.metrics.size()) &&
                        st.metrics[size_t(st.best_epoch - 1)].ema_top1 > st.metrics[size_t(st.best_epoch - 1)].eval_top1;
    os << "  best: epoch " << st.best_epoch << ", eval top1 " << std::fixed << std::setprecision(2) << st.best_top1
       << "%" << (by_ema ? " (the EMA's)" : "") << std::defaultfloat << "\n";
  }
  print_ema(ckpt, cfg, st, os);
  if (!meta.class_names.empty()) os << "  classes: " << class_list(meta.class_names) << "\n";
  if (!meta.run_id.empty())
    os << "  run " << meta.run_id << (meta.parent_run_id.empty() ? "" : " (a fork of run " + meta.parent_run_id + ")")
       << ", started " << meta.created << ", tapevit " << meta.tapevit_version << " (commit " << meta.tapevit_commit
       << ")\n";
  if (!meta.command_line.empty()) os << "  command: " << meta.command_line << "\n";
  print_metrics(st, os);
}

void info_run_directory(const std::string& dir, bool all, std::ostream& os) {
  const fs::path last = fs::path(dir) / "last.h5";
  const fs::path config = fs::path(dir) / "config.ini";
  if (!fs::exists(last) && !fs::exists(fs::path(dir) / "best.h5") && fs::exists(config)) {
    // a run that ended before its first checkpoint (killed, or a second Ctrl-C): its config.ini's header says which
    os << dir << ": no checkpoint, nothing to resume: config.ini is from a run that ended before its first "
       << "checkpoint (killed, or stopped by a second signal); a new run may write here\n";
    std::ifstream f(config);
    std::string line;  // "# tapevit VERSION (commit C), run ID started DATE", "# command: ..."
    for (int n = 0; n < 2 && std::getline(f, line) && line.rfind("# ", 0) == 0; ++n) os << "  " << line.substr(2) << "\n";
    return;
  }
  if (!fs::exists(last)) fail(dir, ": not a run directory (no last.h5)");
  os << dir << ": a tapevit run\n";
  print_run_summary(last.string(), os);
  os << "  files:";
  for (const char* f : {"config.ini", "last.h5", "best.h5", "summary.csv", "curves.svg"})
    if (fs::exists(fs::path(dir) / f)) os << " " << f;
  os << "\n  resume: tapevit train --resume " << last.string() << " [--epochs N]\n";
  if (all) {
    H5File f(last.string(), H5File::Read);
    os << "  tensors of last.h5:\n";
    print_tensors(f, "/", os, true);
  }
}

void info_checkpoint(const std::string& path, bool all, bool config, std::ostream& os) {
  H5File f(path, H5File::Read);
  os << path << ": tapevit checkpoint v" << f.attr_int("version") << ", optimizer " << f.attr_string("optimizer") << " ("
     << f.attr_int("optimizer_steps") << " steps), lr " << f.attr_double("lr") << "\n";
  note_if_undigested(os, path);
  print_run_summary(path, os);
  if (config) {
    os << "  config:\n";
    std::istringstream cfg(f.attr_string("config"));
    for (std::string line; std::getline(cfg, line);) os << "    " << line << "\n";
  }
  int64_t shown = 0, total = 0;
  list_datasets(f, "params", os, shown, -1, total);
  os << "  tensors: " << total << " parameters under /params, optimizer state under /optimizer, "
     << (f.exists("ema") ? "their EMA under /ema, " : "") << "metrics under /metrics"
     << (all ? ":\n" : " (--tensors lists them)\n");
  if (all) print_tensors(f, "/", os, true);
}

void info_safetensors(const std::string& path, bool all, std::ostream& os) {
  SafetensorsFile f(path);
  std::map<std::string, Shape> shapes;
  std::map<std::string, int64_t> dtypes;
  int64_t numel = 0;
  for (const auto& t : f.tensors()) shapes[t.name] = t.shape, ++dtypes[t.dtype], numel += t.shape.numel();
  os << path << ": safetensors, " << f.tensors().size() << " tensors, " << numel << " values (";
  for (auto it = dtypes.begin(); it != dtypes.end(); ++it) os << (it == dtypes.begin() ? "" : ", ") << it->second << " " << it->first;
  os << ")\n";
  for (const auto& [k, v] : f.metadata()) os << "  metadata " << k << ": " << v << "\n";
  const ImpliedArchitecture a = implied_architecture(shapes);
  if (a.embed_dim && a.depth) {
    os << "  fits a ViT with " << a.describe() << " (num_heads is not in the weights)\n";
    // presets of the weights' shape; those of another input or head are listed apart, saying what differs (--init
    // loads them into it by timm's rules: pos_embed resampled, patch_embed adapted, the head re-initialised)
    std::string fits, loads;
    for (const auto& name : preset_names()) {
      VitConfig v;
      apply_preset(name, v);
      if (is_custom_model(name) || !a.misfit(v).lines.empty()) continue;
      std::string differs;
      auto differ = [&](const char* key, int64_t file, int64_t preset) {
        if (file != preset) differs += (differs.empty() ? "" : ", ") + std::string(key) + " " + std::to_string(preset);
      };
      if (a.img_size) differ("img_size", a.img_size, v.img_size);
      differ("in_chans", a.in_chans, v.in_chans);
      differ("num_classes", a.num_classes, v.num_classes);
      std::string& list = differs.empty() ? fits : loads;
      list += (list.empty() ? "" : ", ") + name + " (num_heads " + std::to_string(v.num_heads) +
              (differs.empty() ? "" : "; " + differs) + ")";
    }
    os << "  presets of that shape: " << (fits.empty() ? "none (set the keys above)" : fits) << "\n";
    if (!loads.empty())
      os << "  presets of that shape for other images or classes (--init adapts the weights to them: pos_embed "
            "resampled, patch_embed adapted, head re-initialised): "
         << loads << "\n";
  } else {
    os << "  not a timm ViT state_dict (no patch_embed.proj.weight / blocks.N)\n";
  }
  os << "  tensors:\n";
  int64_t shown = 0;
  for (const auto& t : f.tensors()) {
    if (!all && shown == 12) {
      os << "    ... " << f.tensors().size() - 12 << " more (--tensors lists every tensor)\n";
      break;
    }
    os << "    " << std::left << std::setw(52) << t.name << " " << std::setw(18) << t.shape.str() << " " << t.dtype << "\n";
    ++shown;
  }
}

}  // namespace

int cmd_info(const std::vector<std::string>& args) {
  po::options_description desc("info options");
  desc.add_options()("help,h", "show this help")("path", po::value<std::string>()->value_name("PATH"),
                                                   "a run directory, a tapevit checkpoint (.h5), a .safetensors file "
                                                   "or any HDF5 file")(
      "tensors", po::bool_switch(), "list every tensor")("config", po::bool_switch(), "show a checkpoint's whole config")(
      "verify", po::bool_switch(), "check a checkpoint against the digest written with it, without loading a model");
  po::positional_options_description pos;
  pos.add("path", 1);
  po::variables_map vm;
  parse_args(args, desc, vm, &pos);
  if (vm.count("help") || !vm.count("path")) {
    std::cout << "usage: tapevit info PATH [--tensors] [--config] [--verify]\n\n" << desc << "\n";
    if (!vm.count("help")) throw UsageError("info needs a PATH");
    return 0;
  }
  const std::string path = vm["path"].as<std::string>();
  const bool all = vm["tensors"].as<bool>();
  if (vm["verify"].as<bool>()) {  // damage is an Error (exit 1) naming the file and the tensor
    if (!fs::exists(path)) fail(path, ": no such file");
    if (!fs::is_regular_file(path)) fail(path, ": not a file (--verify checks one checkpoint, such as RUN/last.h5)");
    const std::string ok = verify_h5_digest(path);
    std::cout << path << ": " << (ok.empty() ? "no digest (written before tapevit kept one, or not by tapevit): not verified" : ok) << "\n";
    return 0;
  }
  if (fs::is_directory(path)) {
    info_run_directory(path, all, std::cout);
  } else if (fs::path(path).extension() == ".safetensors") {
    info_safetensors(path, all, std::cout);
  } else {
    H5File f(path, H5File::Read);
    if (f.has_attr("format") && f.attr_string("format") == "tapevit-checkpoint") {
      info_checkpoint(path, all, vm["config"].as<bool>(), std::cout);
    } else {
      std::cout << path << ": HDF5 file\n  tensors:\n";
      print_tensors(f, "/", std::cout, all);
    }
  }
  return 0;
}

int cmd_plot(const std::vector<std::string>& args) {
  po::options_description desc("plot options");
  desc.add_options()("help,h", "show this help")("csv", po::value<std::vector<std::string>>()->value_name("CSV"),
                                                   "summary.csv of a run (or its run directory); several are overlaid")(
      "out", po::value<std::string>()->value_name("FILE"),
      "the SVG to write (default: curves.svg beside the only CSV; required for several)");
  po::positional_options_description pos;
  pos.add("csv", -1);
  po::variables_map vm;
  parse_args(args, desc, vm, &pos);
  if (vm.count("help")) {
    std::cout << "usage: tapevit plot RUN/summary.csv [MORE.csv ...] [--out FILE]\n"
                 "  draws train/eval loss, top-1/top-5 and lr per epoch as a self-contained SVG\n\n"
              << desc << "\n";
    return 0;
  }
  if (!vm.count("csv")) throw UsageError("plot needs at least one summary.csv (or run directory)");
  namespace fs = std::filesystem;
  std::vector<RunCurves> runs;
  std::vector<fs::path> csvs;
  for (const auto& arg : vm["csv"].as<std::vector<std::string>>()) {
    const fs::path p = fs::is_directory(arg) ? fs::path(arg) / "summary.csv" : fs::path(arg);
    const std::string dir = p.parent_path().filename().string();  // the run directory's name labels the run
    runs.push_back({dir.empty() ? p.filename().string() : dir + "/" + p.filename().string(), read_summary_csv(p)});
    csvs.push_back(p);
  }
  if (runs.size() > 1 && !vm.count("out")) throw UsageError("plot of several runs needs --out FILE");
  const std::string out = vm.count("out") ? vm["out"].as<std::string>() : (csvs[0].parent_path() / "curves.svg").string();
  write_file_atomic(out, curves_svg(runs));
  std::cout << "wrote " << out << " (" << runs.size() << (runs.size() == 1 ? " run)\n" : " runs)\n");
  return 0;
}

}  // namespace tapevit::cli
