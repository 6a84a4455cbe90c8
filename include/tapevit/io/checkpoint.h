// tapevit/io/checkpoint.h: training checkpoints in HDF5, readable by h5py with no tapevit code.
//
// Layout:
//   /params/<timm name>                     float32, the parameter's timm shape
//   /optimizer/<state>/<timm name>          float32 ("exp_avg", "exp_avg_sq" for adamw; "momentum_buffer" for sgd)
//   /ema/<timm name>                        float32, the EMA of the weights (model_ema runs only)
//   /metrics/<column>                       float64 per finished epoch, a column of kMetricColumns (below)
//                                           (NaN without EMA; older checkpoints lack the ema columns)
//   attributes on /: format ("tapevit-checkpoint"), version, config (the resolved INI), model_config (JSON,
//   timm argument names), optimizer, optimizer_steps, TrainState's fields (visit_fields, below: global_step,
//   epoch, ...); run_id, tapevit_version, tapevit_commit, created, command_line, class_names, parent_run_id (see
//   CheckpointMeta).
// Data order, augmentation and dropout draws are pure functions of (seed, epoch, step), so these attributes
// are the whole RNG state. Saving writes a temporary file beside the target, syncs it and renames it over
// the target, so a crash at any moment leaves the previous checkpoint intact.
#pragma once
#include <cmath>
#include <iterator>
#include <string>
#include <vector>

#include "tapevit/optim/optimizer.h"
#include "tapevit/io/atomic_file.h"
#include "tapevit/params.h"

namespace tapevit {

struct EpochMetrics {
  double epoch = 0, train_loss = 0, eval_loss = 0, eval_top1 = 0, eval_top5 = 0, lr = 0, seconds = 0;
  double ema_loss = NAN, ema_top1 = NAN, ema_top5 = NAN;  // the EMA weights' evaluation (model_ema runs)
};

// EpochMetrics' columns, each named once, in order: a checkpoint's /metrics/<name> and summary.csv's columns.
struct MetricColumn {
  const char* name;
  double EpochMetrics::*field;
};
inline constexpr MetricColumn kMetricColumns[] = {
    {"epoch", &EpochMetrics::epoch},         {"train_loss", &EpochMetrics::train_loss},
    {"eval_loss", &EpochMetrics::eval_loss}, {"eval_top1", &EpochMetrics::eval_top1},
    {"eval_top5", &EpochMetrics::eval_top5}, {"lr", &EpochMetrics::lr},
    {"seconds", &EpochMetrics::seconds},     {"ema_eval_loss", &EpochMetrics::ema_loss},
    {"ema_eval_top1", &EpochMetrics::ema_top1}, {"ema_eval_top5", &EpochMetrics::ema_top5}};
inline constexpr int kMetricColumnCount = int(std::size(kMetricColumns));

// Where a run is: what a checkpoint stores besides the tensors (the scalar fields, listed once in visit_fields
// below, and the finished epochs' metrics).
struct TrainState {
  int64_t epoch = 0;          // epochs finished
  int64_t step_in_epoch = 0;  // batches done in the current (unfinished) epoch
  int64_t global_step = 0;    // optimizer steps done
  uint64_t seed = 0;
  double lr = 0;
  double best_top1 = -1;
  int64_t best_epoch = -1;
  double train_loss_sum = 0;  // over the current epoch's batches so far
  int64_t train_loss_count = 0;
  double epoch_seconds = 0;   // wall time spent in the current epoch so far
  std::vector<EpochMetrics> metrics;
};

// TrainState's scalar fields, each named once, in the order a checkpoint stores them: visit(name, field, least)
// for each, name being its checkpoint attribute and least the smallest value a checkpoint may hold (-inf: any).
// Saving, loading and the ranks' broadcast of the state walk this list: a new field is added here alone.
template <class State, class Visit>  // State: TrainState or const TrainState
void visit_fields(State& s, Visit&& visit) {
  constexpr double any = -HUGE_VAL;
  visit("global_step", s.global_step, int64_t(0));
  visit("epoch", s.epoch, int64_t(0));
  visit("step_in_epoch", s.step_in_epoch, int64_t(0));
  visit("seed", s.seed, uint64_t(0));
  visit("lr", s.lr, any);
  visit("best_top1", s.best_top1, any);
  visit("best_epoch", s.best_epoch, int64_t(-1));  // -1: no epoch evaluated yet
  visit("train_loss_sum", s.train_loss_sum, any);
  visit("train_loss_count", s.train_loss_count, int64_t(0));
  visit("epoch_seconds", s.epoch_seconds, any);
}

struct CheckpointMeta {
  std::string config_ini, model_config_json, optimizer;
  // Which run this is: drawn when a run starts, kept by every checkpoint it writes (also after a resume, a copy
  // or a move), so that a resume can tell its own run directory from another run's. "" in older checkpoints.
  std::string run_id = {};
  // Where the run came from: tapevit version and commit, the date it started and its command line.
  std::string tapevit_version = {}, tapevit_commit = {}, created = {}, command_line = {};
  // The class names of the labels (folder data sets: the class folders or class_map), for predictions by name.
  std::vector<std::string> class_names = {};
  // A fork (a resume written to another directory) is a run of its own: the run_id of the run it was resumed from.
  // "" for a run started from scratch or --init (and in older checkpoints); kept by the fork's own resumes.
  std::string parent_run_id = {};
};

// ema: the EMA of the weights (same names and shapes), or nullptr.
template <class T>
void save_checkpoint(const std::string& path, const CheckpointMeta& meta, const Params<T>& params,
                     Optimizer<T>* opt, const TrainState& state, const Params<T>* ema = nullptr);
// Strict: every parameter (and optimizer state tensor, when opt is given) by name and shape; an Error lists
// every mismatch. Returns the training state.
// ema: also read the EMA weights into it (an Error naming the file when it has none).
template <class T>
TrainState load_checkpoint(const std::string& path, Params<T>& params, Optimizer<T>* opt, Params<T>* ema = nullptr);
// Only weights, for eval / predict / export: the model's (/params), or with ema its EMA (/ema) into the same
// parameters (an Error naming the file when it has none).
template <class T>
TrainState load_checkpoint_weights(const std::string& path, Params<T>& params, bool ema);
// The checkpoint holds EMA weights (/ema).
bool checkpoint_has_ema(const std::string& path);
CheckpointMeta read_checkpoint_meta(const std::string& path);
// The training state alone (step, epoch, metrics, ...), without reading any tensor.
TrainState read_checkpoint_state(const std::string& path);



}  // namespace tapevit
