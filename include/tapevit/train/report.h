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
std::string confusion_svg(const std::vector<int64_t>& confusion, const std::vector<std::string>& names,
                          const std::string& title);

}  // namespace tapevit
