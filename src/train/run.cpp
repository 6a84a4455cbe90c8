// src/train/run.cpp: see run.h; also the data binding of tapevit/train/train.h.
#include "run.h"

#include <sched.h>
#include <signal.h>
#include <omp.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <ctime>
#include <random>
#include <sstream>
#include <filesystem>

#include "progress.h"
#include "tapevit/io/atomic_file.h"
#include "tapevit/io/pretrained.h"
#include "tapevit/io/vit_json.h"
#include "tapevit/train/dist.h"
#include "tapevit/version.h"

namespace tapevit {

namespace fs = std::filesystem;

void bind_normalisation_defaults(TrainConfig& cfg) {
  const bool given = !cfg.aug.mean.empty() || !cfg.aug.std.empty();
  std::vector<double> mean = data_set_kind(cfg.dataset).mean, std = data_set_kind(cfg.dataset).std;
  PresetDataConfig pre;
  const bool timm_cfg = preset_data_config(cfg.model, pre);
  if (cfg.dataset == "folder" && timm_cfg) mean = pre.mean, std = pre.std;  // the weights' own normalisation
  if (cfg.dataset == "folder" && cfg.vit.in_chans == 1 && mean.size() == 3) {  // one channel: the mean of three
    mean = {(mean[0] + mean[1] + mean[2]) / 3};
    std = {(std[0] + std[1] + std[2]) / 3};
  }
  if (cfg.aug.mean.empty()) cfg.aug.mean = mean;
  if (cfg.aug.std.empty()) cfg.aug.std = std;
  if (cfg.aug.image.crop_pct == 0) cfg.aug.image.crop_pct = timm_cfg ? pre.crop_pct : 0.875;
  // The user's values must fit the model; the data set's own are checked against its images (check_data_fits).
  cfg.aug.validate(given || cfg.dataset == "folder" ? cfg.vit.in_chans : 0);
}

void bind_data_defaults(TrainConfig& cfg) {
  if (cfg.data_dir.empty()) cfg.data_dir = data_set_kind(cfg.dataset).default_dir;
  if (cfg.data_dir.empty())
    fail("key 'data_dir' must be set for dataset '", cfg.dataset, "' (no packaged default)",
         cfg.dataset == "folder" ? ": the folder holding train/<class>/<image> and val/<class>/<image>" : "");
  cfg.aug.augment = !cfg.no_aug;
  bind_normalisation_defaults(cfg);
}

Dataset load_split(const TrainConfig& cfg, bool train, const ClassNames& labels, ConfigCommand command) {
  if (cfg.dataset != "folder") return load_dataset(cfg.dataset, cfg.data_dir, train);
  FolderOptions fo;
  fo.train_split = cfg.train_split, fo.val_split = cfg.val_split, fo.class_map = cfg.class_map, fo.labels = labels;
  fo.suggest_val_fraction = command == kTrainCommand;  // (eval takes only the run's own val_fraction)
  fo.channels = cfg.vit.in_chans, fo.img_size = cfg.vit.img_size;
  return load_folder(cfg.data_dir, fo, train);
}

void check_data_fits(const TrainConfig& cfg, const Dataset& d, ConfigCommand command) {
  const VitConfig& v = cfg.vit;
  std::string presets;
  for (const auto& p : presets_for_data(d.channels, d.height, d.num_classes))
    presets += (presets.empty() ? ", or model = " : " or ") + p;
  // the keys that make the model fit, where the command sets the model (eval's is its checkpoint's)
  const bool sets_model = (find_config_key("num_classes")->commands & command) != 0;
  const std::string fixed = "; the model is the checkpoint's: evaluate it on data of that shape";
  if (d.channels != v.in_chans || d.height != v.img_size || d.width != v.img_size)
    fail("dataset '", d.name, "' in ", cfg.data_dir, " has ", d.channels, "x", d.height, "x", d.width,
         " images but the model expects in_chans ", v.in_chans, " and img_size ", v.img_size,
         sets_model ? " (set in_chans = " + std::to_string(d.channels) + ", img_size = " + std::to_string(d.height) + presets + ")" : fixed);
  if (d.num_classes != v.num_classes)
    fail("dataset '", d.name, "' has ", d.num_classes, " classes but num_classes = ", v.num_classes,
         sets_model ? " (set num_classes = " + std::to_string(d.num_classes) + presets + ")"
                    : "; the model is the checkpoint's: evaluate it on data of its " + std::to_string(v.num_classes) + " classes");
}

namespace {

std::string default_run_dir(const std::string& model) {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", std::localtime(&t));
  return "runs/" + std::string(buf) + "-" + model;
}

std::string now_text() {
  std::time_t t = std::time(nullptr);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S %z", std::localtime(&t));
  return buf;
}

std::string new_run_id() {
  std::random_device rd;
  const uint64_t x = splitmix64((uint64_t(rd()) << 32 | rd()) ^
                                uint64_t(std::chrono::system_clock::now().time_since_epoch().count()));
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", (unsigned long long)x);
  return buf;
}

// The directory a checkpoint lies in ("." for a bare file name): where its run is, wherever it was moved.
std::string checkpoint_dir(const std::string& ckpt) {
  const fs::path dir = fs::path(ckpt).parent_path();
  return dir.empty() ? "." : dir.string();
}

// The files in `dir` that hold a run: its checkpoints, and summary.csv (a run's record even when its checkpoints were
// deleted). A config.ini alone is no run: a first run killed (or stopped by a second Ctrl-C) before its first
// checkpoint leaves it, and a new run may write there (claim_run_dir says so).
std::vector<std::string> run_files(const fs::path& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const char* f : {"last.h5", "best.h5", "summary.csv"})
    if (fs::exists(dir / f, ec)) out.push_back(f);
  return out;
}

// The checkpoint a run in `dir` resumes from: last.h5, else best.h5 (its best epoch), else "" (none left).
std::string resumable_checkpoint(const fs::path& dir) {
  std::error_code ec;
  for (const char* f : {"last.h5", "best.h5"})
    if (fs::is_regular_file(dir / f, ec)) return (dir / f).string();
  return "";
}

// `output` must name a directory, or a path whose first existing part is one: a file there is an Error naming the
// key (not the lock file's "Not a directory").
void check_output_path(const std::string& output) {
  std::error_code ec;
  for (fs::path p = fs::path(output).lexically_normal(); !p.empty(); p = p.parent_path()) {
    if (!p.has_filename()) continue;  // "runs/x/": its directory
    const fs::file_status s = fs::status(p, ec);
    if (!fs::exists(s)) continue;
    if (fs::is_directory(s)) return;
    fail("key 'output' = '", output, "': ", p.string() == fs::path(output).lexically_normal().string()
                                                ? std::string("it is a file")
                                                : p.string() + " is a file",
         ", not a directory (a run writes a directory: config.ini, last.h5, best.h5, ...). Choose another --output");
  }
}

std::string joined(const std::vector<std::string>& xs) {
  std::string s;
  for (const auto& x : xs) s += (s.empty() ? "" : ", ") + x;
  return s;
}

// A run's config without what may change between its sessions (the length, where it writes, threads, logging).
std::string identity_config(const std::string& ini) {
  std::istringstream is(ini);
  std::string out;
  for (std::string line; std::getline(is, line);) {
    if (line.empty() || line[0] == '#') continue;
    const std::string key = line.substr(0, line.find(' '));
    if (key != "epochs" && key != "output" && key != "threads" && key != "log_interval" && key != "checkpoint_steps" &&
        key != "grad_accum_steps" && key != "dist_timeout")
      out += line + "\n";
  }
  return out;
}

// Is the run in checkpoint `a` the run in checkpoint `b`? By run_id; for checkpoints older than run ids, by seed
// and config.
bool same_run(const CheckpointMeta& a, const TrainState& sa, const CheckpointMeta& b, const TrainState& sb) {
  if (!a.run_id.empty() && !b.run_id.empty()) return a.run_id == b.run_id;
  return sa.seed == sb.seed && identity_config(a.config_ini) == identity_config(b.config_ini);
}

// Where a run writes, refusing a directory whose files it would overwrite and should not (see train.h).
void choose_output(TrainConfig& cfg, const TrainOptions& opts, const CheckpointMeta& resumed_meta,
                   const TrainState& resumed) {
  if (opts.resume.empty()) {
    if (cfg.output.empty()) cfg.output = default_run_dir(cfg.model);
    check_output_path(cfg.output);
    const auto found = run_files(cfg.output);
    if (!found.empty() && !opts.force) {
      const std::string ckpt = resumable_checkpoint(cfg.output);
      fail("output directory ", cfg.output, " already holds a run (", joined(found), "); ",
           ckpt.empty() ? "its checkpoints are gone, so it cannot be resumed. Choose another --output"
                        : "resume it with --resume " + ckpt + ", choose another --output",
           ", or pass --force to overwrite it");
    }
    return;
  }
  if (cfg.output.empty()) cfg.output = checkpoint_dir(opts.resume);
  check_output_path(cfg.output);
  const fs::path last = fs::path(cfg.output) / "last.h5";
  std::error_code ec;
  if (opts.force || fs::equivalent(last, opts.resume, ec)) return;  // resuming a directory's own last.h5
  if (!fs::exists(last)) {
    const auto found = run_files(cfg.output);
    if (!found.empty() && !fs::equivalent(checkpoint_dir(opts.resume), cfg.output, ec))  // (its own: best.h5 alone)
      fail("output directory ", cfg.output, " holds another run's files (", joined(found), "); resuming ", opts.resume,
           " there would overwrite them. Choose another --output, or pass --force");
    return;
  }
  const CheckpointMeta there = read_checkpoint_meta(last.string());
  const TrainState there_state = read_checkpoint_state(last.string());
  if (!same_run(resumed_meta, resumed, there, there_state))
    fail("output directory ", cfg.output, " holds another run (its last.h5: seed ", there_state.seed, ", step ",
         there_state.global_step, ", epoch ", there_state.epoch,
         there.created.empty() ? std::string() : ", started " + there.created, "); resuming ", opts.resume,
         " there would overwrite its ", joined(run_files(cfg.output)), ". Choose another --output (or leave "
         "it out to write beside ", opts.resume, "), or pass --force to overwrite that run");
  if (there_state.global_step > resumed.global_step)
    fail(last.string(), " is at step ", there_state.global_step, ", further than ", opts.resume, " (step ",
         resumed.global_step, "); resuming from ", opts.resume, " would overwrite it. Resume from ", last.string(),
         ", choose another --output, or pass --force");
}

LrSchedule make_schedule(const TrainConfig& cfg, int64_t steps_per_epoch) {
  LrSchedule s;
  s.sched = cfg.sched;
  s.lr = cfg.lr;
  s.min_lr = cfg.min_lr;
  s.warmup_lr = cfg.warmup_lr;
  s.warmup_steps = int64_t(std::llround(cfg.warmup_epochs * double(steps_per_epoch)));
  s.total_steps = cfg.epochs * steps_per_epoch;
  s.validate();
  return s;
}

// The temporary files (.NAME.tmp-PID, write_file_atomic) that writers killed mid-write left in dir: those whose
// process is gone are removed (another process's, e.g. an export writing here, stay). Called with the run's lock
// held. Returns the names removed.
std::vector<std::string> remove_stale_temporaries(const std::string& dir) {
  std::vector<std::string> removed;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    const pid_t pid = pid_t(temporary_file_pid(name));
    if (pid <= 0 || pid == ::getpid() || ::kill(pid, 0) == 0 || errno != ESRCH) continue;
    if (fs::remove(e.path(), ec)) removed.push_back(name);
  }
  return removed;
}

