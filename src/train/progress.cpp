// src/train/progress.cpp: see progress.h.
#include "progress.h"

#include <cmath>
#include <omp.h>

#include <algorithm>
#include <iomanip>
#include <sstream>

#include "tapevit/train/dist.h"

namespace tapevit {

std::string hms(double s) {
  const int64_t t = int64_t(s + 0.5);
  std::ostringstream os;
  if (t >= 3600) os << t / 3600 << "h" << std::setw(2) << std::setfill('0') << (t / 60) % 60 << "m";
  else if (t >= 60) os << t / 60 << "m" << std::setw(2) << std::setfill('0') << t % 60 << "s";
  else os << t << "s";
  return os.str();
}

std::string per_second(double rate) {
  if (!(rate >= 0)) return "?";  // (no time measured: NaN)
  if (rate >= 10) return std::to_string(int64_t(rate));
  std::ostringstream os;
  os << std::setprecision(2) << rate;  // two significant digits
  return os.str();
}

std::string status_line(int columns, const std::string& head, double fraction, const std::vector<StatusField>& fields) {
  const size_t limit = size_t(std::max(columns - 1, 1));
  // Keep fields by priority while they fit beside the head.
  std::vector<size_t> order(fields.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return fields[a].priority < fields[b].priority; });
  std::vector<bool> keep(fields.size(), false);
  size_t used = head.size();
  for (size_t i : order) {
    const size_t need = 2 + fields[i].text.size();
    if (fields[i].priority == 0 || used + need <= limit) keep[i] = true, used += need;
  }
  // The bar takes what is left, up to 24 cells, if that is at least 8.
  const size_t room = limit > used + 3 ? limit - used - 3 : 0;
  std::string line = head;
  if (room >= 8) {
    const size_t w = std::min<size_t>(24, room), filled = size_t(double(w) * std::clamp(fraction, 0.0, 1.0));
    line += " [" + std::string(filled, '#') + std::string(w - filled, '.') + "]";
  }
  for (size_t i = 0; i < fields.size(); ++i)
    if (keep[i]) line += "  " + fields[i].text;
  if (line.size() > limit) line.resize(limit);
  return line;
}

namespace {

std::string fixed(double v, int digits) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(digits) << v;
  return os.str();
}

std::string sci(double v) {
  std::ostringstream os;
  os << std::scientific << std::setprecision(2) << v;
  return os.str();
}

// Seconds the rest of the run takes: its training steps at the measured rate, and its evaluations at the last one's
// duration (before the first, at three times the training rate: inference is about that much faster per image).
double eta_seconds(const Run& run) {
  const TrainState& st = run.st;
  const double ips = double(run.train_images) / std::max(run.train_seconds, 1e-9);
  const double steps_left = double((run.cfg.epochs - st.epoch) * run.steps_per_epoch - st.step_in_epoch);
  const double eval_s = run.last_eval_seconds > 0 ? run.last_eval_seconds : double(run.eval_set.n) / (3 * ips);
  return steps_left * double(run.cfg.batch_size) / ips + double(run.cfg.epochs - st.epoch) * eval_s;
}

void draw(Run& run, std::ostream& out, const std::string& line) {
  out << "\r" << line << "\033[K" << std::flush;
  run.line_open = true;
}

}  // namespace

// How a batch is split: " = 4 ranks x 64", " = 2 micro-batches x 32 (grad_accum_steps)", " = 2 ranks x 2 x 16".
std::string batch_split(const TrainConfig& cfg) {
  const int64_t R = dist::size(), A = cfg.grad_accum_steps, m = cfg.batch_size / (R * A);
  if (R == 1 && A == 1) return "";
  if (A == 1) return " = " + std::to_string(R) + " ranks x " + std::to_string(m);
  if (R == 1) return " = " + std::to_string(A) + " micro-batches x " + std::to_string(m) + " (grad_accum_steps)";
  return " = " + std::to_string(R) + " ranks x " + std::to_string(A) + " micro-batches x " + std::to_string(m);
}

void print_header(const Run& run, std::ostream& out) {
  const TrainConfig& cfg = run.cfg;
  out << "tapevit train: " << describe_architecture(cfg.model, cfg.vit) << ", " << run.model->params().numel()
      << " parameters\n"
      << "data: " << cfg.dataset << " " << run.train_set.n << " train / " << run.eval_set.n << " eval (" << run.eval_name << "), batch "
      << cfg.batch_size << batch_split(cfg) << ", " << run.steps_per_epoch << " steps/epoch, " << cfg.epochs << " epochs, "
      << omp_get_max_threads() << " threads" << (dist::size() > 1 ? " per rank" : "") << "\n";
  if (run.train_set.is_folder()) {
    const Dataset& d = run.train_set;
    out << "images: " << d.num_classes << " classes (" << d.class_names.front()
        << (d.num_classes > 1 ? ", ..., " + d.class_names.back() : std::string()) << ") from " << d.dir;
    if (d.skipped + run.eval_set.skipped > 0)
      out << ", " << d.skipped + run.eval_set.skipped << " other files skipped (not .jpg/.jpeg/.png)";
    if (const int64_t n = d.beside + run.eval_set.beside; n > 0)
      out << ", " << n << (n == 1 ? " file" : " files") << " beside the class folders skipped (in no class folder)";
    out << "; " << run.workers << (run.workers == 1 ? " worker" : " workers") << (cfg.cache ? ", decoded once (cache)" : "")
        << "; train: RandomResizedCrop " << cfg.vit.img_size << " " << interpolation_name(cfg.aug.image.train_interpolation)
        << (cfg.aug.image.aa.empty() ? "" : ", " + cfg.aug.image.aa)
        << (cfg.aug.image.reprob > 0 ? ", erasing " + fixed(cfg.aug.image.reprob, 2) : "")
        << "; eval: resize " << int64_t(double(cfg.vit.img_size) / cfg.aug.image.crop_pct) << " "
        << interpolation_name(cfg.aug.image.interpolation) << ", center crop " << cfg.vit.img_size << "\n";
  }
  out
      << "run directory: " << cfg.output << (run.opts.resume.empty() ? "" : " (resumed from " + run.opts.resume + ")")
      << "\n";
  for (const auto& line : run.start_lines) out << line << "\n";
  out.flush();
}

