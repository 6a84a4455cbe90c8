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
#include "svg_layout.h"

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

const char* kPalette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"};

enum class Stroke { solid, dashed, dotted };
struct Series {
  const char* name;
  double EpochMetrics::*field;
  Stroke stroke;
  const char* words;  // in the panel's title: "eval dashed"
};
struct Panel {
  const char* name;
  const char* title;  // followed by the shown series' words: "loss (train solid, eval dashed)"
  std::vector<Series> series;
  bool log_if_wide;  // a log10 axis when the values are positive and span a factor of 10 or more (lr's cosine tail)
};

// Every size in px at scale 1. The plot area of a panel is fixed; its margins follow the labels around it.
constexpr double kFont = 11, kLine = 14, kPad = 8, kTickGap = 4, kPlotW = 250, kPlotH = 190;

bool any_finite(const std::vector<RunCurves>& runs, const Series& s) {
  for (const auto& r : runs)
    for (const auto& m : r.epochs)
      if (std::isfinite(m.*s.field) && std::isfinite(m.epoch)) return true;
  return false;
}

// One panel's axes, measured before anything is drawn so the margins can follow the labels.
struct PanelLayout {
  Ticks x, y;
  std::vector<const Series*> shown;  // the series with data (an EMA series only in model_ema runs)
  std::vector<std::string> title;    // wrapped
  double left = 0, right = 0, width = 0;
};

PanelLayout measure_panel(const Panel& p, const std::vector<RunCurves>& runs) {
  PanelLayout L;
  double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
  for (const auto& s : p.series)
    if (any_finite(runs, s)) L.shown.push_back(&s);
  if (L.shown.empty()) L.shown.push_back(&p.series.front());
  for (const auto& r : runs)
    for (const auto& m : r.epochs) {
      if (!std::isfinite(m.epoch)) continue;
      xmin = std::min(xmin, m.epoch), xmax = std::max(xmax, m.epoch);
      for (const Series* s : L.shown)
        if (std::isfinite(m.*s->field)) ymin = std::min(ymin, m.*s->field), ymax = std::max(ymax, m.*s->field);
    }
  if (!(xmin <= xmax)) xmin = 0, xmax = 1;
  L.x = linear_ticks(xmin, xmax, 6, true);
  if (xmin == xmax) L.x.lo = xmin - 0.5, L.x.hi = xmax + 0.5;  // one epoch: a point in the middle
  L.y = p.log_if_wide && ymin > 0 && ymax >= 10 * ymin ? log_ticks(ymin, ymax) : linear_ticks(ymin, ymax);
  double widest = 0;
  for (const auto& l : L.y.labels) widest = std::max(widest, text_width(l, kFont));
  L.left = kPad + widest + kTickGap;
  L.right = std::max(kPad, text_width(L.x.labels.empty() ? "" : L.x.labels.back(), kFont) / 2 + kPad);
  L.width = L.left + kPlotW + L.right;
  std::string title = p.title;
  for (size_t i = 0; p.series.size() > 1 && i < L.shown.size(); ++i)
    title += (i ? ", " : " (") + std::string(L.shown[i]->words) + (i + 1 == L.shown.size() ? ")" : "");
  L.title = wrap_text(title, L.width - 2 * kPad, kFont, true);
  return L;
}

const char* dash(Stroke s) {
  return s == Stroke::dashed ? " stroke-dasharray=\"6 4\"" : s == Stroke::dotted ? " stroke-dasharray=\"1.5 3\"" : "";
}