// Several ranks: OpenMP threads per rank from `threads`, else OMP_NUM_THREADS, else the node's cores shared by its
// ranks; a warning when the CPU affinity the launcher gave is smaller than that.
void set_rank_threads(const TrainConfig& cfg, std::ostream* out) {
  if (cfg.threads > 0) omp_set_num_threads(int(cfg.threads));
  if (dist::size() == 1) return;
  if (cfg.threads <= 0 && !std::getenv("OMP_NUM_THREADS")) {
    const long cores = sysconf(_SC_NPROCESSORS_ONLN);
    omp_set_num_threads(int(std::max<long>(1, cores / dist::local_size())));
  }
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) < omp_get_max_threads() && out)
    *out << "warning: " << dist::where() << " may run on " << CPU_COUNT(&set) << " core(s) (its CPU affinity) but uses "
         << omp_get_max_threads() << " threads: set threads, or bind each rank to more cores (mpirun --bind-to none, "
         << "or --map-by ppr:1:node:pe=N)\n";
}

// A fingerprint of bytes, chained through h: zlib's CRC-32 (as the checkpoint digests), not cryptographic.
uint64_t hash_bytes(const void* data, size_t n, uint64_t h = 0) {
  if (n == 0) return h;  // (zlib restarts the chain on a null buffer, which an empty vector's data() may be)
  return crc32_z(uLong(h), static_cast<const Bytef*>(data), n);
}
uint64_t hash_text(const std::string& s, uint64_t h = 0) { return hash_bytes(s.data(), s.size(), h); }

