// src/train/svg_layout.cpp: see svg_layout.h.
#include "svg_layout.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace tapevit {

namespace {

// Advance widths of ' ' (32) to '~' (126) in DejaVu Sans, 1/1000 em, printed by tests/make_font_widths.py.
constexpr short kRegular[95] = {
    318, 401, 460, 838, 636, 950, 780, 275, 390, 390, 500, 838, 318, 361, 318, 337,
    636, 636, 636, 636, 636, 636, 636, 636, 636, 636, 337, 337, 838, 838, 838, 531,
    1000, 684, 686, 698, 770, 632, 575, 775, 752, 295, 295, 656, 557, 863, 748, 787,
    603, 787, 695, 635, 611, 732, 684, 989, 685, 611, 685, 390, 337, 390, 838, 500,
    500, 613, 635, 550, 635, 615, 352, 635, 634, 278, 278, 579, 278, 974, 634, 612,
    635, 635, 411, 521, 392, 634, 592, 818, 592, 592, 525, 636, 337, 636, 838};
constexpr short kBold[95] = {
    348, 456, 521, 838, 696, 1002, 872, 306, 457, 457, 523, 838, 380, 415, 380, 365,
    696, 696, 696, 696, 696, 696, 696, 696, 696, 696, 400, 400, 838, 838, 838, 580,
    1000, 774, 762, 734, 830, 683, 683, 821, 837, 372, 372, 775, 637, 995, 837, 850,
    733, 850, 770, 720, 682, 812, 774, 1103, 771, 724, 725, 457, 365, 457, 838, 500,
    500, 675, 716, 593, 716, 678, 435, 716, 712, 343, 343, 665, 343, 1042, 712, 687,
    716, 716, 493, 595, 478, 712, 652, 924, 645, 652, 582, 712, 365, 712, 838};

bool continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// A tick label: `decimals` digits after the point, or scientific with a mantissa of `decimals` digits and the
// exponent `exp10` when `sci`.
std::string tick_label(double v, int decimals, bool sci, int exp10) {
  char buf[64];
  if (v == 0) return "0";
  if (sci) {
    std::snprintf(buf, sizeof buf, "%.*fe%d", decimals, v / std::pow(10.0, exp10), exp10);
  } else {
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  }
  std::string s = buf;
  return s == "-0" ? "0" : s;
}

}  // namespace

double text_width(const std::string& text, double font_size, bool bold) {
  const short* w = bold ? kBold : kRegular;
  double em = 0;
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 32 && u < 127) em += w[u - 32] / 1000.0;
    else if (u >= 0xC0) em += 1.0;  // the first byte of a multi-byte character
    // continuation bytes and control characters: no width of their own
  }
  return em * font_size;
}

std::string shorten(const std::string& text, size_t max_chars) {
  size_t chars = 0, cut = std::string::npos;
  for (size_t i = 0; i < text.size(); ++i) {
    if (continuation(text[i])) continue;
    if (chars == max_chars - std::min<size_t>(max_chars, 3)) cut = i;
    if (++chars > max_chars) return text.substr(0, cut) + "...";
  }
  return text;
}

std::vector<std::string> wrap_text(const std::string& text, double width, double font_size, bool bold) {
  std::vector<std::string> lines;
  std::string rest = text;
  while (!rest.empty()) {
    if (text_width(rest, font_size, bold) <= width) {
      lines.push_back(rest);
      break;
    }
    // the longest prefix that fits, ending at a code point boundary
    size_t fit = 0;
    for (size_t i = 1; i <= rest.size(); ++i)
      if ((i == rest.size() || !continuation(rest[i])) && text_width(rest.substr(0, i), font_size, bold) <= width)
        fit = i;
    if (fit == 0) fit = 1;
    while (fit < rest.size() && continuation(rest[fit])) ++fit;
    size_t brk = rest.rfind(' ', fit);
    if (brk != std::string::npos && brk > 0 && brk <= fit) {
      lines.push_back(rest.substr(0, brk));
      rest = rest.substr(brk + 1);
      continue;
    }
    brk = fit > 0 ? rest.rfind('/', fit - 1) : std::string::npos;
    const size_t at = brk != std::string::npos && brk > 0 ? brk + 1 : fit;
    lines.push_back(rest.substr(0, at));
    rest = rest.substr(at);
  }
  if (lines.empty()) lines.emplace_back();
  return lines;
}

