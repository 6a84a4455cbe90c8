// src/train/train.cpp: see tapevit/train/train.h.
#include "tapevit/train/train.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <iomanip>
#include <sstream>

#include "tapevit/layers/loss.h"
#include "tapevit/io/checkpoint.h"
#include "tapevit/io/pretrained.h"
#include "tapevit/io/vit_json.h"

namespace tapevit {

namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

std::string hms(double s) {
  const int64_t t = int64_t(s + 0.5);
  std::ostringstream os;
  if (t >= 3600) os << t / 3600 << "h" << std::setw(2) << std::setfill('0') << (t / 60) % 60 << "m";
  else if (t >= 60) os << t / 60 << "m" << std::setw(2) << std::setfill('0') << t % 60 << "s";
  else os << t << "s";
  return os.str();
}

std::string csv(const std::vector<EpochMetrics>& ms) {
  std::ostringstream os;
  os << "epoch,train_loss,eval_loss,eval_top1,eval_top5,lr,seconds\n";
  for (const auto& m : ms)
    os << int64_t(m.epoch) << "," << std::setprecision(6) << m.train_loss << "," << m.eval_loss << ","
       << std::setprecision(4) << std::fixed << m.eval_top1 << "," << m.eval_top5 << std::defaultfloat << ","
       << std::setprecision(6) << m.lr << "," << std::setprecision(4) << std::fixed << m.seconds << std::defaultfloat
       << "\n";
  return os.str();
}

// Per-step dropout / drop-path stream: a function of (seed, step) only, so resuming replays it exactly.
Rng step_rng(uint64_t seed, int64_t step) { return Rng{splitmix64(seed ^ 0xD1B54A32D192ED03ull) ^ splitmix64(uint64_t(step)), 0}; }

std::string default_run_dir(const std::string& model) {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", std::localtime(&t));
  return "runs/" + std::string(buf) + "-" + model;
}

}  // namespace

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

void predict(const VisionTransformer<float>& model, const float* images, int64_t n, int64_t batch, float* logits) {
  const VitConfig& v = model.config();
  const int64_t img = v.in_chans * v.img_size * v.img_size, K = v.num_classes > 0 ? v.num_classes : v.embed_dim;
  Tape<float> tape;
  tape.set_grad_enabled(false);
  for (int64_t i = 0; i < n; i += batch) {
    const int64_t b = std::min(batch, n - i);
    tape.reset();
    Var<float> out = model(tape, tape.wrap(const_cast<float*>(images + i * img), {b, v.in_chans, v.img_size, v.img_size}));
    std::copy(out->data, out->data + b * K, logits + i * K);
  }
}

EvalResult evaluate(const VisionTransformer<float>& model, const Dataset& data, const TrainConfig& cfg) {
  const auto t0 = Clock::now();
  const int64_t B = cfg.validation_batch_size > 0 ? cfg.validation_batch_size : cfg.batch_size;
  const VitConfig& v = model.config();
  BatchLoader loader(data, B, cfg.seed, cfg.aug, /*train=*/false);
  const int64_t K = v.num_classes, img = v.in_chans * v.img_size * v.img_size;
  std::vector<float> images(size_t(B * img)), targets(size_t(B * K));
  std::vector<int32_t> labels(static_cast<size_t>(B));
  Tape<float> tape;
  tape.set_grad_enabled(false);
  EvalResult r;
  double loss_sum = 0;
  int64_t top1 = 0, top5 = 0;
  const int64_t k5 = std::min<int64_t>(5, K);
  for (int64_t s = 0; s < loader.steps_per_epoch(); ++s) {
    const int64_t n = loader.batch(0, s, images.data(), labels.data(), targets.data());
    tape.reset();
    Var<float> logits = model(tape, tape.wrap(images.data(), {n, v.in_chans, v.img_size, v.img_size}));
    for (int64_t b = 0; b < n; ++b) {
      const float* z = logits->data + b * K;
      const float mx = *std::max_element(z, z + K);
      double se = 0;
      for (int64_t k = 0; k < K; ++k) se += std::exp(double(z[k] - mx));
      loss_sum += double(mx) + std::log(se) - double(z[labels[size_t(b)]]);
      int64_t rank = 0;  // classes scoring strictly higher than the true one
      for (int64_t k = 0; k < K; ++k) rank += z[k] > z[labels[size_t(b)]];
      top1 += rank < 1;
      top5 += rank < k5;
    }
    r.n += n;
  }
  r.loss = loss_sum / double(r.n);
  r.top1 = 100.0 * double(top1) / double(r.n);
  r.top5 = 100.0 * double(top5) / double(r.n);
  r.seconds = since(t0);
  return r;
}

