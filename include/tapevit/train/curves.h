// tapevit/train/curves.h: what a run directory shows people: summary.csv (one row per epoch) and curves.svg
// (train/eval loss, top-1/top-5 and lr per epoch), a self-contained SVG any browser opens. `tapevit plot` draws
// the same for any summary.csv files, several runs overlaid.
#pragma once
#include <string>
#include <vector>

#include "tapevit/io/checkpoint.h"

namespace tapevit {

// The summary.csv text: header "epoch,train_loss,eval_loss,eval_top1,eval_top5,lr,seconds", one row per epoch.
std::string summary_csv(const std::vector<EpochMetrics>& epochs);
// Reads a summary.csv back (columns found by header name; "nan"/"inf" allowed). A missing file, a missing
// column or a malformed number is an Error naming the file, the line and the column.
std::vector<EpochMetrics> read_summary_csv(const std::string& path);

struct RunCurves {
  std::string label;  // the legend entry (a run directory or a file name)
  std::vector<EpochMetrics> epochs;
};
// Three panels: loss (train solid, eval dashed, the EMA model's eval dotted), accuracy in % (top-1 solid, top-5
// dashed, EMA top-1 dotted), lr (a log10 axis when it spans a factor of 10 or more); one colour per run; a title
// names only the lines drawn. Margins follow the labels (src/train/svg_layout.h). Non-finite values leave a gap;
// a run with no epochs draws empty panels. Each panel is a <g class="panel" data-name=".." data-x="lo hi"
// data-y="lo hi" data-scale="linear|log">, each tick label a <text class="tick" data-axis="x|y"> and each line a
// <polyline class="series" data-run="i" data-series="train_loss|eval_loss|ema_eval_loss|eval_top1|...|lr">, for
// tools and tests.
std::string curves_svg(const std::vector<RunCurves>& runs);
// Text for an SVG/XML text node or attribute: & < > " escaped, control characters replaced by '?'.
std::string xml_escape(const std::string& s);

}  // namespace tapevit
