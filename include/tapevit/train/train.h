// tapevit/train/train.h: training a ViT from a resolved TrainConfig (the loop is src/train/train.cpp).
//
// One step: batch(seed, epoch, step) -> forward (training mode: dropout, drop path) -> soft-target
// cross-entropy (smoothing and mixup folded into the targets, as timm) -> backward -> clip -> optimizer
// step at lr = schedule(step). Each epoch ends with an evaluation on the test split, a row in summary.csv, a
// redrawn curves.svg, last.h5 and (when top-1 improves) best.h5 in the run directory. Resuming from last.h5 continues on the
// exact batches, draws and optimizer state, so the final weights are bit-identical to an uninterrupted run
// with the same thread count.
#pragma once
#include <ostream>
#include <string>

#include "tapevit/data/dataset.h"
#include "tapevit/train/config.h"
#include "tapevit/train/evaluate.h"

namespace tapevit {

struct TrainOptions {
  // Checkpoint to continue from ("" = a new run). The run directory is then cfg.output when set, else the
  // checkpoint's own directory (wherever it has been copied or moved).
  std::string resume = {};
  // Write into a directory that holds another run's files (or a later checkpoint of this run) instead of refusing.
  bool force = false;
  std::ostream* out = nullptr;   // progress and summaries; nullptr = silent
  bool tty = false;              // a live progress bar instead of periodic lines
  int columns = 0;               // the terminal's width for the live bar (0 = 80)
  int64_t stop_after_steps = 0;  // stop as if interrupted once this many optimizer steps are done (0 = never)
  std::string command_line = {};  // recorded in config.ini and the checkpoints
  // Several ranks: what this rank was started with (its command line and config files), compared across the ranks
  // when the run starts (a mismatch is an error naming them).
  std::string invocation = {};
};

// Ask a running train() to stop: the step under way stops at its next tape node in its forward or backward pass and
// is given up (the weights change only in the update), or, in its optimizer update, finishes; last.h5 is written at
// the last finished step (resuming from it is bitwise an uninterrupted run) and train() returns with stopped_by = sig. Async-signal-safe (a lock-free atomic store):
// the command installs it as its SIGINT/SIGTERM handler.
void request_stop(int sig);
int stop_requested_by();  // the signal of a pending request, 0 if none
// What the running train() has on disk, for a handler that exits at once on a second signal: the checkpoint to resume
// from and the command that does, or that none was written yet. Async-signal-safe to read (a buffer published
// whole, after each checkpoint); "" before train() has set its run up.
const char* checkpoint_on_disk();

struct TrainSummary {
  std::string run_dir;
  int64_t epochs_done = 0, steps = 0, best_epoch = -1;
  double best_top1 = 0, last_top1 = 0, seconds = 0, train_images_per_second = 0;
  bool already_complete = false;  // a resumed run had nothing left to do; nothing was written
  int stopped_by = 0;             // the signal that stopped the run early (request_stop), else 0
  // The step the signal stopped in its forward or backward pass and gave up (a resume redoes it), else 0; then `kept`
  // names the checkpoint that holds the step before it, and how to resume (or that none was written yet)
  int64_t abandoned_step = 0;
  std::string kept;
};

// Throws an Error for bad data, inconsistent configs, a non-finite loss (naming the step) and I/O failures;
// the last good checkpoint is never overwritten by a partial one, and an error during training or evaluation says
// which checkpoint is kept and how to resume from it. last.h5 is written when an epoch's last step is done, before
// its evaluation (an evaluation that fails keeps the epoch: its resume evaluates it first), and again after it. A run never writes into a directory that holds
// another run (a new run: any last.h5, best.h5 or summary.csv; a resume: another run's, or a later checkpoint of
// its own) unless opts.force. Resuming a run that has done cfg.epochs epochs changes nothing.
TrainSummary train(TrainConfig cfg, const TrainOptions& opts);

// Fill the data-dependent defaults (data_dir, mean/std) and check the data against the model
// (channels, image size, classes). Throws naming the keys.
void bind_data_defaults(TrainConfig& cfg);
// Only the normalisation part: mean/std from the dataset's defaults where the config left them empty (no data
// directory needed: export and predict use this).
void bind_normalisation_defaults(TrainConfig& cfg);
// (The advice names the keys that make the model fit when `command` takes them.)
void check_data_fits(const TrainConfig& cfg, const Dataset& data, ConfigCommand command = kTrainCommand);
// The train or eval split the config names (folders: load_folder with the config's split and class keys, the
// classes matched to `labels` by name when it names any). `command`: whose errors (they suggest its keys only).
Dataset load_split(const TrainConfig& cfg, bool train, const ClassNames& labels = {},
                   ConfigCommand command = kTrainCommand);

// The training split and the split a run is evaluated on (and `tapevit eval --val_fraction` scores): val_fraction's
// seeded hold-out of train, else the test split (a folder's val split); then classes, train_per_class and
// val_per_class. A folder's classes are matched to `labels` by name when it names any (a checkpoint's class_names:
// the model's labels); they then also say which classes a run on some of them kept, in place of the `classes`
// numbers. command = kEvalCommand: train is read only for the hold-out, and left as the hold-out leaves it.
struct DataSplits {
  Dataset train, eval;
  std::string eval_name;  // "held out of train (val_fraction 0.1)", the val folder, "test split"
};
DataSplits load_splits(const TrainConfig& cfg, ClassNames labels, ConfigCommand command);

// A new folder run from --init weights that carry class names (a tapevit checkpoint's, an export's config.json
// label_names) and whose head is loaded (the same num_classes): when the folders are the same classes in another
// sorted order, the weights' names (the labels follow them, so the head keeps its meaning); when they are other
// classes, nothing, and `note` says the head's outputs start with other meanings. Otherwise nothing.
ClassNames init_class_names(const TrainConfig& cfg, std::string& note);

}  // namespace tapevit