TrainSummary train(TrainConfig cfg, const TrainOptions& opts) {
  const auto t_start = Clock::now();
  std::ostream* out = opts.out;
  if (cfg.threads > 0) omp_set_num_threads(int(cfg.threads));
  bind_data_defaults(cfg);
  cfg.validate();

  // Run directory: never clobber another run's checkpoints.
  if (cfg.output.empty()) cfg.output = opts.resume.empty() ? default_run_dir(cfg.model) : fs::path(opts.resume).parent_path().string();
  if (cfg.output.empty()) cfg.output = ".";
  if (opts.resume.empty() && fs::exists(fs::path(cfg.output) / "last.h5"))
    fail("output directory ", cfg.output, " already holds a run (last.h5); resume it with --resume ", cfg.output,
         "/last.h5 or choose another --output");

  Dataset train_set = load_dataset(cfg.dataset, cfg.data_dir, true);
  Dataset test_set = load_dataset(cfg.dataset, cfg.data_dir, false);
  const std::vector<int64_t> classes(cfg.classes.begin(), cfg.classes.end());
  select_classes(train_set, classes, cfg.train_per_class);
  select_classes(test_set, classes, 0);  // the whole test split of the kept classes
  check_data_fits(cfg, train_set);
  check_data_fits(cfg, test_set);

  VisionTransformer<float> model(cfg.vit, cfg.seed);
  Params<float>& params = model.params();
  if (!cfg.init.empty() && opts.resume.empty()) {  // a resumed run takes its weights from the checkpoint
    const LoadReport report = load_pretrained(cfg.init, params, cfg.vit, cfg.init_strict);
    if (out) *out << report.table() << std::flush;
  }
  if (cfg.freeze == "all_but_head")
    for (const auto& info : params.infos()) params.set_trainable(info.name, info.name.rfind("head.", 0) == 0);
  std::unique_ptr<Optimizer<float>> opt = make_optimizer(cfg.optim, params);
  if (cfg.layer_decay > 0) opt->set_lr_scales(layer_decay_scales(params, cfg.vit.depth, cfg.layer_decay));
  const BatchLoader loader(train_set, cfg.batch_size, cfg.seed, cfg.aug, /*train=*/true);
  const int64_t steps_per_epoch = loader.steps_per_epoch();
  LrSchedule sched;
  sched.sched = cfg.sched;
  sched.lr = cfg.lr;
  sched.min_lr = cfg.min_lr;
  sched.warmup_lr = cfg.warmup_lr;
  sched.warmup_steps = int64_t(std::llround(cfg.warmup_epochs * double(steps_per_epoch)));
  sched.total_steps = cfg.epochs * steps_per_epoch;
  sched.validate();

  CheckpointMeta meta{config_to_ini(cfg), vit_config_to_json(cfg.vit).dump(), cfg.optim.opt};
  TrainState st;
  st.seed = cfg.seed;
  if (!opts.resume.empty()) {
    st = load_checkpoint(opts.resume, params, opt.get());
    if (st.seed != cfg.seed)
      fail(opts.resume, ": checkpoint was trained with seed ", st.seed, ", the config says seed = ", cfg.seed);
    if (st.global_step != st.epoch * steps_per_epoch + st.step_in_epoch)
      fail(opts.resume, ": checkpoint step ", st.global_step, " does not fit ", steps_per_epoch,
           " steps per epoch (was batch_size or the data set changed?)");
  }
  fs::create_directories(cfg.output);
  write_file_atomic((fs::path(cfg.output) / "config.ini").string(), meta.config_ini);
  const std::string last_path = (fs::path(cfg.output) / "last.h5").string();
  const std::string best_path = (fs::path(cfg.output) / "best.h5").string();

  const VitConfig& v = cfg.vit;
  const int64_t B = cfg.batch_size, K = v.num_classes;
  std::vector<float> images(size_t(B * v.in_chans * v.img_size * v.img_size)), targets(size_t(B * K));
  std::vector<int32_t> labels(static_cast<size_t>(B));
  Tape<float> tape;
  tape.training = true;

  if (out) {
    *out << "tapevit train: " << cfg.model << " (" << params.numel() << " parameters), " << cfg.dataset << " "
         << train_set.n << " train / " << test_set.n << " test, batch " << B << ", " << steps_per_epoch
         << " steps/epoch, " << cfg.epochs << " epochs, " << omp_get_max_threads() << " threads\n"
         << "run directory: " << cfg.output << (opts.resume.empty() ? "" : " (resumed from " + opts.resume + ")") << "\n";
    out->flush();
  }

  TrainSummary sum;
  sum.run_dir = cfg.output;
  double train_seconds = 0;
  int64_t train_images = 0;
  auto save_last = [&] { save_checkpoint(last_path, meta, params, opt.get(), st); };

  while (st.epoch < cfg.epochs) {
    const auto t_epoch = Clock::now();
    const double epoch_seconds_before = st.epoch_seconds;
    const auto t_train = Clock::now();
    for (; st.step_in_epoch < steps_per_epoch; ) {
      const auto t_step = Clock::now();
      loader.batch(st.epoch, st.step_in_epoch, images.data(), labels.data(), targets.data());
      tape.reset();
      tape.rng = step_rng(cfg.seed, st.global_step);
      Var<float> logits = model(tape, tape.wrap(images.data(), {B, v.in_chans, v.img_size, v.img_size}));
      Var<float> loss = soft_target_cross_entropy(tape, logits, targets.data());
      const double lv = loss->data[0];
      if (!std::isfinite(lv))
        fail("non-finite loss (", lv, ") at step ", st.global_step + 1, " (epoch ", st.epoch + 1, ", batch ",
             st.step_in_epoch + 1, " of ", steps_per_epoch, "); training stopped. ",
             fs::exists(last_path) ? "The last good checkpoint is " + last_path + " (left as it was)"
                                   : std::string("No checkpoint was written yet"),
             ". Lower lr or set clip_grad.");
      params.zero_grad();
      tape.backward(loss);
      clip_grad_norm(params, cfg.clip_grad);
      st.lr = sched.at(st.global_step);
      opt->step(params, st.lr);
      ++st.global_step;
      ++st.step_in_epoch;
      st.train_loss_sum += lv;
      ++st.train_loss_count;
      train_seconds += since(t_step);
      train_images += B;

      if (out && (opts.tty || st.step_in_epoch % cfg.log_interval == 0 || st.step_in_epoch == steps_per_epoch)) {
        const double ips = double(train_images) / std::max(train_seconds, 1e-9);
        const double eta = double((cfg.epochs - st.epoch) * steps_per_epoch - st.step_in_epoch) * double(B) / ips;
        std::ostringstream line;
        line << "epoch " << st.epoch + 1 << "/" << cfg.epochs << " ";
        if (opts.tty) {
          const int w = 24, filled = int(w * st.step_in_epoch / steps_per_epoch);
          line << "[" << std::string(size_t(filled), '#') << std::string(size_t(w - filled), '.') << "] ";
        } else {
          line << "step ";
        }
        line << st.step_in_epoch << "/" << steps_per_epoch << "  loss " << std::fixed << std::setprecision(4)
             << st.train_loss_sum / double(st.train_loss_count) << "  lr " << std::scientific << std::setprecision(2)
             << st.lr << std::defaultfloat << "  " << int64_t(ips) << " img/s  eta " << hms(eta);
        if (opts.tty) *out << "\r" << line.str() << "\033[K" << std::flush;
        else *out << line.str() << "\n" << std::flush;
      }
      const bool stop_now = opts.stop_after_steps > 0 && st.global_step >= opts.stop_after_steps;
      if ((cfg.checkpoint_steps > 0 && st.global_step % cfg.checkpoint_steps == 0 && st.step_in_epoch < steps_per_epoch) ||
          (stop_now && st.step_in_epoch < steps_per_epoch)) {
        st.epoch_seconds = epoch_seconds_before + since(t_train);
        save_last();
      }
      if (stop_now && st.step_in_epoch < steps_per_epoch) {
        sum.steps = st.global_step;
        sum.epochs_done = st.epoch;
        return sum;
      }
    }
    if (out && opts.tty) *out << "\n";
    EvalResult ev = evaluate(model, test_set, cfg);
    EpochMetrics m;
    m.epoch = double(st.epoch + 1);
    m.train_loss = st.train_loss_sum / double(std::max<int64_t>(1, st.train_loss_count));
    m.eval_loss = ev.loss;
    m.eval_top1 = ev.top1;
    m.eval_top5 = ev.top5;
    m.lr = st.lr;
    m.seconds = epoch_seconds_before + since(t_epoch);
    st.metrics.push_back(m);
    ++st.epoch;
    st.step_in_epoch = 0;
    st.train_loss_sum = 0;
    st.train_loss_count = 0;
    st.epoch_seconds = 0;
    const bool best = ev.top1 > st.best_top1;
    if (best) st.best_top1 = ev.top1, st.best_epoch = st.epoch;
    save_last();
    if (best) save_checkpoint(best_path, meta, params, opt.get(), st);
    write_file_atomic((fs::path(cfg.output) / "summary.csv").string(), csv(st.metrics));
    if (out)
      *out << "epoch " << st.epoch << "/" << cfg.epochs << "  train_loss " << std::fixed << std::setprecision(4)
           << m.train_loss << "  eval_loss " << ev.loss << "  top1 " << std::setprecision(2) << ev.top1 << "%  top5 "
           << ev.top5 << "%  lr " << std::scientific << std::setprecision(2) << m.lr << std::defaultfloat << "  "
           << hms(m.seconds) << (best ? "  (best)" : "") << "\n" << std::flush;
    if (opts.stop_after_steps > 0 && st.global_step >= opts.stop_after_steps) break;
  }
  sum.epochs_done = st.epoch;
  sum.steps = st.global_step;
  sum.best_top1 = st.best_top1;
  sum.best_epoch = st.best_epoch;
  sum.last_top1 = st.metrics.empty() ? 0 : st.metrics.back().eval_top1;
  sum.seconds = since(t_start);
  sum.train_images_per_second = double(train_images) / std::max(train_seconds, 1e-9);
  if (out)
    *out << "done: " << sum.epochs_done << " epochs, " << sum.steps << " steps in " << hms(sum.seconds) << ", "
         << int64_t(sum.train_images_per_second) << " train img/s; best top1 " << std::fixed << std::setprecision(2)
         << sum.best_top1 << "% (epoch " << sum.best_epoch << "), last " << sum.last_top1 << "%; "
         << cfg.output << "/{last,best}.h5, summary.csv\n" << std::defaultfloat << std::flush;
  return sum;
}

}  // namespace tapevit