// What a data set holds: sizes, labels, and the pixels (in memory) or the files' names and sizes (folders).
uint64_t data_fingerprint(const Dataset& d) {
  uint64_t h = hash_text(d.name);
  const int64_t dims[] = {d.n, d.channels, d.height, d.width, d.num_classes};
  h = hash_bytes(dims, sizeof dims, h);
  h = hash_bytes(d.labels.data(), d.labels.size() * sizeof(d.labels[0]), h);
  h = hash_bytes(d.images.data(), d.images.size(), h);
  for (const auto& f : d.files) {
    std::error_code ec;
    const auto bytes = fs::file_size(f, ec);
    h = hash_text(f + "\n" + std::to_string(ec ? -1 : int64_t(bytes)), h);
  }
  return h;
}

// Every rank must run the same build with the same command, config files and data: an Error names the ranks (and
// hosts) that differ from rank 0.
void check_ranks_agree(const TrainOptions& opts, const Dataset& train_set, const Dataset& eval_set) {
  if (dist::size() == 1) return;
  const std::vector<std::pair<const char*, uint64_t>> mine = {
      {"tapevit build", hash_text(std::string(version()) + "\n" + commit() + "\n" + build_info().substr(0, build_info().find("OpenMP")))},
      {"command line and config files", hash_text(opts.invocation)},
      {"training data", data_fingerprint(train_set)},
      {"evaluation data", data_fingerprint(eval_set)}};
  const std::vector<std::string> hosts = dist::allgather(dist::host(), "the ranks' host names");
  std::string differ;
  for (const auto& [what, h] : mine) {
    const std::vector<uint64_t> all = dist::allgather(h, std::string("the fingerprints of the ") + what);
    std::string ranks;
    for (size_t r = 1; r < all.size(); ++r)
      if (all[r] != all[0]) ranks += (ranks.empty() ? "" : ", ") + std::to_string(r) + " (" + hosts[r] + ")";
    if (!ranks.empty()) differ += std::string(differ.empty() ? "" : "; ") + "the " + what + " of rank(s) " + ranks;
  }
  if (!differ.empty())
    fail("the ranks of this run differ from rank 0 (", hosts[0], "): ", differ,
         ". Every rank must run the same tapevit build with the same command, config files and data");
}