double Ticks::fraction(double v) const {
  if (log) return (std::log10(v) - std::log10(lo)) / (std::log10(hi) - std::log10(lo));
  return (v - lo) / (hi - lo);
}

Ticks linear_ticks(double lo, double hi, int target, bool integer) {
  if (!(lo <= hi) || !std::isfinite(lo) || !std::isfinite(hi)) lo = 0, hi = 1;  // no finite data
  if (hi - lo <= 1e-12 * std::max(1.0, std::abs(hi))) {
    const double pad = integer ? 0.5 : lo == 0 ? 1 : std::abs(lo) * 0.1;
    lo -= pad, hi += pad;
  }
  const double raw = (hi - lo) / std::max(1, target);
  int k = int(std::floor(std::log10(raw)));
  const double f = raw / std::pow(10.0, k);
  int mult = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
  if (mult == 10) mult = 1, ++k;
  if (integer && k < 0) mult = 1, k = 0;
  const double step = mult * std::pow(10.0, k);
  Ticks t;
  const double first = std::floor(lo / step + 1e-9), last = std::ceil(hi / step - 1e-9);
  t.lo = first * step, t.hi = last * step;
  if (integer) t.lo = std::max(t.lo, std::floor(lo)), t.hi = std::min(t.hi, std::ceil(hi));
  const double top = std::max(std::abs(t.lo), std::abs(t.hi));
  const bool sci = top >= 1e6 || top < 1e-3;
  const int exp10 = sci ? int(std::floor(std::log10(top))) : 0;
  const int decimals = std::max(0, sci ? exp10 - k : -k);
  for (double i = first; i <= last + 1e-9; ++i) {
    const double v = i * step;
    if (v < t.lo - step * 1e-9 || v > t.hi + step * 1e-9) continue;
    t.values.push_back(std::abs(v) < step * 1e-9 ? 0.0 : v);
    t.labels.push_back(tick_label(t.values.back(), decimals, sci, exp10));
  }
  return t;
}

Ticks log_ticks(double lo, double hi) {
  Ticks t;
  t.log = true;
  // The candidates 1, 2, 5 x 10^e around [lo, hi]; the axis runs from the last one <= lo to the first one >= hi.
  std::vector<std::pair<double, int>> steps;  // (value, e), increasing
  for (int e = int(std::floor(std::log10(lo))) - 1; e <= int(std::ceil(std::log10(hi))) + 1; ++e)
    for (int m : {1, 2, 5}) steps.push_back({m * std::pow(10.0, e), e});
  size_t a = 0, b = steps.size() - 1;
  while (a + 1 < steps.size() && steps[a + 1].first <= lo * (1 + 1e-9)) ++a;
  while (b > 0 && steps[b - 1].first >= hi * (1 - 1e-9)) --b;
  if (a == b) b = a + 1;
  t.lo = steps[a].first, t.hi = steps[b].first;
  const bool minor = std::log10(t.hi / t.lo) < 2.5;  // under about three decades: 2 and 5 x 10^e labelled too
  for (size_t i = a; i <= b; ++i) {
    const auto [v, e] = steps[i];
    const bool decade = std::abs(v - std::pow(10.0, e)) < 1e-9 * v;
    if (!decade && !minor && i != a && i != b) continue;
    t.values.push_back(v);
    // 0.001 to 99999 written out, others as 1e-5, 2e-5
    t.labels.push_back(e >= -3 && e < 5 ? tick_label(v, std::max(0, -e), false, 0) : tick_label(v, 0, true, e));
  }
  return t;
}

}  // namespace tapevit
