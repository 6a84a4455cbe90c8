// src/train/curves.cpp: see tapevit/train/curves.h. Hand-written SVG (a few hundred bytes of markup per line):
// a plotting library would be the only run-time dependency that needs a display stack or Python.
#include "tapevit/train/curves.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <limits>
#include <sstream>

#include "tapevit/error.h"

namespace tapevit {

namespace {

// summary.csv's columns are kMetricColumns: the first kRequiredColumns in every file (seconds and the ema ones are
// optional when reading: older files, runs without model_ema), the last kEmaColumns only in model_ema runs'
constexpr int kRequiredColumns = 6, kEmaColumns = 3;

std::vector<std::string> split(const std::string& line, char sep) {
  std::vector<std::string> out(1);
  for (char c : line) {
    if (c == sep) out.emplace_back();
    else if (c != '\r') out.back() += c;
  }
  return out;
}

double parse_number(const std::string& s, const std::string& path, int line, const char* col) {
  if (s == "nan" || s == "-nan") return std::numeric_limits<double>::quiet_NaN();
  if (s == "inf") return std::numeric_limits<double>::infinity();
  if (s == "-inf") return -std::numeric_limits<double>::infinity();
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(s, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (s.empty() || used != s.size()) fail(path, ":", line, ": column '", col, "': expected a number, got '", s, "'");
  return v;
}

std::string num(double v, int prec = 6) {
  std::ostringstream os;
  os << std::setprecision(prec) << v;
  return os.str();
}

// A "nice" axis: [lo, hi] widened to multiples of a step of 1, 2 or 5 x 10^k, about 5 ticks.
struct Axis {
  double lo = 0, hi = 1, step = 0.2;
};
Axis nice_axis(double lo, double hi) {
  if (!(lo <= hi)) lo = 0, hi = 1;  // no finite data
  if (hi - lo < 1e-12 * std::max(1.0, std::abs(hi))) {
    const double pad = lo == 0 ? 1 : std::abs(lo) * 0.1;
    lo -= pad, hi += pad;
  }
  const double raw = (hi - lo) / 5, mag = std::pow(10, std::floor(std::log10(raw)));
  const double f = raw / mag, step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
  return {std::floor(lo / step + 1e-9) * step, std::ceil(hi / step - 1e-9) * step, step};
}

const char* kPalette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"};

struct Series {
  const char* name;
  double EpochMetrics::*field;
  bool dashed;
};
struct Panel {
  const char* name;
  const char* title;
  std::vector<Series> series;
};

constexpr double kW = 330, kH = 260, kLeft = 62, kRight = 12, kTop = 28, kBottom = 40, kLegend = 26;

void draw_panel(std::ostringstream& os, const Panel& p, double x0, double y0, const std::vector<RunCurves>& runs) {
  double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
  for (const auto& r : runs)
    for (const auto& m : r.epochs) {
      if (std::isfinite(m.epoch)) xmin = std::min(xmin, m.epoch), xmax = std::max(xmax, m.epoch);
      for (const auto& s : p.series)
        if (std::isfinite(m.*s.field) && std::isfinite(m.epoch))
          ymin = std::min(ymin, m.*s.field), ymax = std::max(ymax, m.*s.field);
    }
  if (!(xmin <= xmax)) xmin = 0, xmax = 1;
  if (xmin == xmax) xmin -= 0.5, xmax += 0.5;  // one epoch: a point in the middle
  const Axis ya = nice_axis(ymin, ymax);
  const double pw = kW - kLeft - kRight, ph = kH - kTop - kBottom;
  auto X = [&](double x) { return x0 + kLeft + (x - xmin) / (xmax - xmin) * pw; };
  auto Y = [&](double y) { return y0 + kTop + ph - (y - ya.lo) / (ya.hi - ya.lo) * ph; };
  os << "<g class=\"panel\" data-name=\"" << p.name << "\" data-x=\"" << num(xmin) << " " << num(xmax)
     << "\" data-y=\"" << num(ya.lo) << " " << num(ya.hi) << "\">\n";
  os << "<text x=\"" << x0 + kLeft + pw / 2 << "\" y=\"" << y0 + 18 << "\" text-anchor=\"middle\" font-weight=\"bold\">"
     << p.title << "</text>\n";
  os << "<rect x=\"" << x0 + kLeft << "\" y=\"" << y0 + kTop << "\" width=\"" << pw << "\" height=\"" << ph
     << "\" fill=\"none\" stroke=\"#444\"/>\n";
  for (double t = ya.lo; t <= ya.hi + ya.step * 1e-6; t += ya.step) {
    const double v = std::abs(t) < ya.step * 1e-9 ? 0 : t;
    os << "<line x1=\"" << x0 + kLeft << "\" x2=\"" << x0 + kLeft + pw << "\" y1=\"" << Y(v) << "\" y2=\"" << Y(v)
       << "\" stroke=\"#ddd\"/><text x=\"" << x0 + kLeft - 4 << "\" y=\"" << Y(v) + 4 << "\" text-anchor=\"end\">"
       << num(v, 3) << "</text>\n";
  }
  const Axis xa = nice_axis(xmin, xmax);
  for (double t = xa.lo; t <= xmax + 1e-9; t += std::max(1.0, xa.step))
    if (t >= xmin - 1e-9)
      os << "<text x=\"" << X(t) << "\" y=\"" << y0 + kTop + ph + 16 << "\" text-anchor=\"middle\">" << num(t, 4)
         << "</text>\n";
  os << "<text x=\"" << x0 + kLeft + pw / 2 << "\" y=\"" << y0 + kH - 6 << "\" text-anchor=\"middle\">epoch</text>\n";
  bool any = false;
  for (size_t r = 0; r < runs.size(); ++r) {
    const char* colour = kPalette[r % (sizeof kPalette / sizeof *kPalette)];
    for (const auto& s : p.series) {
      // A polyline per finite stretch: a NaN leaves a gap.
      std::vector<std::vector<std::pair<double, double>>> parts(1);
      for (const auto& m : runs[r].epochs) {
        if (std::isfinite(m.epoch) && std::isfinite(m.*s.field)) parts.back().push_back({X(m.epoch), Y(m.*s.field)});
        else if (!parts.back().empty()) parts.emplace_back();
      }
      for (const auto& part : parts) {
        if (part.empty()) continue;
        any = true;
        os << "<polyline class=\"series\" data-run=\"" << r << "\" data-series=\"" << s.name
           << "\" fill=\"none\" stroke=\"" << colour << "\" stroke-width=\"1.8\""
           << (s.dashed ? " stroke-dasharray=\"6 4\"" : "") << " points=\"";
        for (size_t i = 0; i < part.size(); ++i) os << (i ? " " : "") << num(part[i].first) << "," << num(part[i].second);
        os << "\"/>\n";
        if (part.size() == 1)  // a lone point would not show as a line
          os << "<circle cx=\"" << num(part[0].first) << "\" cy=\"" << num(part[0].second) << "\" r=\"3\" fill=\""
             << colour << "\"/>\n";
      }
    }
  }
  if (!any)
    os << "<text x=\"" << x0 + kLeft + pw / 2 << "\" y=\"" << y0 + kTop + ph / 2 << "\" text-anchor=\"middle\" "
       << "fill=\"#888\">no data</text>\n";
  os << "</g>\n";
}

}  // namespace

std::string summary_csv(const std::vector<EpochMetrics>& ms) {
  std::ostringstream os;
  const bool ema = std::any_of(ms.begin(), ms.end(), [](const EpochMetrics& m) { return std::isfinite(m.ema_top1); });
  for (int c = 0; c < kMetricColumnCount - (ema ? 0 : kEmaColumns); ++c) os << (c ? "," : "") << kMetricColumns[c].name;
  os << "\n";
  for (const auto& m : ms) {
    os << int64_t(m.epoch) << "," << std::setprecision(6) << m.train_loss << "," << m.eval_loss << ","
       << std::setprecision(4) << std::fixed << m.eval_top1 << "," << m.eval_top5 << std::defaultfloat << ","
       << std::setprecision(6) << m.lr << "," << std::setprecision(4) << std::fixed << m.seconds << std::defaultfloat;
    if (ema)
      os << "," << std::setprecision(6) << m.ema_loss << "," << std::setprecision(4) << std::fixed << m.ema_top1 << ","
         << m.ema_top5 << std::defaultfloat;
    os << "\n";
  }
  return os.str();
}

std::vector<EpochMetrics> read_summary_csv(const std::string& path) {
  std::ifstream f(path);
  if (!f) fail(path, ": cannot open (a run's summary.csv was expected)");
  std::string line;
  if (!std::getline(f, line)) fail(path, ": empty file, expected a header line starting 'epoch,'");
  const auto header = split(line, ',');
  int where[kMetricColumnCount];
  for (int c = 0; c < kMetricColumnCount; ++c) {
    const char* name = kMetricColumns[c].name;
    const auto it = std::find(header.begin(), header.end(), name);
    if (it == header.end() && c < kRequiredColumns) fail(path, ":1: no column '", name, "' (is this a tapevit summary.csv?)");
    where[c] = it == header.end() ? -1 : int(it - header.begin());
  }
  std::vector<EpochMetrics> out;
  for (int ln = 2; std::getline(f, line); ++ln) {
    if (line.empty() || line == "\r") continue;
    const auto cells = split(line, ',');
    if (cells.size() != header.size())
      fail(path, ":", ln, ": ", cells.size(), " fields, the header has ", header.size());
    EpochMetrics m;
    for (int c = 0; c < kMetricColumnCount; ++c)
      if (where[c] >= 0) m.*kMetricColumns[c].field = parse_number(cells[size_t(where[c])], path, ln, kMetricColumns[c].name);
    out.push_back(m);
  }
  return out;
}

std::string xml_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '&') o += "&amp;";
    else if (c == '<') o += "&lt;";
    else if (c == '>') o += "&gt;";
    else if (c == '"') o += "&quot;";
    else if (static_cast<unsigned char>(c) < 0x20) o += '?';  // not allowed in XML 1.0 text
    else o += c;
  }
  return o;
}

