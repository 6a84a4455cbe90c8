// src/train/run.cpp: see run.h; also the data binding of tapevit/train/train.h.
#include "run.h"

#include <omp.h>

#include <cmath>
#include <ctime>
#include <filesystem>

#include "tapevit/io/atomic_file.h"
#include "tapevit/io/pretrained.h"
#include "tapevit/io/vit_json.h"

namespace tapevit {

namespace fs = std::filesystem;

void bind_normalisation_defaults(TrainConfig& cfg) {
  std::vector<double> mean, std;
  default_mean_std(cfg.dataset, mean, std);
  if (cfg.aug.mean.empty()) cfg.aug.mean = mean;
  if (cfg.aug.std.empty()) cfg.aug.std = std;
  cfg.aug.validate(cfg.vit.in_chans);
}

void bind_data_defaults(TrainConfig& cfg) {
  if (cfg.data_dir.empty()) cfg.data_dir = default_data_dir(cfg.dataset);
  if (cfg.data_dir.empty()) fail("key 'data_dir' must be set for dataset '", cfg.dataset, "' (no packaged default)");
  cfg.aug.augment = !cfg.no_aug;
  bind_normalisation_defaults(cfg);
}

void check_data_fits(const TrainConfig& cfg, const Dataset& d) {
  const VitConfig& v = cfg.vit;
  if (d.channels != v.in_chans || d.height != v.img_size || d.width != v.img_size)
    fail("dataset '", d.name, "' in ", cfg.data_dir, " has ", d.channels, "x", d.height, "x", d.width,
         " images but the model expects in_chans ", v.in_chans, " and img_size ", v.img_size,
         " (set in_chans = ", d.channels, ", img_size = ", d.height, ")");
  if (d.num_classes != v.num_classes)
    fail("dataset '", d.name, "' has ", d.num_classes, " classes but num_classes = ", v.num_classes);
}

namespace {

std::string default_run_dir(const std::string& model) {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", std::localtime(&t));
  return "runs/" + std::string(buf) + "-" + model;
}

// The run directory: a new run never takes one that already holds a run's checkpoints.
void choose_output(TrainConfig& cfg, const TrainOptions& opts) {
  if (cfg.output.empty())
    cfg.output = opts.resume.empty() ? default_run_dir(cfg.model) : fs::path(opts.resume).parent_path().string();
  if (cfg.output.empty()) cfg.output = ".";
  if (opts.resume.empty() && fs::exists(fs::path(cfg.output) / "last.h5"))
    fail("output directory ", cfg.output, " already holds a run (last.h5); resume it with --resume ", cfg.output,
         "/last.h5 or choose another --output");
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

}  // namespace

Run::Run(TrainConfig config, const TrainOptions& options) : cfg(std::move(config)), opts(options) {
  if (cfg.threads > 0) omp_set_num_threads(int(cfg.threads));
  bind_data_defaults(cfg);
  cfg.validate();
  choose_output(cfg, opts);

  train_set = load_dataset(cfg.dataset, cfg.data_dir, true);
  test_set = load_dataset(cfg.dataset, cfg.data_dir, false);
  const std::vector<int64_t> classes(cfg.classes.begin(), cfg.classes.end());
  select_classes(train_set, classes, cfg.train_per_class);
  select_classes(test_set, classes, 0);  // the whole test split of the kept classes
  check_data_fits(cfg, train_set);
  check_data_fits(cfg, test_set);

  model = std::make_unique<VisionTransformer<float>>(cfg.vit, cfg.seed);
  if (!cfg.init.empty() && opts.resume.empty()) {  // a resumed run takes its weights from the checkpoint
    const LoadReport report = load_pretrained(cfg.init, params(), cfg.vit, cfg.init_strict);
    if (opts.out) *opts.out << report.table() << std::flush;
  }
  if (cfg.freeze == "all_but_head")
    for (const auto& info : params().infos()) params().set_trainable(info.name, info.name.rfind("head.", 0) == 0);
  opt = make_optimizer(cfg.optim, params());
  if (cfg.layer_decay > 0) opt->set_lr_scales(layer_decay_scales(params(), cfg.vit.depth, cfg.layer_decay));
  loader = std::make_unique<BatchLoader>(train_set, cfg.batch_size, cfg.seed, cfg.aug, /*train=*/true);
  steps_per_epoch = loader->steps_per_epoch();
  sched = make_schedule(cfg, steps_per_epoch);

  meta = {config_to_ini(cfg), vit_config_to_json(cfg.vit).dump(), cfg.optim.opt};
  st.seed = cfg.seed;
  if (!opts.resume.empty()) {
    st = load_checkpoint(opts.resume, params(), opt.get());
    if (st.seed != cfg.seed)
      fail(opts.resume, ": checkpoint was trained with seed ", st.seed, ", the config says seed = ", cfg.seed);
    if (st.global_step != st.epoch * steps_per_epoch + st.step_in_epoch)
      fail(opts.resume, ": checkpoint step ", st.global_step, " does not fit ", steps_per_epoch,
           " steps per epoch (was batch_size or the data set changed?)");
  }
  fs::create_directories(cfg.output);
  write_file_atomic((fs::path(cfg.output) / "config.ini").string(), meta.config_ini);
  last_path = (fs::path(cfg.output) / "last.h5").string();
  best_path = (fs::path(cfg.output) / "best.h5").string();

  const VitConfig& v = cfg.vit;
  images.resize(size_t(cfg.batch_size * v.in_chans * v.img_size * v.img_size));
  targets.resize(size_t(cfg.batch_size * v.num_classes));
  labels.resize(size_t(cfg.batch_size));
  tape.training = true;
}

}  // namespace tapevit
