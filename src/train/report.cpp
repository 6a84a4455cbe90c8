// src/train/report.cpp: see tapevit/train/report.h.
#include "tapevit/train/report.h"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <sstream>

#include "tapevit/error.h"
#include "tapevit/train/curves.h"

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
  const double cell = K <= 20 ? 28 : K <= 50 ? 14 : std::max(2.0, 700.0 / double(K));
  const bool labels = cell >= 14, counts = cell >= 28;
  const double left = labels ? 130 : 40, top = labels ? 130 : 50, size = cell * double(K);
  const double width = left + size + 20, height = top + size + 40;
  std::ostringstream os;
  os << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
     << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height << "\" viewBox=\"0 0 "
     << width << " " << height << "\" font-family=\"sans-serif\" font-size=\"11\">\n"
     << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
     << "<text x=\"" << left << "\" y=\"18\" font-weight=\"bold\">" << xml_escape(title) << "</text>\n"
     << "<text x=\"" << left + size / 2 << "\" y=\"36\" text-anchor=\"middle\">predicted (top-1)</text>\n"
     << "<text x=\"14\" y=\"" << top + size / 2 << "\" text-anchor=\"middle\" transform=\"rotate(-90 14 "
     << top + size / 2 << ")\">true class</text>\n";
  for (int64_t k = 0; k < K; ++k) {
    int64_t n = 0;
    for (int64_t j = 0; j < K; ++j) n += confusion[size_t(k * K + j)];
    for (int64_t j = 0; j < K; ++j) {
      const int64_t c = confusion[size_t(k * K + j)];
      const double share = n > 0 ? double(c) / double(n) : 0.0;
      // white -> blue on the diagonal, white -> red off it
      const int fade = int(std::lround(255 * (1 - share)));
      const std::string colour = k == j ? "rgb(" + std::to_string(fade) + "," + std::to_string(fade) + ",255)"
                                        : "rgb(255," + std::to_string(fade) + "," + std::to_string(fade) + ")";
      os << "<rect class=\"cell\" data-true=\"" << k << "\" data-pred=\"" << j << "\" data-count=\"" << c
         << "\" x=\"" << left + cell * double(j) << "\" y=\"" << top + cell * double(k) << "\" width=\"" << cell
         << "\" height=\"" << cell << "\" fill=\"" << colour << "\" stroke=\"#eee\"><title>"
         << xml_escape(name_of(names, k)) << " -> " << xml_escape(name_of(names, j)) << ": " << c << "</title></rect>\n";
      if (counts && c > 0)
        os << "<text x=\"" << left + cell * (double(j) + 0.5) << "\" y=\"" << top + cell * (double(k) + 0.5) + 4
           << "\" text-anchor=\"middle\" font-size=\"9\" fill=\"" << (share > 0.6 ? "white" : "black") << "\">" << c
           << "</text>\n";
    }
    if (labels) {
      const std::string nm = xml_escape(name_of(names, k).substr(0, 18));
      os << "<text x=\"" << left - 4 << "\" y=\"" << top + cell * (double(k) + 0.5) + 4 << "\" text-anchor=\"end\">"
         << nm << "</text>\n";
      const double x = left + cell * (double(k) + 0.5);
      os << "<text x=\"" << x << "\" y=\"" << top - 4 << "\" transform=\"rotate(-60 " << x << " " << top - 4
         << ")\">" << nm << "</text>\n";
    }
  }
  os << "</svg>\n";
  return os.str();
}

}  // namespace tapevit