std::string curves_svg(const std::vector<RunCurves>& runs) {
  const std::vector<Panel> panels = {
      {"loss", "loss (train solid, eval dashed)",
       {{"train_loss", &EpochMetrics::train_loss, false}, {"eval_loss", &EpochMetrics::eval_loss, true}}},
      {"accuracy", "eval accuracy % (top-1 solid, top-5 dashed)",
       {{"eval_top1", &EpochMetrics::eval_top1, false}, {"eval_top5", &EpochMetrics::eval_top5, true}}},
      {"lr", "learning rate (at the epoch's last step)", {{"lr", &EpochMetrics::lr, false}}},
  };
  const double width = kW * double(panels.size()), legend = kLegend + 18.0 * double(runs.size());
  std::ostringstream os;
  os << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
     << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << kH + legend
     << "\" viewBox=\"0 0 " << width << " " << kH + legend << "\" font-family=\"sans-serif\" font-size=\"11\">\n"
     << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  for (size_t i = 0; i < panels.size(); ++i) draw_panel(os, panels[i], kW * double(i), 0, runs);
  os << "<g class=\"legend\">\n";
  for (size_t r = 0; r < runs.size(); ++r) {
    const double y = kH + 10 + 18.0 * double(r);
    os << "<line x1=\"" << kLeft << "\" x2=\"" << kLeft + 24 << "\" y1=\"" << y << "\" y2=\"" << y << "\" stroke=\""
       << kPalette[r % (sizeof kPalette / sizeof *kPalette)] << "\" stroke-width=\"3\"/><text x=\"" << kLeft + 30
       << "\" y=\"" << y + 4 << "\">" << xml_escape(runs[r].label) << " (" << runs[r].epochs.size() << " epochs)</text>\n";
  }
  os << "</g>\n</svg>\n";
  return os.str();
}

}  // namespace tapevit
