// src/train/svg_layout.h: layout for the pictures tapevit draws (curves.svg, confusion.svg, `tapevit plot`): text
// widths, axis ticks and their labels, wrapping. Sizes are in SVG user units (px at scale 1).
#pragma once
#include <string>
#include <vector>

namespace tapevit {

// The advance width of `text` (UTF-8) at `font_size` in DejaVu Sans, what "sans-serif" is on Debian and the widest
// of the common sans fonts (Arial, Helvetica and Liberation Sans are narrower), so a layout sized by it fits a
// browser's font too. A non-ASCII character counts as one em (wider than any ASCII glyph but '@' and 'W').
double text_width(const std::string& text, double font_size, bool bold = false);

// At most `max_chars` characters (UTF-8 code points) of `text`, ending with "..." when it was cut.
std::string shorten(const std::string& text, size_t max_chars);

// `text` broken into lines no wider than `width`: at spaces, else after a '/', else anywhere (a long path).
std::vector<std::string> wrap_text(const std::string& text, double width, double font_size, bool bold = false);

// An axis: its range [lo, hi] and the ticks on it, each with a label; distinct labels in increasing order.
struct Ticks {
  double lo = 0, hi = 1;
  bool log = false;  // log10 scale: ticks at 1, 2, 5 x 10^k or decades
  std::vector<double> values;
  std::vector<std::string> labels;
  // Where v falls on the axis, 0 at lo and 1 at hi (log scales: in log10).
  double fraction(double v) const;
};
// [lo, hi] widened to multiples of a 1, 2 or 5 x 10^k step giving about `target` intervals; the labels have as
// many decimals as the step needs (0.005 apart: three), and use scientific notation below 1e-3 or from 1e6.
// integer: steps of at least 1 (epochs). A range of one value is padded; no finite data gives [0, 1].
Ticks linear_ticks(double lo, double hi, int target = 5, bool integer = false);
// A log10 axis for lo > 0: whole decades, with 2 and 5 x 10^k added when it spans under three of them.
Ticks log_ticks(double lo, double hi);

}  // namespace tapevit