// Several ranks: rank 0's weights, optimizer state, EMA and training state (read from --init or --resume, or
// freshly initialised) to every rank, so that all start from the same bits.
void share_start(Run& run) {
  if (dist::size() == 1) return;
  Params<float>& p = run.params();
  dist::broadcast(p.data(), p.flat_size() * int64_t(sizeof(float)), "the weights from rank 0");
  for (auto& [name, buf] : run.opt->state())
    dist::broadcast(buf, p.flat_size() * int64_t(sizeof(float)), "the optimizer state (" + name + ") from rank 0");
  int64_t steps = run.opt->steps();
  dist::broadcast(&steps, sizeof steps, "the optimizer's step count from rank 0");
  run.opt->set_steps(steps);
  if (run.ema) dist::broadcast(run.ema->params().data(), p.flat_size() * int64_t(sizeof(float)), "the EMA weights from rank 0");
  // the training state's fields, packed (the metrics stay rank 0's: only rank 0 writes them)
  std::vector<char> fields;
  visit_fields(run.st, [&](const char*, const auto& field, auto) {
    const char* bytes = reinterpret_cast<const char*>(&field);
    fields.insert(fields.end(), bytes, bytes + sizeof field);
  });
  dist::broadcast(fields.data(), int64_t(fields.size()), "the training state from rank 0");
  size_t at = 0;
  visit_fields(run.st, [&](const char*, auto& field, auto) {
    std::memcpy(&field, fields.data() + at, sizeof field);
    at += sizeof field;
  });
}

// Run::Run's steps, in order.