FileProgress file_progress(Run& run, std::ostream& out, const std::string& what) {
  const Clock::time_point start = Clock::now();
  double logged = 0;  // (not a terminal) when the last line was written
  return [&run, &out, what, start, logged](int64_t done, int64_t total) mutable {
    const double t = since(start);
    if (run.opts.tty) {
      if (t < 0.5) return;
      if (done < total) draw(run, out, status_line(run.opts.columns > 0 ? run.opts.columns : 80, what,
                                                   double(done) / double(total), {{std::to_string(done) + "/" + std::to_string(total), 0}}));
      else if (run.line_open) out << "\r\033[K" << std::flush, run.line_open = false;
    } else if (total >= 1000 && (done == total || t - logged >= 30)) {
      out << what << ": " << done << "/" << total << (done == total ? " in " + hms(t) : std::string()) << "\n" << std::flush;
      logged = t;
    }
  };
}

void print_progress(Run& run, std::ostream& out) {
  const TrainConfig& cfg = run.cfg;
  const TrainState& st = run.st;
  const bool tty = run.opts.tty;
  if (!(tty || st.step_in_epoch % cfg.log_interval == 0 || st.step_in_epoch == run.steps_per_epoch)) return;
  const double ips = double(run.train_images) / std::max(run.train_seconds, 1e-9);
  const std::string head = "epoch " + std::to_string(st.epoch + 1) + "/" + std::to_string(cfg.epochs);
  const std::vector<StatusField> fields = {
      {std::to_string(st.step_in_epoch) + "/" + std::to_string(run.steps_per_epoch), 0},
      {"loss " + fixed(st.train_loss_sum / double(st.train_loss_count), 4), 1},
      {"lr " + sci(st.lr), 4},
      {per_second(ips) + " img/s", 3},
      {"eta " + hms(eta_seconds(run)), 2}};
  if (tty) {
    draw(run, out, status_line(run.opts.columns > 0 ? run.opts.columns : 80, head,
                               double(st.step_in_epoch) / double(run.steps_per_epoch), fields));
  } else {
    std::string line = head + " step";
    for (const auto& f : fields) line += "  " + f.text;
    out << line << "\n" << std::flush;
  }
}

EvalProgress eval_progress(Run& run, std::ostream& out) {
  if (!run.opts.tty) return {};
  return [&run, &out](int64_t done, int64_t total) {
    const std::string head = "epoch " + std::to_string(run.st.epoch + 1) + "/" + std::to_string(run.cfg.epochs) + " eval";
    draw(run, out, status_line(run.opts.columns > 0 ? run.opts.columns : 80, head, double(done) / double(total),
                               {{std::to_string(done) + "/" + std::to_string(total), 0}}));
  };
}

void print_epoch(Run& run, const EpochMetrics& m, bool best, std::ostream& out) {
  if (run.line_open) out << "\r\033[K";  // the epoch's line replaces the bar
  run.line_open = false;
  out << "epoch " << run.st.epoch << "/" << run.cfg.epochs << "  train_loss " << std::fixed << std::setprecision(4)
      << m.train_loss << "  eval_loss " << m.eval_loss << "  top1 " << std::setprecision(2) << m.eval_top1
      << "%  top5 " << m.eval_top5 << "%";
  if (std::isfinite(m.ema_top1)) out << "  ema top1 " << m.ema_top1 << "%";
  out << "  lr " << std::scientific << std::setprecision(2) << m.lr << std::defaultfloat
      << "  " << hms(m.seconds) << (best ? "  (best)" : "") << "\n"
      << std::flush;
}

void print_done(const Run& run, const TrainSummary& sum, std::ostream& out) {
  out << "done: " << sum.epochs_done << " epochs, " << sum.steps << " steps in " << hms(sum.seconds) << ", "
      << per_second(sum.train_images_per_second) << " train img/s; best top1 " << std::fixed << std::setprecision(2)
      << sum.best_top1 << "% (epoch " << sum.best_epoch << "), last " << sum.last_top1 << "%; " << run.cfg.output
      << "/{last,best}.h5, summary.csv, curves.svg\n";
  if (dist::size() > 1 && run.train_seconds > 0)  // rank 0's share of the steps spent in collectives
    out << "ranks: " << dist::size() << ", " << std::setprecision(1) << 100.0 * dist::seconds_waiting() / run.train_seconds
        << "% of the training time in allreduce (and waiting for the slowest rank), "
        << std::setprecision(2) << 1e3 * dist::seconds_waiting() / double(std::max<int64_t>(1, run.train_images / run.cfg.batch_size)) << " ms per step\n";
  out << std::defaultfloat << std::flush;
}

EvalProgress terminal_eval_progress(std::ostream& out, int columns, const std::string& label) {
  return [&out, columns, label](int64_t done, int64_t total) {
    out << "\r" << status_line(columns, label, double(done) / double(total), {{std::to_string(done) + "/" + std::to_string(total), 0}})
        << "\033[K" << (done == total ? "\r\033[K" : "") << std::flush;
  };
}

}  // namespace tapevit
