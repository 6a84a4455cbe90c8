// src/train/run.h: everything one training run holds, set up before its first step (internal to src/train).
//
// Run's constructor is the set-up half of timm's train.py, a list of named steps (run.cpp): it checks the config,
// claims the run directory, loads the data, builds the model (from --init weights when asked), the optimizer and
// the lr schedule, and restores the state of a resumed run. train.cpp then only loops.
#pragma once
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tapevit/data/loader.h"
#include "tapevit/io/atomic_file.h"
#include "tapevit/io/checkpoint.h"
#include "tapevit/layers/vit.h"
#include "tapevit/optim/lr_schedule.h"
#include "tapevit/optim/optimizer.h"
#include "tapevit/train/train.h"

namespace tapevit {

using Clock = std::chrono::steady_clock;
inline double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

struct Run {
  Run(TrainConfig config, const TrainOptions& options);
  Run(const Run&) = delete;
  Run& operator=(const Run&) = delete;

  TrainConfig cfg;  // resolved: data defaults bound, output set
  TrainOptions opts;
  // Rank 0: the run directory's lock, held for the whole run. A run that ends by an error before its first
  // checkpoint leaves no trace (see RunDirLock). Declared before the data, model and loader: released after them.
  std::optional<RunDirLock> dir_lock;
  bool complete = false;  // a resumed run with no epoch left: nothing below is set up, nothing is written
  Dataset train_set, eval_set;  // eval_set: what each epoch is evaluated on (and best.h5 chosen by)
  std::string eval_name;         // "test split", "held out of train (val_fraction 0.1)", ...
  std::unique_ptr<VisionTransformer<float>> model;
  std::unique_ptr<VisionTransformer<float>> ema;  // model_ema: the EMA of model's weights (timm's ModelEmaV3)
  std::unique_ptr<Optimizer<float>> opt;
  std::unique_ptr<BatchLoader> loader;  // reads train_set
  std::unique_ptr<Prefetcher> batches;  // the loader's batches from the run's (epoch, step) on, made ahead
  int workers = 0;                      // the Prefetcher's threads (cfg.workers resolved)
  int64_t steps_per_epoch = 0;
  LrSchedule sched;
  CheckpointMeta meta;  // what every checkpoint of this run records
  // Said under the start-up header, each a "note: ..." or "warning: ..." line: what a resume changes, a fine-tuning
  // recipe without weights, colour images into one channel.
  std::vector<std::string> start_lines;
  bool fork = false;    // resumed into another directory than its checkpoint's: a run of its own from then on
  TrainState st;        // where the run is (restored on resume)
  std::string last_path, best_path;
  // The checkpoint this session wrote last (path "" until it writes one) and where in the run it is.
  struct Saved {
    std::string path;
    int64_t global_step = 0, epoch = 0, step_in_epoch = 0;
  } saved;

  Tape<float> tape;  // what a step records on
  TapeFootprint eval_footprint;  // under an address-space limit: what an evaluation's tape reserves (plan_memory)
  std::vector<float> grad_sum;  // grad_accum_steps > 1: the micro-batches' gradients summed
  int stop_signal = 0;          // SIGINT / SIGTERM asked any rank to stop (agreed at each step's allreduce)
  int64_t abandoned = 0;        // the step a stop request gave up in its forward or backward pass (1-based), else 0

  // Wall time: of the training steps (throughput), and of the epoch under way.
  double train_seconds = 0;
  int64_t train_images = 0;
  Clock::time_point epoch_start;
  double epoch_seconds_before = 0;  // of this epoch, spent before a resume
  double last_eval_seconds = 0;     // the latest evaluation's duration (for the ETA)
  bool line_open = false;           // a live progress line is on the terminal (end it before anything else)

  Params<float>& params() { return model->params(); }
  // Rank 0 writes (the others hold the same weights and state); every rank records it in `saved` and publishes
  // checkpoint_on_disk().
  void save(const std::string& path);
  // stop_after_steps (tests: an interruption at a chosen step) has been reached.
  bool stop_requested() const { return opts.stop_after_steps > 0 && st.global_step >= opts.stop_after_steps; }
};

// The checkpoint a failure or a stop leaves the run with (`saved`, else the resumed one as it was), as the end of a
// message: "The last good checkpoint is runs/x/last.h5 (step 20: the end of epoch 2); resume with: tapevit train
// --resume runs/x/last.h5", or "No checkpoint was written yet ...". `when` goes before the resume command ("once the
// image is fixed, "). (train.cpp)
std::string kept_checkpoint(const Run& run, const std::string& when = "");
std::string kept_checkpoint(const Run& run, const Run::Saved& saved, const std::string& when = "");
// checkpoint_on_disk()'s text for `saved`, formatted ahead (into the buffer not shown), then published by one atomic
// store: Run::save stages before writing and publishes right after, so that the text changes within instructions of
// the file. (train.cpp)
// kept_checkpoint(run, saved), and when it names no checkpoint of a new run, that the same command starts it again.
std::string stop_kept_text(const Run& run, const Run::Saved& saved);
const char* stage_kept_checkpoint(const Run& run, const Run::Saved& saved);
void publish_kept_checkpoint(const char* staged);

// Forward and backward of `rows` rows (images (rows, C, H, W), soft targets (rows, K)) on `tape`: the parameters'
// gradients zeroed, then those of `share` x the rows' mean loss. Returns the mean loss. (train.cpp)
double forward_backward(Run& run, Tape<float>& tape, const float* images, const float* targets, int64_t rows,
                        float share);

}  // namespace tapevit