// The threads, the ranks' timeout, and the config's keys as given (the data set's defaults are bound here and
// checked against its images by load_data).
void check_config(Run& run) {
  TrainConfig& cfg = run.cfg;
  const int64_t ranks = dist::size();
  set_rank_threads(cfg, run.opts.out);
  dist::set_timeout(cfg.dist_timeout);
  cfg.validate();
  if (cfg.batch_size % (ranks * cfg.grad_accum_steps) != 0)
    fail("key 'batch_size' (", cfg.batch_size, ") must be divisible by ranks x grad_accum_steps (", ranks, " x ",
         cfg.grad_accum_steps, " = ", ranks * cfg.grad_accum_steps, "): each rank computes batch_size / ranks rows of "
         "every batch, as grad_accum_steps equal micro-batches");
  bind_data_defaults(cfg);
}

// What --resume's checkpoint says of its run (rank 0; empty for a new run and on the other ranks).
struct Resumed {
  CheckpointMeta meta;
  TrainState st;
};

Resumed read_resumed(const Run& run) {
  Resumed r;
  const std::string& ckpt = run.opts.resume;
  if (ckpt.empty() || !dist::is_root()) return r;
  r.meta = read_checkpoint_meta(ckpt);
  r.st = read_checkpoint_state(ckpt);
  const ConfigValues before = parse_ini_text(r.meta.config_ini, ckpt);
  const std::string started_from = before.count("init") ? before.at("init").value : "";
  if (run.cfg.init != started_from)
    fail("init = '", run.cfg.init, "' cannot apply to a resumed run: it continues from the weights in ", ckpt,
         ". Leave init out, or start a new run (another --output) from those weights");
  return r;
}

// A resumed run that has done its epochs: Run.complete, and nothing else is set up.
bool already_complete(Run& run, const Resumed& resumed) {
  int64_t done = !run.opts.resume.empty() && dist::is_root() && resumed.st.epoch >= run.cfg.epochs;
  dist::broadcast(&done, sizeof done, "whether the resumed run is complete");
  if (!done) return false;
  run.complete = true;
  if (!run.opts.resume.empty()) run.cfg.output = checkpoint_dir(run.opts.resume);
  run.st = resumed.st;
  return true;
}

// Where the run writes (choose_output), locked before anything is written there; what killed writers left removed.
void claim_run_dir(Run& run, const Resumed& resumed) {
  TrainConfig& cfg = run.cfg;
  if (dist::is_root()) choose_output(cfg, run.opts, resumed.meta, resumed.st);
  dist::broadcast(cfg.output, "the run directory");  // (messages name it on every rank)
  if (!dist::is_root()) return;
  run.dir_lock.emplace(cfg.output);
  for (const std::string& name : remove_stale_temporaries(cfg.output))
    if (run.opts.out)
      *run.opts.out << "note: removed " << (fs::path(cfg.output) / name).string()
                    << ", a partial file left by a run stopped while writing it (the finished files are intact)\n";
  const fs::path left_config = fs::path(cfg.output) / "config.ini";
  std::error_code ec;
  if (run.opts.out && fs::exists(left_config, ec) && resumable_checkpoint(cfg.output).empty())
    *run.opts.out << "note: " << left_config.string() << " is from a run that ended before its first checkpoint "
                  << "(nothing to resume); this run replaces it\n";
}

// The class names the run's labels follow (rank 0 decides, every rank loads by them): a resumed run's own (its
// checkpoint's class_names), or --init's when they are the folders' classes in another order (init_class_names).
ClassNames run_class_names(const Run& run, const Resumed& resumed) {
  ClassNames labels;
  if (dist::is_root() && run.cfg.dataset == "folder") {
    if (!run.opts.resume.empty()) {
      labels.names = resumed.meta.class_names;
      labels.from = run.opts.resume;
      // a new run from its weights takes the run's data keys from its config.ini (the checkpoint holds the same)
      const std::string config = (fs::path(checkpoint_dir(run.opts.resume)) / "config.ini").string();
      labels.advice = ". The labels are the checkpoint's: rename the class folders to its class names, or start a new "
                      "run from its weights: replace --resume " + run.opts.resume + " with " +
                      (fs::exists(config) ? "--config " + config + " " : "") + "--init " + run.opts.resume +
                      " and choose a new --output";
    } else {
      std::string note;
      labels = init_class_names(run.cfg, note);
      if (!note.empty() && run.opts.out) *run.opts.out << "note: " << note << "\n";
    }
  }
  uint64_t count = labels.names.size();
  dist::broadcast(&count, sizeof count, "the number of class names from rank 0");
  labels.names.resize(size_t(count));
  for (auto& name : labels.names) dist::broadcast(name, "the class names from rank 0");
  dist::broadcast(labels.from, "where the class names come from");
  dist::broadcast(labels.advice, "the class names' advice");
  return labels;
}

