// tapevit/train/report.h: what `tapevit eval` writes beside its summary line: per-class accuracy and the confusion
// matrix as CSV, and the matrix as an SVG heat map (rows: true class, columns: predicted top-1 class; a cell's
// colour is its share of the row, so classes of different sizes compare).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace tapevit {

// confusion: (K, K) counts, row = true label, column = top-1 prediction. names: K class names ("" or missing:
// the label number is used).
std::string per_class_csv(const std::vector<int64_t>& confusion, const std::vector<std::string>& names);
std::string confusion_csv(const std::vector<int64_t>& confusion, const std::vector<std::string>& names);
// A CSV field: quoted (quotes doubled) when it holds a comma, a quote or a line break.
std::string csv_field(const std::string& s);
// The canvas follows the class count and the longest name (cut at 32 characters); the title wraps to it. Counts are
// printed in cells big enough for them; names are thinned to a line apart; above 12 classes the ten largest
// confusions are listed beside the matrix; above 100 only non-zero cells are drawn (1000 classes: 1 px cells).
std::string confusion_svg(const std::vector<int64_t>& confusion, const std::vector<std::string>& names,
                          const std::string& title);

}  // namespace tapevit