void draw_panel(std::ostringstream& os, const Panel& p, const PanelLayout& L, double x0, double title_lines,
                const std::vector<RunCurves>& runs) {
  const double top = kPad + kLine * title_lines + kPad, px = x0 + L.left;
  auto X = [&](double x) { return px + L.x.fraction(x) * kPlotW; };
  auto Y = [&](double y) { return top + kPlotH - L.y.fraction(y) * kPlotH; };
  os << "<g class=\"panel\" data-name=\"" << p.name << "\" data-x=\"" << num(L.x.lo) << " " << num(L.x.hi)
     << "\" data-y=\"" << num(L.y.lo) << " " << num(L.y.hi) << "\" data-scale=\"" << (L.y.log ? "log" : "linear")
     << "\">\n";
  for (size_t i = 0; i < L.title.size(); ++i)
    os << "<text x=\"" << num(x0 + L.width / 2) << "\" y=\"" << num(kPad + kLine * double(i + 1) - 3)
       << "\" text-anchor=\"middle\" font-weight=\"bold\">" << xml_escape(L.title[i]) << "</text>\n";
  os << "<rect x=\"" << num(px) << "\" y=\"" << num(top) << "\" width=\"" << kPlotW << "\" height=\"" << kPlotH
     << "\" fill=\"none\" stroke=\"#444\"/>\n";
  for (size_t i = 0; i < L.y.values.size(); ++i) {
    const double y = Y(L.y.values[i]);
    os << "<line x1=\"" << num(px) << "\" x2=\"" << num(px + kPlotW) << "\" y1=\"" << num(y) << "\" y2=\"" << num(y)
       << "\" stroke=\"#ddd\"/><text class=\"tick\" data-axis=\"y\" x=\"" << num(px - kTickGap) << "\" y=\""
       << num(y + 4) << "\" text-anchor=\"end\">" << L.y.labels[i] << "</text>\n";
  }
  for (size_t i = 0; i < L.x.values.size(); ++i)
    if (L.x.values[i] >= L.x.lo - 1e-9 && L.x.values[i] <= L.x.hi + 1e-9)
      os << "<text class=\"tick\" data-axis=\"x\" x=\"" << num(X(L.x.values[i])) << "\" y=\"" << num(top + kPlotH + 15)
         << "\" text-anchor=\"middle\">" << L.x.labels[i] << "</text>\n";
  os << "<text x=\"" << num(px + kPlotW / 2) << "\" y=\"" << num(top + kPlotH + 15 + kLine)
     << "\" text-anchor=\"middle\">epoch</text>\n";
  bool any = false;
  for (size_t r = 0; r < runs.size(); ++r) {
    const char* colour = kPalette[r % (sizeof kPalette / sizeof *kPalette)];
    for (const Series* s : L.shown) {
      // A polyline per finite stretch: a NaN leaves a gap.
      std::vector<std::vector<std::pair<double, double>>> parts(1);
      for (const auto& m : runs[r].epochs) {
        const double v = m.*s->field;
        if (std::isfinite(m.epoch) && std::isfinite(v) && (!L.y.log || v > 0)) parts.back().push_back({X(m.epoch), Y(v)});
        else if (!parts.back().empty()) parts.emplace_back();
      }
      for (const auto& part : parts) {
        if (part.empty()) continue;
        any = true;
        os << "<polyline class=\"series\" data-run=\"" << r << "\" data-series=\"" << s->name
           << "\" fill=\"none\" stroke=\"" << colour << "\" stroke-width=\"1.8\"" << dash(s->stroke) << " points=\"";
        for (size_t i = 0; i < part.size(); ++i) os << (i ? " " : "") << num(part[i].first) << "," << num(part[i].second);
        os << "\"/>\n";
        if (part.size() == 1)  // a lone point would not show as a line
          os << "<circle cx=\"" << num(part[0].first) << "\" cy=\"" << num(part[0].second) << "\" r=\"3\" fill=\""
             << colour << "\"/>\n";
      }
    }
  }
  if (!any)
    os << "<text x=\"" << num(px + kPlotW / 2) << "\" y=\"" << num(top + kPlotH / 2) << "\" text-anchor=\"middle\" "
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
      {"loss", "loss",
       {{"train_loss", &EpochMetrics::train_loss, Stroke::solid, "train solid"},
        {"eval_loss", &EpochMetrics::eval_loss, Stroke::dashed, "eval dashed"},
        {"ema_eval_loss", &EpochMetrics::ema_loss, Stroke::dotted, "EMA model's eval dotted"}},
       false},
      {"accuracy", "eval accuracy %",
       {{"eval_top1", &EpochMetrics::eval_top1, Stroke::solid, "top-1 solid"},
        {"eval_top5", &EpochMetrics::eval_top5, Stroke::dashed, "top-5 dashed"},
        {"ema_eval_top1", &EpochMetrics::ema_top1, Stroke::dotted, "EMA model's top-1 dotted"}},
       false},
      {"lr", "learning rate (at the epoch's last step)", {{"lr", &EpochMetrics::lr, Stroke::solid, ""}}, true},
  };
  std::vector<PanelLayout> layouts;
  double width = 0, title_lines = 1;
  for (const auto& p : panels) {
    layouts.push_back(measure_panel(p, runs));
    width += layouts.back().width;
  }
  for (const auto& L : layouts) title_lines = std::max(title_lines, double(L.title.size()));
  const double height = kPad + kLine * title_lines + kPad + kPlotH + 15 + kLine + kPad;
  double legend_w = 0;
  std::vector<std::string> entries;
  for (const auto& r : runs) {
    entries.push_back(r.label + " (" + std::to_string(r.epochs.size()) + " epochs)");
    legend_w = std::max(legend_w, kPad + 30 + text_width(entries.back(), kFont) + kPad);
  }
  width = std::max(width, legend_w);
  const double total_h = height + kPad + kLine * double(runs.size()) + kPad;
  std::ostringstream os;
  os << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
     << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << num(std::ceil(width)) << "\" height=\""
     << num(std::ceil(total_h)) << "\" viewBox=\"0 0 " << num(std::ceil(width)) << " " << num(std::ceil(total_h))
     << "\" font-family=\"sans-serif\" font-size=\"" << kFont << "\">\n"
     << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  double x0 = 0;
  for (size_t i = 0; i < panels.size(); ++i) {
    draw_panel(os, panels[i], layouts[i], x0, title_lines, runs);
    x0 += layouts[i].width;
  }
  os << "<g class=\"legend\">\n";
  for (size_t r = 0; r < runs.size(); ++r) {
    const double y = height + kPad + kLine * double(r) + kLine / 2;
    os << "<line x1=\"" << kPad << "\" x2=\"" << kPad + 24 << "\" y1=\"" << num(y) << "\" y2=\"" << num(y)
       << "\" stroke=\"" << kPalette[r % (sizeof kPalette / sizeof *kPalette)] << "\" stroke-width=\"3\"/><text x=\""
       << kPad + 30 << "\" y=\"" << num(y + 4) << "\">" << xml_escape(entries[r]) << "</text>\n";
  }
  os << "</g>\n</svg>\n";
  return os.str();
}

}  // namespace tapevit