// The training set and the eval split (load_splits: val_fraction, classes, train_per_class, val_per_class), checked
// against the model and across the ranks; decoded once with cache.
void load_data(Run& run, const Resumed& resumed) {
  const TrainConfig& cfg = run.cfg;
  DataSplits splits = load_splits(cfg, run_class_names(run, resumed), kTrainCommand);
  Dataset& train_set = run.train_set = std::move(splits.train);
  Dataset& eval_set = run.eval_set = std::move(splits.eval);
  run.eval_name = std::move(splits.eval_name);
  check_data_fits(cfg, train_set);
  check_data_fits(cfg, eval_set);
  check_ranks_agree(run.opts, train_set, eval_set);
  if (!train_set.is_folder()) return;
  // every file of both splits now, not a bad one an epoch later: decoded whole with cache, else checked
  std::ostream* out = run.opts.out;
  if (cfg.cache) {
    decode_all(train_set, out ? file_progress(run, *out, "decoding train images (cache)") : FileProgress{});
    decode_all(eval_set, out ? file_progress(run, *out, "decoding eval images (cache)") : FileProgress{});
  } else {
    check_images({&train_set, &eval_set}, out ? file_progress(run, *out, "checking images") : FileProgress{});
  }
}

// What the start-up says of the config and the data (rank 0): a fine-tuning recipe on a new run without weights to
// fine-tune, colour images into a one-channel model.
void notice_recipe_and_colour(Run& run) {
  const TrainConfig& cfg = run.cfg;
  if (!dist::is_root()) return;
  if (cfg.recipe == "finetune" && cfg.init.empty() && run.opts.resume.empty())
    run.start_lines.push_back(
        "warning: recipe = finetune: these values (lr " + config_get(cfg, "lr") + ", " + std::to_string(cfg.epochs) +
        " epochs" + (cfg.layer_decay > 0 ? ", layer_decay " + config_get(cfg, "layer_decay") : "") +
        (cfg.freeze != "none" ? ", freeze " + cfg.freeze : "") +
        ") are tuned for pretrained weights, but init is not set: the model starts from random weights. Give --init "
        "WEIGHTS (a timm model.safetensors or a tapevit checkpoint), or --recipe scratch to train from random weights "
        "on purpose");
  if (run.train_set.is_folder() && cfg.vit.in_chans == 1)
    if (const std::string colour = first_colour_file(run.train_set, 8); !colour.empty())
      run.start_lines.push_back("note: the images are in colour (" + colour +
                                ", ...) but in_chans = 1: each is converted to grey (PIL's convert('L')). "
                                "--in_chans 3 trains on the colours");
}

// The model (from --init's weights on a new run), what of it trains (freeze), and its EMA (model_ema).
void build_model(Run& run) {
  const TrainConfig& cfg = run.cfg;
  run.model = std::make_unique<VisionTransformer<float>>(cfg.vit, cfg.seed);
  Params<float>& p = run.params();
  if (!cfg.init.empty() && run.opts.resume.empty() && dist::is_root()) {  // a resume's weights: its checkpoint's
    const LoadReport report = load_pretrained(cfg.init, p, cfg.vit, cfg.init_strict);
    if (run.opts.out) *run.opts.out << report.table() << std::flush;
  }
  if (cfg.freeze == "all_but_head")
    for (const auto& info : p.infos()) p.set_trainable(info.name, info.name.rfind("head.", 0) == 0);
  if (cfg.model_ema) run.ema = std::make_unique<VisionTransformer<float>>(cfg.vit, cfg.seed);  // set by the first update
}

void build_optimizer(Run& run) {
  const TrainConfig& cfg = run.cfg;
  run.opt = make_optimizer(cfg.optim, run.params());
  if (cfg.layer_decay > 0) run.opt->set_lr_scales(layer_decay_scales(run.params(), cfg.vit.depth, cfg.layer_decay));
}

