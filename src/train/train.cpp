// src/train/train.cpp: the training loop, as timm's train.py: set up a Run, then per epoch train_one_epoch,
// validate (evaluate), end_epoch. See tapevit/train/train.h for what a run guarantees.
#include "tapevit/train/train.h"

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <filesystem>
#include <thread>

#include "memory.h"
#include "progress.h"
#include "run.h"
#include "tapevit/gemm.h"
#include "tapevit/io/atomic_file.h"
#include "tapevit/layers/loss.h"
#include "tapevit/train/curves.h"
#include "tapevit/train/dist.h"

namespace tapevit {

namespace fs = std::filesystem;

namespace {

std::atomic<int> g_stop_signal{0};
static_assert(std::atomic<int>::is_always_lock_free, "request_stop must be async-signal-safe");
// checkpoint_on_disk's text: written into the buffer not being shown, then published by one atomic store
char g_kept_text[2][4096];
std::atomic<const char*> g_kept{""};
static_assert(std::atomic<const char*>::is_always_lock_free, "checkpoint_on_disk must be async-signal-safe");

// A test's hook (tests/cli_preempt_test.sh), read once when a run starts: TAPEVIT_TEST_SLOW_STEP=MS makes every
// training step long on purpose: MS milliseconds at each node boundary of its forward and backward passes and 20 x MS
// in its optimizer update, each phase announced on stderr as it starts ("test: step 3 backward") so that a test can
// signal inside it. Unset (every real run): the tape calls no hook.
int g_slow_ms = 0;
int64_t g_slow_step = 0;  // the step under way, 1-based
int g_slow_phase = 0;     // 0 none yet, 1 forward, 2 backward
void slow_phase(int64_t step, const char* phase, int ms) {
  std::fprintf(stderr, "test: step %lld %s\n", static_cast<long long>(step), phase);
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}
void slow_node(bool backward) {
  const int phase = backward ? 2 : 1;
  if (phase != g_slow_phase) {
    g_slow_phase = phase;
    slow_phase(g_slow_step, backward ? "backward" : "forward", g_slow_ms);
  } else {
    std::this_thread::sleep_for(std::chrono::milliseconds(g_slow_ms));
  }
}
void read_slow_step_hook(Tape<float>& tape) {
  const char* v = std::getenv("TAPEVIT_TEST_SLOW_STEP");
  g_slow_ms = v ? std::max(0, std::atoi(v)) : 0;
  tape.at_node = g_slow_ms > 0 ? slow_node : nullptr;
}

// Per-step dropout / drop-path stream: a function of (seed, step) only, so resuming replays it exactly.
Rng step_rng(uint64_t seed, int64_t step) { return Rng{splitmix64(seed ^ 0xD1B54A32D192ED03ull) ^ splitmix64(uint64_t(step)), 0}; }

// timm's ModelEmaV3.update after optimizer update number `step` (1-based): ema += (1 - decay) (w - ema), with
// decay 0 at the first update (the EMA starts as a copy of the weights) and `decay` after it.
void update_ema(Params<float>& ema, const Params<float>& w, int64_t step, double decay) {
  const float keep = step <= 1 ? 0.0f : float(decay), take = 1.0f - keep;
  float* e = ema.data();
  const float* x = w.data();
  const int64_t n = w.flat_size();
#pragma omp parallel for schedule(static) if (n >= 65536)
  for (int64_t i = 0; i < n; ++i) e[i] += take * (x[i] - e[i]);
}

// A stop request as the ranks share it: votes (asked by SIGINT, asked by another signal) that an allreduce sums, and
// the signal they agree on (SIGTERM when any rank got it, else SIGINT when any did, else 0). train_step adds a third
// vote: this rank abandoned the step.
void stop_votes(int sig, double* votes) {
  votes[0] = double(sig == SIGINT);
  votes[1] = double(sig != 0 && sig != SIGINT);
}
int stop_from_votes(const double* votes) { return votes[1] > 0 ? SIGTERM : votes[0] > 0 ? SIGINT : 0; }

// The range of the flat gradient buffer that holds trainable parameters' gradients: [first, end).
std::pair<int64_t, int64_t> trainable_range(Params<float>& p) {
  int64_t first = p.flat_size(), end = 0;
  for (size_t i = 0; i < p.size(); ++i)
    if (p.value(i)->requires_grad) {
      first = std::min(first, p.info(i).offset);
      end = std::max(end, p.info(i).offset + p.info(i).shape.numel());
    }
  return {std::min(first, end), end};
}

}  // namespace

double forward_backward(Run& run, Tape<float>& tape, const float* images, const float* targets, int64_t rows,
                        float share) {
  const VitConfig& v = run.cfg.vit;
  std::optional<Bf16Scope> amp;  // mixed precision: the forward's and backward's matrix products (not the optimizer)
  if (run.cfg.amp) amp.emplace(true);
  Var<float> x = tape.wrap(const_cast<float*>(images), {rows, v.in_chans, v.img_size, v.img_size});
  Var<float> loss = soft_target_cross_entropy(tape, (*run.model)(tape, x), targets);
  const double value = loss->data[0];
  run.params().zero_grad();
  tape.backward(loss, share == 1.0f ? nullptr : &share);
  return value;
}

namespace {

// One optimizer step on batch (epoch, step_in_epoch): forward, loss, backward, clip, update. Returns the loss, or
// nothing when the step was abandoned: a stop request (SIGINT / SIGTERM) stops the forward or backward pass at its
// next tape node (Tape::stop), and then the step is given up on every rank (agreed in the allreduce that every rank
// reaches after its backward pass, so none waits for a peer that gave up), before anything of the run has changed: the
// weights, optimizer state and EMA change only in the update. A request during the update lets it finish.
// This rank's rows of the batch (all of them with one rank) go through as grad_accum_steps micro-batches, each
// backward seeded with 1 / (ranks x micro-batches) of its mean loss: the summed gradients are those of the whole
// batch's mean. The sum over micro-batches runs in a buffer of its own (micro-batch 0's gradients, + 1's, ...),
// so that micro-batches on one rank add up exactly as ranks do in the allreduce.
std::optional<double> train_step(Run& run) {
  TrainState& st = run.st;
  const VitConfig& v = run.cfg.vit;
  const Prefetcher::Batch* batch = nullptr;
  try {
    batch = &run.batches->get(st.epoch, st.step_in_epoch);
  } catch (const Error& e) {  // an image that cannot be decoded (the start checks headers only), a read error
    fail(e.what(), "\n", kept_checkpoint(run, "once that is fixed, "));
  }
  const Prefetcher::Batch& b = *batch;
  const int64_t ranks = dist::size(), A = run.cfg.grad_accum_steps;
  const int64_t rows = run.cfg.batch_size / ranks, m = rows / A;
  const int64_t img = v.in_chans * v.img_size * v.img_size, K = v.num_classes;
  const float share = float(1.0 / double(ranks * A));
  Params<float>& p = run.params();
  const auto [g0, g1] = trainable_range(p);
  float* grad = p.grad();
  double loss_sum = 0;
  bool abandoned = false;
  g_slow_step = st.global_step + 1, g_slow_phase = 0;
  try {
    for (int64_t a = 0; a < A; ++a) {
      run.tape.reset();
      run.tape.rng = step_rng(run.cfg.seed, st.global_step);
      run.tape.row0 = dist::rank() * rows + a * m;  // dropout and drop path draw as in the whole batch
      try {
        loss_sum += forward_backward(run, run.tape, b.images.data() + a * m * img, b.targets.data() + a * m * K, m, share);
      } catch (const OutOfMemory& e) {
        fail("step ", st.global_step + 1, ": ", e.what(), ". ", memory_advice(run));
      }
      if (A > 1) {
        if (a == 0) run.grad_sum.assign(grad + g0, grad + g1);
        else
#pragma omp parallel for schedule(static) if (g1 - g0 >= 65536)
          for (int64_t i = g0; i < g1; ++i) run.grad_sum[size_t(i - g0)] += grad[i];
      }
    }
  } catch (const StepInterrupted&) {
    abandoned = true;
  }
  if (A > 1 && !abandoned) std::copy(run.grad_sum.begin(), run.grad_sum.end(), grad + g0);
  // the loss (for the log and the non-finite check), a stop request and an abandoned step, from every rank: all
  // ranks stop together, and give the step up together
  double shared[4] = {loss_sum / double(A)};
  stop_votes(g_stop_signal.load(), shared + 1);
  shared[3] = double(abandoned);
  dist::allreduce_sum(shared, 4, "the loss of step " + std::to_string(st.global_step + 1));
  const double lv = shared[0] / double(ranks);
  run.stop_signal = stop_from_votes(shared + 1);
  if (shared[3] > 0) {
    run.tape.reset();
    return std::nullopt;
  }
  if (!std::isfinite(lv))
    fail("non-finite loss (", lv, ") at step ", st.global_step + 1, " (epoch ", st.epoch + 1, ", batch ",
         st.step_in_epoch + 1, " of ", run.steps_per_epoch, "); training stopped. Lower lr or set clip_grad. ",
         kept_checkpoint(run, "with lower lr (--lr) or clip_grad set, "));
  dist::allreduce_sum(grad + g0, g1 - g0, "the gradients of step " + std::to_string(st.global_step + 1));
  clip_grad_norm(p, run.cfg.clip_grad);
  if (g_slow_ms > 0) slow_phase(st.global_step + 1, "update", 20 * g_slow_ms);
  st.lr = run.sched.at(st.global_step);
  run.opt->step(p, st.lr);
  if (run.ema) update_ema(run.ema->params(), p, st.global_step + 1, run.cfg.model_ema_decay);
  return lv;
}

// A stop request (SIGINT / SIGTERM) on any rank, agreed by all: the signal, or 0. One rank reads it directly; several
// share theirs (every rank calls this at the same point).
int agreed_stop(Run& run) {
  const int sig = std::max(run.stop_signal, g_stop_signal.load());
  if (dist::size() == 1) return sig;
  double votes[2];
  stop_votes(sig, votes);
  dist::allreduce_sum(votes, 2, "the stop requests after step " + std::to_string(run.st.global_step));
  return stop_from_votes(votes);
}

// last.h5 at the run's step, with the epoch's seconds so far (a checkpoint inside an epoch, or before its evaluation).
void save_last(Run& run) {
  run.st.epoch_seconds = run.epoch_seconds_before + since(run.epoch_start);
  run.save(run.last_path);
}

// The rest of the current epoch's steps. False when the run was asked to stop before the epoch's end.
bool train_one_epoch(Run& run) {
  TrainState& st = run.st;
  run.epoch_start = Clock::now();
  run.epoch_seconds_before = st.epoch_seconds;
  while (st.step_in_epoch < run.steps_per_epoch) {
    const auto t_step = Clock::now();
    const std::optional<double> step_loss = train_step(run);
    if (!step_loss) {  // abandoned: the run as its last finished step left it, in last.h5 (if not there already)
      run.abandoned = st.global_step + 1;
      const bool on_disk = run.saved.path == run.last_path && run.saved.global_step == st.global_step;
      // (nothing finished in this session: the checkpoint it resumed from holds it; a new run: nothing to keep)
      if (!on_disk && run.train_images > 0) save_last(run);
      return false;
    }
    const double loss = *step_loss;
    if (run.train_images == 0) run.tape.fit_to_use();  // this session's first step: the later ones land where it did
    ++st.global_step;
    ++st.step_in_epoch;
    st.train_loss_sum += loss;
    ++st.train_loss_count;
    run.train_seconds += since(t_step);
    run.train_images += run.cfg.batch_size;
    if (run.opts.out) print_progress(run, *run.opts.out);

    const bool mid_epoch = st.step_in_epoch < run.steps_per_epoch;
    const bool periodic = run.cfg.checkpoint_steps > 0 && st.global_step % run.cfg.checkpoint_steps == 0;
    if (dist::size() == 1) run.stop_signal = agreed_stop(run);  // (several ranks: agreed within the step)
    const bool stop = run.stop_requested() || run.stop_signal != 0;
    if (mid_epoch && (periodic || stop)) save_last(run);
    if (mid_epoch && stop) return false;
  }
  return true;
}

// After the evaluation: the epoch's metrics row, last.h5 (and best.h5), summary.csv and curves.svg.
void end_epoch(Run& run, const EvalResult& ev, const EvalResult* ema) {
  TrainState& st = run.st;
  EpochMetrics m;
  m.epoch = double(st.epoch + 1);
  m.train_loss = st.train_loss_sum / double(std::max<int64_t>(1, st.train_loss_count));
  m.eval_loss = ev.loss;
  m.eval_top1 = ev.top1;
  m.eval_top5 = ev.top5;
  m.lr = st.lr;
  m.seconds = run.epoch_seconds_before + since(run.epoch_start);
  if (ema) m.ema_loss = ema->loss, m.ema_top1 = ema->top1, m.ema_top5 = ema->top5;
  st.metrics.push_back(m);
  ++st.epoch;
  st.step_in_epoch = 0;
  st.train_loss_sum = 0;
  st.train_loss_count = 0;
  st.epoch_seconds = 0;
  // best.h5 (both weight sets) by the better of the model's and the EMA's top-1
  const double top1 = ema ? std::max(ev.top1, ema->top1) : ev.top1;
  const bool best = top1 > st.best_top1;
  if (best) st.best_top1 = top1, st.best_epoch = st.epoch;
  run.save(run.last_path);
  if (best) run.save(run.best_path);
  if (!dist::is_root()) return;
  const fs::path dir(run.cfg.output);
  write_file_atomic((dir / "summary.csv").string(), summary_csv(st.metrics));
  write_file_atomic((dir / "curves.svg").string(), curves_svg({{run.cfg.output, st.metrics}}));
  if (run.opts.out) print_epoch(run, m, best, *run.opts.out);
}

// Several ranks stopping: none exits before rank 0 has written the checkpoint (a launcher such as mpirun ends every
// rank of a job when one exits with a non-zero status, as a stopped run does).
void wait_for_checkpoint(const Run& run) {
  if (dist::size() == 1) return;
  double done = 1;
  dist::allreduce_sum(&done, 1, "the checkpoint of the stopped run (step " + std::to_string(run.st.global_step) + ")");
}

TrainSummary summarise(const Run& run, double seconds) {
  TrainSummary sum;
  sum.run_dir = run.cfg.output;
  sum.epochs_done = run.st.epoch;
  sum.steps = run.st.global_step;
  sum.best_top1 = run.st.best_top1;
  sum.best_epoch = run.st.best_epoch;
  sum.last_top1 = run.st.metrics.empty() ? 0 : run.st.metrics.back().eval_top1;
  sum.seconds = seconds;
  sum.train_images_per_second = double(run.train_images) / std::max(run.train_seconds, 1e-9);
  return sum;
}

}  // namespace

void request_stop(int sig) { g_stop_signal.store(sig); }
int stop_requested_by() { return g_stop_signal.load(); }
const char* checkpoint_on_disk() { return g_kept.load(); }

std::string kept_checkpoint(const Run& run, const std::string& when) { return kept_checkpoint(run, run.saved, when); }

std::string kept_checkpoint(const Run& run, const Run::Saved& s, const std::string& when) {
  if (s.path.empty() && run.opts.resume.empty()) return "No checkpoint was written yet";
  std::string path = s.path, command = "tapevit train --resume " + s.path;
  std::string state = "left as it was";
  if (s.path.empty()) {  // this session wrote none: the checkpoint it resumed from is as it was
    path = run.opts.resume;
    command = "tapevit train --resume " + path + (run.fork ? " --output " + run.cfg.output : "");  // (the fork again)
  } else {
    state = "step " + std::to_string(s.global_step) + ": ";
    if (s.step_in_epoch == 0) state += "the end of epoch " + std::to_string(s.epoch);
    else if (s.step_in_epoch == run.steps_per_epoch) state += "epoch " + std::to_string(s.epoch + 1) + " trained, not yet evaluated";
    else state += "batch " + std::to_string(s.step_in_epoch) + " of " + std::to_string(run.steps_per_epoch) +
                  " of epoch " + std::to_string(s.epoch + 1);
  }
  return "The last good checkpoint is " + path + " (" + state + "); " + when + "resume with: " + command;
}

std::string stop_kept_text(const Run& run, const Run::Saved& s) {
  std::string text = kept_checkpoint(run, s);
  if (s.path.empty() && run.opts.resume.empty()) text += " (nothing to resume: the same command starts the run again)";
  return text;
}

const char* stage_kept_checkpoint(const Run& run, const Run::Saved& s) {
  char* buf = g_kept_text[g_kept.load() == g_kept_text[0] ? 1 : 0];
  const std::string text = stop_kept_text(run, s);
  std::snprintf(buf, sizeof g_kept_text[0], "%s", text.c_str());
  return buf;
}

void publish_kept_checkpoint(const char* staged) { g_kept.store(staged); }

TrainSummary train(TrainConfig cfg, const TrainOptions& opts) {
  const auto t_start = Clock::now();
  Run run(std::move(cfg), opts);
  publish_kept_checkpoint(stage_kept_checkpoint(run, run.saved));
  run.tape.stop = &g_stop_signal;  // a stop request abandons the step under way at its next node
  read_slow_step_hook(run.tape);
  if (run.complete) {
    TrainSummary sum = summarise(run, since(t_start));
    sum.already_complete = true;
    if (opts.out)
      *opts.out << opts.resume << ": the run is already complete (" << run.st.epoch << " of " << run.cfg.epochs
                << " epochs); pass --epochs N (N > " << run.st.epoch << ") to extend it. Nothing was changed.\n";
    return sum;
  }
  if (opts.out) print_header(run, *opts.out);
  plan_memory(run);
  try {
    while (run.st.epoch < run.cfg.epochs) {
      if (!train_one_epoch(run)) {  // interrupted mid-epoch
        wait_for_checkpoint(run);
        if (run.line_open && opts.out) *opts.out << "\n";
        TrainSummary sum = summarise(run, since(t_start));
        sum.stopped_by = run.stop_signal;
        sum.abandoned_step = run.abandoned;
        if (run.abandoned) sum.kept = stop_kept_text(run, run.saved);
        return sum;
      }
      const auto t_eval = Clock::now();
      EvalResult ev, ema_ev;
      try {
        ev = evaluate(*run.model, run.eval_set, run.cfg, opts.out ? eval_progress(run, *opts.out) : EvalProgress{},
                      run.eval_footprint);
        if (run.ema)
          ema_ev = evaluate(*run.ema, run.eval_set, run.cfg, opts.out ? eval_progress(run, *opts.out) : EvalProgress{},
                            run.eval_footprint);
      } catch (const Error& e) {
        // Keep the epoch's training: last.h5 at its last step, which a resume evaluates before going on. (Written
        // here, not before every evaluation: a ViT-B's checkpoint is a gigabyte.)
        save_last(run);
        fail("evaluating epoch ", run.st.epoch + 1, " on ", run.eval_name, ": ", e.what(), "\n",
             kept_checkpoint(run, "once that is fixed, "), " (it evaluates epoch ", run.st.epoch + 1, " first)");
      }
      run.last_eval_seconds = since(t_eval);
      end_epoch(run, ev, run.ema ? &ema_ev : nullptr);
      if (run.stop_requested()) break;
      run.stop_signal = agreed_stop(run);
      if (run.stop_signal != 0 && run.st.epoch < run.cfg.epochs) {  // stopped at an epoch's end
        wait_for_checkpoint(run);
        TrainSummary sum = summarise(run, since(t_start));
        sum.stopped_by = run.stop_signal;
        return sum;
      }
    }
  } catch (...) {
    if (run.line_open && opts.out) *opts.out << "\n" << std::flush;  // an error starts on a line of its own
    throw;
  }
  const TrainSummary sum = summarise(run, since(t_start));
  if (opts.out) print_done(run, sum, *opts.out);
  return sum;
}

}  // namespace tapevit
