// src/train/progress.h: what a training run prints (internal to src/train): the header, the progress line
// (a live bar on a terminal, a line every log_interval steps otherwise), the end-of-epoch line and the summary.
#pragma once
#include <ostream>
#include <string>

#include "run.h"
#include "tapevit/train/evaluate.h"

namespace tapevit {

std::string hms(double seconds);  // "42s", "3m05s", "1h02m"

void print_header(const Run& run, std::ostream& out);
// After each training step; prints only when it is time to (see above).
void print_progress(const Run& run, std::ostream& out);
void print_epoch(const Run& run, const EpochMetrics& m, bool best, std::ostream& out);
void print_done(const Run& run, const TrainSummary& sum, std::ostream& out);

}  // namespace tapevit
