// src/train/report.cpp: see tapevit/train/report.h.
#include "tapevit/train/report.h"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <sstream>

#include "tapevit/error.h"
#include "tapevit/train/curves.h"
#include "svg_layout.h"

namespace tapevit {

namespace {

int64_t classes_of(const std::vector<int64_t>& confusion) {
  const auto K = int64_t(std::llround(std::sqrt(double(confusion.size()))));
  if (K * K != int64_t(confusion.size())) fail("confusion matrix of ", confusion.size(), " cells is not square");
  return K;
}

std::string name_of(const std::vector<std::string>& names, int64_t k) {
  return size_t(k) < names.size() && !names[size_t(k)].empty() ? names[size_t(k)] : std::to_string(k);
}

std::string csv(const std::string& s) { return csv_field(s); }

}  // namespace

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string o = "\"";
  for (char c : s) o += c == '"' ? std::string("\"\"") : std::string(1, c);
  return o + "\"";
}

std::string per_class_csv(const std::vector<int64_t>& confusion, const std::vector<std::string>& names) {
  const int64_t K = classes_of(confusion);
  std::ostringstream os;
  os << "class,name,images,correct,top1\n";
  for (int64_t k = 0; k < K; ++k) {
    int64_t n = 0;
    for (int64_t j = 0; j < K; ++j) n += confusion[size_t(k * K + j)];
    const int64_t ok = confusion[size_t(k * K + k)];
    os << k << "," << csv(name_of(names, k)) << "," << n << "," << ok << ",";
    if (n > 0) os << std::fixed << std::setprecision(4) << 100.0 * double(ok) / double(n) << std::defaultfloat;
    os << "\n";
  }
  return os.str();
}

std::string confusion_csv(const std::vector<int64_t>& confusion, const std::vector<std::string>& names) {
  const int64_t K = classes_of(confusion);
  std::ostringstream os;
  os << "true\\predicted";
  for (int64_t j = 0; j < K; ++j) os << "," << csv(name_of(names, j));
  os << "\n";
  for (int64_t k = 0; k < K; ++k) {
    os << csv(name_of(names, k));
    for (int64_t j = 0; j < K; ++j) os << "," << confusion[size_t(k * K + j)];
    os << "\n";
  }
  return os.str();
}

