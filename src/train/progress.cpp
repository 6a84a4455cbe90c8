// src/train/progress.cpp: see progress.h.
#include "progress.h"

#include <omp.h>

#include <algorithm>
#include <iomanip>
#include <sstream>

namespace tapevit {

std::string hms(double s) {
  const int64_t t = int64_t(s + 0.5);
  std::ostringstream os;
  if (t >= 3600) os << t / 3600 << "h" << std::setw(2) << std::setfill('0') << (t / 60) % 60 << "m";
  else if (t >= 60) os << t / 60 << "m" << std::setw(2) << std::setfill('0') << t % 60 << "s";
  else os << t << "s";
  return os.str();
}

void print_header(const Run& run, std::ostream& out) {
  const TrainConfig& cfg = run.cfg;
  out << "tapevit train: " << cfg.model << " (" << run.model->params().numel() << " parameters), " << cfg.dataset
      << " " << run.train_set.n << " train / " << run.test_set.n << " test, batch " << cfg.batch_size << ", "
      << run.steps_per_epoch << " steps/epoch, " << cfg.epochs << " epochs, " << omp_get_max_threads() << " threads\n"
      << "run directory: " << cfg.output << (run.opts.resume.empty() ? "" : " (resumed from " + run.opts.resume + ")")
      << "\n";
  out.flush();
}

void print_progress(const Run& run, std::ostream& out) {
  const TrainConfig& cfg = run.cfg;
  const TrainState& st = run.st;
  const bool tty = run.opts.tty;
  if (!(tty || st.step_in_epoch % cfg.log_interval == 0 || st.step_in_epoch == run.steps_per_epoch)) return;
  const double ips = double(run.train_images) / std::max(run.train_seconds, 1e-9);
  const double eta =
      double((cfg.epochs - st.epoch) * run.steps_per_epoch - st.step_in_epoch) * double(cfg.batch_size) / ips;
  std::ostringstream line;
  line << "epoch " << st.epoch + 1 << "/" << cfg.epochs << " ";
  if (tty) {
    const int w = 24, filled = int(w * st.step_in_epoch / run.steps_per_epoch);
    line << "[" << std::string(size_t(filled), '#') << std::string(size_t(w - filled), '.') << "] ";
  } else {
    line << "step ";
  }
  line << st.step_in_epoch << "/" << run.steps_per_epoch << "  loss " << std::fixed << std::setprecision(4)
       << st.train_loss_sum / double(st.train_loss_count) << "  lr " << std::scientific << std::setprecision(2)
       << st.lr << std::defaultfloat << "  " << int64_t(ips) << " img/s  eta " << hms(eta);
  if (tty) out << "\r" << line.str() << "\033[K" << std::flush;
  else out << line.str() << "\n" << std::flush;
}

void print_epoch(const Run& run, const EpochMetrics& m, bool best, std::ostream& out) {
  out << "epoch " << run.st.epoch << "/" << run.cfg.epochs << "  train_loss " << std::fixed << std::setprecision(4)
      << m.train_loss << "  eval_loss " << m.eval_loss << "  top1 " << std::setprecision(2) << m.eval_top1
      << "%  top5 " << m.eval_top5 << "%  lr " << std::scientific << std::setprecision(2) << m.lr << std::defaultfloat
      << "  " << hms(m.seconds) << (best ? "  (best)" : "") << "\n"
      << std::flush;
}

void print_done(const Run& run, const TrainSummary& sum, std::ostream& out) {
  out << "done: " << sum.epochs_done << " epochs, " << sum.steps << " steps in " << hms(sum.seconds) << ", "
      << int64_t(sum.train_images_per_second) << " train img/s; best top1 " << std::fixed << std::setprecision(2)
      << sum.best_top1 << "% (epoch " << sum.best_epoch << "), last " << sum.last_top1 << "%; " << run.cfg.output
      << "/{last,best}.h5, summary.csv, curves.svg\n"
      << std::defaultfloat << std::flush;
}

}  // namespace tapevit