// The loader of the training set's batches (this rank's rows of each), the steps per epoch and the lr schedule.
void plan_steps(Run& run) {
  const TrainConfig& cfg = run.cfg;
  const int64_t ranks = dist::size();
  run.loader = std::make_unique<BatchLoader>(run.train_set, cfg.batch_size, cfg.seed, cfg.aug, /*train=*/true);
  if (ranks > 1) run.loader->set_shard(dist::rank() * (cfg.batch_size / ranks), cfg.batch_size / ranks);
  run.steps_per_epoch = run.loader->steps_per_epoch();
  run.sched = make_schedule(cfg, run.steps_per_epoch);
}

// What every checkpoint of the run records about it (CheckpointMeta), config.ini's text among it.
void describe_run(Run& run, const Resumed& resumed) {
  const TrainConfig& cfg = run.cfg;
  const TrainOptions& opts = run.opts;
  CheckpointMeta& meta = run.meta;
  meta.optimizer = cfg.optim.opt;
  meta.model_config_json = vit_config_to_json(cfg.vit).dump();
  // A resume written elsewhere than beside its checkpoint is a fork: a run of its own from then on, started now,
  // recording the run it came from.
  std::error_code ec;
  run.fork = !opts.resume.empty() && !fs::equivalent(checkpoint_dir(opts.resume), cfg.output, ec);
  meta.run_id = resumed.meta.run_id.empty() || run.fork ? new_run_id() : resumed.meta.run_id;
  meta.parent_run_id = run.fork ? resumed.meta.run_id : resumed.meta.parent_run_id;
  meta.created = resumed.meta.created.empty() || run.fork ? now_text() : resumed.meta.created;
  meta.tapevit_version = version();
  meta.tapevit_commit = commit();
  meta.command_line = opts.command_line;
  meta.class_names = run.train_set.class_names;
  const std::string forked_from =
      run.fork ? ", forked from " + (resumed.meta.run_id.empty() ? "" : "run " + resumed.meta.run_id + " ") + "at step " +
                 std::to_string(resumed.st.global_step) + " (" + opts.resume + ")"
           : "";
  meta.config_ini = "# tapevit " + meta.tapevit_version + " (commit " + meta.tapevit_commit + "), run " + meta.run_id +
                    " started " + meta.created + forked_from +
                    (opts.resume.empty() || run.fork ? "" : ", resumed " + now_text()) + "\n" +
                    (opts.command_line.empty() ? "" : "# command: " + opts.command_line + "\n") + config_to_ini(cfg);
}

std::string lr_text(double lr) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2e", lr);  // as the progress and epoch lines print it
  return buf;
}

// What a resume changes, said under the start-up header (rank 0): the keys whose values differ from the
// checkpoint's config (old -> new), a fork's new run id and the run it came from, and the lr of the next step when
// the schedule is recomputed (a longer run's cosine, another lr, ...).
void describe_resume(Run& run, const Resumed& resumed) {
  const std::string& ckpt = run.opts.resume;
  if (ckpt.empty() || !dist::is_root()) return;
  const ConfigValues before = parse_ini_text(resumed.meta.config_ini, ckpt, 0);
  const ConfigValues now = parse_ini_text(config_to_ini(run.cfg), "this run", 0);
  TrainConfig was = run.cfg;  // this run's config with the checkpoint's values put back
  std::string changed;
  for (const ConfigKey& k : config_keys()) {
    if (k.name == "output") continue;  // where the run writes: the run directory line says
    const auto b = before.find(k.name), a = now.find(k.name);
    if (b == before.end() || a == now.end() || b->second.value == a->second.value) continue;
    changed += (changed.empty() ? "" : ", ") + k.name + " " + b->second.value + " -> " + a->second.value;
    config_set(was, k.name, b->second.value, ckpt);
  }
  if (!changed.empty()) run.start_lines.push_back("note: changed from the config of " + ckpt + ": " + changed);
  if (run.fork)
    run.start_lines.push_back(
        "note: a fork: a new run, " + run.meta.run_id + ", continues " +
        (resumed.meta.run_id.empty() ? ckpt : "run " + resumed.meta.run_id + " (" + ckpt + ")") + " from epoch " +
        std::to_string(resumed.st.epoch) + ", step " + std::to_string(resumed.st.global_step) + " in " +
        run.cfg.output + "; " + checkpoint_dir(ckpt) + " is left as it is");
  // The schedule the checkpoint's config gives against this run's, from the next step on.
  const LrSchedule old_sched = make_schedule(was, run.steps_per_epoch);
  const int64_t next = resumed.st.global_step;
  bool differs = false;
  for (int64_t s = next; s < std::max(old_sched.total_steps, run.sched.total_steps) && !differs; ++s)
    differs = old_sched.at(s) != run.sched.at(s);
  if (!differs) return;
  const std::string length = old_sched.total_steps == run.sched.total_steps || run.sched.sched == "constant"
                                 ? ""
                                 : " over " + std::to_string(run.cfg.epochs) + " epochs, was " + std::to_string(was.epochs);
  run.start_lines.push_back("note: the lr schedule is recomputed (" + run.sched.sched + length + "): the next step, " +
                            std::to_string(next + 1) + " (epoch " + std::to_string(resumed.st.epoch + 1) +
                            "), takes lr " + lr_text(run.sched.at(next)) + " where the checkpoint's config gives " +
                            lr_text(old_sched.at(next)));
}

