// src/train/progress.h: what a training run prints (internal to src/train): the header, the progress line
// (a live bar on a terminal that fits its width, a line every log_interval steps otherwise), the evaluation's
// progress, the end-of-epoch line and the summary.
#pragma once
#include <ostream>
#include <string>
#include <vector>

#include "run.h"
#include "tapevit/train/evaluate.h"

namespace tapevit {

std::string hms(double seconds);  // "42s", "3m05s", "1h02m"

// One terminal line of at most columns - 1 characters (the last column would wrap on some terminals): `head`, a bar
// of `fraction` when there is room, then as many of `fields` as fit, fewer-priority-number first, shown in order.
struct StatusField {
  std::string text;
  int priority;  // 0 = always shown
};
std::string status_line(int columns, const std::string& head, double fraction, const std::vector<StatusField>& fields);

// The pass over a folder's files as the run starts (check_images; decode_all with cache), called `what` ("checking
// images"): on a terminal a live line once it has taken half a second, cleared when done; otherwise, for a thousand
// files or more, a line every 30 s and one at the end.
FileProgress file_progress(Run& run, std::ostream& out, const std::string& what);
void print_header(const Run& run, std::ostream& out);
// After each training step; prints only when it is time to (see above).
void print_progress(Run& run, std::ostream& out);
// The evaluation's progress on a terminal, under the training's header ("epoch 3/13 eval [###...] 12/79").
EvalProgress eval_progress(Run& run, std::ostream& out);
void print_epoch(Run& run, const EpochMetrics& m, bool best, std::ostream& out);
void print_done(const Run& run, const TrainSummary& sum, std::ostream& out);

}  // namespace tapevit