std::string confusion_svg(const std::vector<int64_t>& confusion, const std::vector<std::string>& names,
                          const std::string& title) {
  const int64_t K = classes_of(confusion);
  constexpr double kFont = 11, kCountFont = 9, kLine = 14, kPad = 8, kMatrix = 700;  // px at scale 1
  const double cell = K <= 4 ? 48 : K <= 12 ? 34 : K <= 25 ? 26 : K <= 50 ? 14 : std::max(1.0, kMatrix / double(K));
  const double size = cell * double(K);
  // Labels at least a line apart: every class's, or every `thin`-th class's when the cells are smaller.
  const int64_t thin = int64_t(std::ceil(12.0 / cell));
  std::vector<std::string> label(static_cast<size_t>(K));
  double label_w = 0;
  for (int64_t k = 0; k < K; k += thin) {
    label[size_t(k)] = shorten(name_of(names, k), 32);
    label_w = std::max(label_w, text_width(label[size_t(k)], kFont));
  }
  // Beside a matrix too small for counts: its largest off-diagonal cells.
  std::vector<std::string> top;
  if (K > 12) {
    std::vector<std::pair<int64_t, int64_t>> off;  // (count, cell index)
    for (int64_t i = 0; i < K * K; ++i)
      if (i / K != i % K && confusion[size_t(i)] > 0) off.push_back({confusion[size_t(i)], i});
    const size_t n = std::min<size_t>(10, off.size());
    std::partial_sort(off.begin(), off.begin() + ptrdiff_t(n), off.end(),
                      [](const auto& a, const auto& b) { return a.first != b.first ? a.first > b.first : a.second < b.second; });
    top.push_back(n ? "most confused (true -> predicted):" : "no confusions");
    for (size_t i = 0; i < n; ++i)
      top.push_back(shorten(name_of(names, off[i].second / K), 32) + " -> " +
                    shorten(name_of(names, off[i].second % K), 32) + ": " + std::to_string(off[i].first));
  }
  double side = 0;
  for (const auto& t : top) side = std::max(side, text_width(t, kFont) + 2 * kPad);
  // Rotated (-60 degrees) column labels rise sin(60) of their width and reach cos(60) of it to the right.
  const double rise = label_w * 0.866 + kFont, reach = label_w * 0.5 + kFont;
  const double right = std::max(kPad, reach - cell / 2 + kPad);
  const double body_w = kPad + kLine + 4 + label_w + 4 + size + right + side;
  const double width = std::ceil(std::max(body_w, 360.0));  // the title wraps to it
  const double left = (width - body_w) / 2 + kPad + kLine + 4 + label_w + 4;  // the matrix and its labels centred
  const auto title_lines = wrap_text(title, width - 2 * kPad, kFont + 1, true);
  const double head = kPad + kLine * double(title_lines.size()) + 4;         // below the title
  const double top_edge = head + kLine + 4 + rise + 4;                        // the matrix's top
  const double height = std::ceil(std::max(top_edge + size, head + kLine * double(top.size())) + kPad + 4);
  std::ostringstream os;
  os << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
     << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height << "\" viewBox=\"0 0 "
     << width << " " << height << "\" font-family=\"sans-serif\" font-size=\"" << kFont << "\">\n"
     << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  for (size_t i = 0; i < title_lines.size(); ++i)
    os << "<text class=\"title\" x=\"" << kPad << "\" y=\"" << kPad + kLine * double(i + 1) - 3
       << "\" font-size=\"" << kFont + 1 << "\" font-weight=\"bold\">" << xml_escape(title_lines[i]) << "</text>\n";
  os << "<text x=\"" << left + size / 2 << "\" y=\"" << head + kLine - 3 << "\" text-anchor=\"middle\">predicted (top-1)</text>\n"
     << "<text x=\"" << left - label_w - 11 << "\" y=\"" << top_edge + size / 2
     << "\" text-anchor=\"middle\" transform=\"rotate(-90 " << left - label_w - 11 << " " << top_edge + size / 2
     << ")\">true class</text>\n"
     << "<rect x=\"" << left << "\" y=\"" << top_edge << "\" width=\"" << size << "\" height=\"" << size
     << "\" fill=\"white\" stroke=\"#ccc\"/>\n";
  for (int64_t k = 0; k < K; ++k) {
    int64_t n = 0;
    for (int64_t j = 0; j < K; ++j) n += confusion[size_t(k * K + j)];
    for (int64_t j = 0; j < K; ++j) {
      const int64_t c = confusion[size_t(k * K + j)];
      if (c == 0 && K > 100) continue;  // white on white: 1000 classes would be a million empty cells
      const double share = n > 0 ? double(c) / double(n) : 0.0;
      // white -> blue on the diagonal, white -> red off it
      const int fade = int(std::lround(255 * (1 - share)));
      const std::string colour = k == j ? "rgb(" + std::to_string(fade) + "," + std::to_string(fade) + ",255)"
                                        : "rgb(255," + std::to_string(fade) + "," + std::to_string(fade) + ")";
      os << "<rect class=\"cell\" data-true=\"" << k << "\" data-pred=\"" << j << "\" data-count=\"" << c
         << "\" x=\"" << left + cell * double(j) << "\" y=\"" << top_edge + cell * double(k) << "\" width=\"" << cell
         << "\" height=\"" << cell << "\" fill=\"" << colour << "\"" << (cell >= 6 ? " stroke=\"#eee\"" : "")
         << "><title>" << xml_escape(name_of(names, k)) << " -> " << xml_escape(name_of(names, j)) << ": " << c
         << "</title></rect>\n";
      const std::string count = std::to_string(c);
      if (c > 0 && cell >= 20 && text_width(count, kCountFont) <= cell - 4)
        os << "<text x=\"" << left + cell * (double(j) + 0.5) << "\" y=\"" << top_edge + cell * (double(k) + 0.5) + 3
           << "\" text-anchor=\"middle\" font-size=\"" << kCountFont << "\" fill=\"" << (share > 0.6 ? "white" : "black")
           << "\">" << count << "</text>\n";
    }
    if (!label[size_t(k)].empty()) {
      const std::string nm = xml_escape(label[size_t(k)]);
      const double y = top_edge + cell * (double(k) + 0.5);
      os << "<text class=\"label\" x=\"" << left - 4 << "\" y=\"" << y + 4 << "\" text-anchor=\"end\">" << nm << "</text>\n";
      const double x = left + cell * (double(k) + 0.5) + 3;
      os << "<text class=\"label\" x=\"" << x << "\" y=\"" << top_edge - 4 << "\" transform=\"rotate(-60 " << x << " "
         << top_edge - 4 << ")\">" << nm << "</text>\n";
    }
  }
  for (size_t i = 0; i < top.size(); ++i)
    os << "<text class=\"top\" x=\"" << left + size + right + kPad << "\" y=\"" << top_edge + kLine * double(i + 1) - 3
       << "\">" << xml_escape(top[i]) << "</text>\n";
  os << "</svg>\n";
  return os.str();
}

}  // namespace tapevit