// A resumed run's weights, optimizer state, EMA and training state, from its checkpoint (rank 0), checked against
// the config.
void restore(Run& run) {
  const TrainConfig& cfg = run.cfg;
  const std::string& ckpt = run.opts.resume;
  run.st.seed = cfg.seed;
  if (ckpt.empty() || !dist::is_root()) return;
  if (cfg.model_ema && !checkpoint_has_ema(ckpt))
    fail(ckpt, ": model_ema = true, but the checkpoint has no EMA weights (the run was trained without "
         "model_ema; start a new run with --init ", ckpt, " to add one)");
  TrainState& st = run.st;
  st = load_checkpoint(ckpt, run.params(), run.opt.get(), run.ema ? &run.ema->params() : nullptr);
  // A fork is a run of its own: its best.h5 is the best of its epochs (the parent's best stays in the parent's
  // directory), so its first evaluated epoch writes one.
  if (run.fork) st.best_top1 = -1, st.best_epoch = -1;
  if (st.seed != cfg.seed)
    fail(ckpt, ": checkpoint was trained with seed ", st.seed, ", the config says seed = ", cfg.seed);
  if (st.global_step != st.epoch * run.steps_per_epoch + st.step_in_epoch)
    fail(ckpt, ": checkpoint step ", st.global_step, " does not fit ", run.steps_per_epoch,
         " steps per epoch (was batch_size or the data set changed?)");
}

// config.ini (rank 0; taken back if the run fails before its first checkpoint) and the checkpoints' paths.
void write_config(Run& run) {
  if (dist::is_root()) run.dir_lock->write_file("config.ini", run.meta.config_ini);
  run.last_path = (fs::path(run.cfg.output) / "last.h5").string();
  run.best_path = (fs::path(run.cfg.output) / "best.h5").string();
}

// The batches from the run's (epoch, step) on, made ahead by the Prefetcher's workers; the tape in training mode.
void start_batches(Run& run) {
  run.workers = run.cfg.workers >= 0 ? int(run.cfg.workers) : default_workers(run.train_set);
  run.batches = std::make_unique<Prefetcher>(*run.loader, run.st.epoch, run.st.step_in_epoch, run.workers);
  run.tape.training = true;
}

}  // namespace

void Run::save(const std::string& path) {
  const Saved next{path, st.global_step, st.epoch, st.step_in_epoch};
  const char* note = stage_kept_checkpoint(*this, next);
  if (dist::is_root()) {
    save_checkpoint(path, meta, params(), opt.get(), st, ema ? &ema->params() : nullptr);
    dir_lock->keep();  // the run has a checkpoint: what its start wrote stays, whatever happens next
  }
  publish_kept_checkpoint(note);
  saved = next;
}

Run::Run(TrainConfig config, const TrainOptions& options) : cfg(std::move(config)), opts(options) {
  // Several ranks: rank 0 alone reads --init / --resume and writes the run directory; every rank loads the data,
  // builds the model and takes the same steps on its rows of each batch.
  check_config(*this);
  const Resumed resumed = read_resumed(*this);
  if (already_complete(*this, resumed)) return;  // nothing to do: change nothing
  claim_run_dir(*this, resumed);
  load_data(*this, resumed);
  notice_recipe_and_colour(*this);
  build_model(*this);
  build_optimizer(*this);
  plan_steps(*this);
  describe_run(*this, resumed);
  describe_resume(*this, resumed);
  restore(*this);
  share_start(*this);
  write_config(*this);
  start_batches(*this);
}

}  // namespace tapevit
