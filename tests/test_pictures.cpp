// tests/test_pictures.cpp: the pictures as a person sees them. The layout pieces (ticks, text widths, wrapping)
// against hand-worked cases; then curves.svg and confusion.svg for the cases that went wrong (ticks 0.005 apart,
// an lr spanning decades, a long title, 2 to 1000 classes) rendered by rsvg-convert, where it is installed
// (scripts/test.sh installs librsvg2-bin), and checked as images: nothing touches the outer margin (nothing is
// clipped), the drawing fills its canvas, and every axis's tick labels are distinct increasing numbers.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

#include "svg_check.h"
#include "tapevit/data/image.h"
#include "tapevit/train/curves.h"
#include "tapevit/train/report.h"
#include "test_util.h"
#include "train/svg_layout.h"

using namespace tapevit;
using namespace tapevit::test;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> labels_of(const Ticks& t) { return t.labels; }
using Labels = std::vector<std::string>;

// The labels of the <text class="tick"> elements of each axis, keyed "panel/axis", parsed as numbers: they must
// be distinct and increasing.
void check_tick_labels(const std::vector<XmlElement>& els, size_t expect_axes) {
  std::map<std::string, std::vector<double>> axes;
  std::string panel = "";
  for (const auto& e : els) {
    if (e.name == "g" && e.attrs.count("data-name")) panel = e.attrs.at("data-name");
    if (e.name != "text" || !e.attrs.count("class") || e.attrs.at("class") != "tick") continue;
    size_t used = 0;
    double v = std::nan("");
    try {
      v = std::stod(e.text, &used);
    } catch (const std::exception&) {
    }
    CHECK_MESSAGE(used == e.text.size(), "tick label '" << e.text << "' in " << panel << " is not a number");
    axes[panel + "/" + e.attrs.at("data-axis")].push_back(v);
  }
  CHECK(axes.size() == expect_axes);
  for (const auto& [axis, vs] : axes) {
    CHECK_MESSAGE(vs.size() >= 2, axis << " has " << vs.size() << " tick labels");
    for (size_t i = 1; i < vs.size(); ++i)
      CHECK_MESSAGE(vs[i] > vs[i - 1], axis << ": tick " << i << " (" << vs[i] << ") is not above the one before ("
                                             << vs[i - 1] << ")");
  }
}

bool have_rsvg() { return std::system("rsvg-convert --version >/dev/null 2>&1") == 0; }

// `svg` rendered `width` px wide by rsvg-convert, as 8-bit RGB.
Image render(const std::string& svg, const std::string& name, int width) {
  const fs::path dir = fs::temp_directory_path() / "tapevit_test_pictures";
  fs::create_directories(dir);
  const fs::path in = dir / (name + ".svg"), out = dir / (name + ".png");
  std::ofstream(in) << svg;
  const std::string cmd = "rsvg-convert -w " + std::to_string(width) + " -o '" + out.string() + "' '" + in.string() + "'";
  REQUIRE_MESSAGE(std::system(cmd.c_str()) == 0, cmd);
  return read_image(out.string(), 3);
}

// The rendered picture: its outer `margin` pixels are all the white background (nothing runs off an edge), and
// what is drawn spans at least `fill` of its width and of its height (no picture in a corner of an empty canvas).
void check_rendered(const Image& img, const std::string& name, int margin = 2, double fill = 0.8) {
  int64_t x0 = img.width, x1 = -1, y0 = img.height, y1 = -1, touching = 0;
  for (int64_t y = 0; y < img.height; ++y)
    for (int64_t x = 0; x < img.width; ++x) {
      const uint8_t* p = img.row(y) + x * 3;
      if (p[0] > 250 && p[1] > 250 && p[2] > 250) continue;
      x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, y), y1 = std::max(y1, y);
      if (x < margin || y < margin || x >= img.width - margin || y >= img.height - margin) ++touching;
    }
  INFO(name << ": " << img.width << " x " << img.height << " px, drawn in x " << x0 << ".." << x1 << ", y " << y0
            << ".." << y1);
  CHECK(touching == 0);
  CHECK(double(x1 - x0 + 1) >= fill * double(img.width));
  CHECK(double(y1 - y0 + 1) >= fill * double(img.height));
}

std::vector<EpochMetrics> run_of(int epochs, double loss0, double loss1, bool ema) {
  std::vector<EpochMetrics> ms;
  for (int e = 1; e <= epochs; ++e) {
    const double t = epochs > 1 ? double(e - 1) / double(epochs - 1) : 0;
    EpochMetrics m;
    m.epoch = e;
    m.train_loss = loss0 + (loss1 - loss0) * t;
    m.eval_loss = m.train_loss - 0.004;
    m.eval_top1 = 9.8 + 0.3 * t, m.eval_top5 = 50.1 + 0.4 * t;
    m.lr = 1e-5 + 0.5 * (2e-3 - 1e-5) * (1 + std::cos(M_PI * double(e) / double(epochs)));  // cosine to min_lr
    m.seconds = 20;
    if (ema) m.ema_loss = m.eval_loss + 0.01, m.ema_top1 = m.eval_top1 - 0.2, m.ema_top5 = m.eval_top5;
    ms.push_back(m);
  }
  return ms;
}

const std::vector<std::string> kFashion = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};

// A confusion matrix of K classes: mostly right, each class's errors going to the next class.
std::vector<int64_t> confusion_of(int64_t K, int64_t per_class) {
  std::vector<int64_t> c(size_t(K * K), 0);
  for (int64_t k = 0; k < K; ++k) {
    c[size_t(k * K + k)] = per_class - per_class / 5;
    c[size_t(k * K + (k + 1) % K)] = per_class / 5;
  }
  return c;
}

}  // namespace

TEST_CASE("Pictures: axis ticks are 1-2-5 steps labelled with the decimals their step needs") {
  // The 3-epoch loss axis, once labelled 2.33, 2.33, 2.32, ...: a step of 0.01 needs two decimals.
  CHECK(labels_of(linear_ticks(2.305, 2.333)) == Labels{"2.30", "2.31", "2.32", "2.33", "2.34"});
  CHECK(labels_of(linear_ticks(2.3105, 2.3128)) == Labels{"2.3105", "2.3110", "2.3115", "2.3120", "2.3125", "2.3130"});
  CHECK(labels_of(linear_ticks(0, 1)) == Labels{"0", "0.2", "0.4", "0.6", "0.8", "1.0"});
  CHECK(labels_of(linear_ticks(75, 99.8)) == Labels{"75", "80", "85", "90", "95", "100"});
  CHECK(labels_of(linear_ticks(-0.3, 0.2)) == Labels{"-0.3", "-0.2", "-0.1", "0", "0.1", "0.2"});
  // Small and large values: scientific, one exponent per axis.
  CHECK(labels_of(linear_ticks(1e-5, 4e-5)) == Labels{"1e-5", "2e-5", "3e-5", "4e-5"});
  CHECK(labels_of(linear_ticks(0, 2e6)) == Labels{"0", "0.5e6", "1.0e6", "1.5e6", "2.0e6"});
  // One value: padded around it; epochs: whole numbers only.
  const Ticks one = linear_ticks(0.5, 0.5);
  CHECK(one.lo < 0.5);
  CHECK(one.hi > 0.5);
  CHECK(labels_of(linear_ticks(1, 3, 6, true)) == Labels{"1", "2", "3"});
  CHECK(labels_of(linear_ticks(1, 300, 6, true)) == Labels{"50", "100", "150", "200", "250", "300"});
  const Ticks none = linear_ticks(INFINITY, -INFINITY);
  CHECK(none.lo == 0);
  CHECK(none.hi == 1);
}

TEST_CASE("Pictures: a log axis spans whole 1-2-5 steps, with 2 and 5 labelled over a few decades") {
  const Ticks cosine = log_ticks(1e-5, 2e-3);  // the default run's lr: cosine from 2e-3 to min_lr 1e-5
  CHECK(cosine.log);
  CHECK(cosine.lo == doctest::Approx(1e-5));
  CHECK(cosine.hi == doctest::Approx(2e-3));
  CHECK(cosine.labels == Labels{"1e-5", "2e-5", "5e-5", "1e-4", "2e-4", "5e-4", "0.001", "0.002"});
  CHECK(log_ticks(1.5e-6, 0.09).labels == Labels{"1e-6", "1e-5", "1e-4", "0.001", "0.01", "0.1"});
  CHECK(cosine.fraction(1e-5) == doctest::Approx(0));
  CHECK(cosine.fraction(2e-3) == doctest::Approx(1));
  CHECK(cosine.fraction(1e-4) == doctest::Approx(1 / std::log10(200)));
}

TEST_CASE("Pictures: text widths are DejaVu Sans's, and long text wraps at spaces, then after a '/'") {
  CHECK(text_width("0", 10) == doctest::Approx(6.36));
  CHECK(text_width("Wi", 10) == doctest::Approx(9.89 + 2.78));
  CHECK(text_width("loss", 11, true) > text_width("loss", 11));
  CHECK(text_width("\xc3\xa9t\xc3\xa9", 10) == doctest::Approx(10 + 3.92 + 10));  // "été": two 1-em characters
  CHECK(shorten("short", 32) == "short");
  CHECK(shorten("a_very_long_class_name_indeed", 10) == "a_very_...");
  CHECK(shorten("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 4) == "\xc3\xa9...");  // cut between characters
  const std::string title = "confusion on fashion-mnist test (runs/20261207-101530-vit_fmnist_tiny_avg/best.h5)";
  const auto lines = wrap_text(title, 300, 12, true);
  CHECK(lines.size() >= 2);
  std::string joined;
  for (const auto& l : lines) {
    CHECK_MESSAGE(text_width(l, 12, true) <= 300, "'" << l << "'");
    joined += (joined.empty() || joined.back() == '/' ? "" : " ") + l;
  }
  CHECK(joined == title);
  const auto path = wrap_text("runs/a_long_directory_name/another_long_directory_name/best.h5", 200, 11);
  CHECK(path.size() >= 2);
  CHECK(path[0].back() == '/');  // broken after a '/', not inside a name
}

TEST_CASE("Pictures: curves.svg's tick labels are distinct numbers on every axis, and its titles fit") {
  // the 3-epoch run: the loss moves by 0.02 in all
  std::string err;
  auto els = parse_xml(curves_svg({{"runs/r", run_of(3, 2.333, 2.31, false)}}), err);
  REQUIRE(err.empty());
  check_tick_labels(els, 6);
  // a cosine run to min_lr with EMA: the lr panel is log10, the EMA lines are drawn and named in the titles
  const std::string svg = curves_svg({{"runs/r", run_of(26, 1.3, 0.6, true)}});
  els = parse_xml(svg, err);
  REQUIRE(err.empty());
  check_tick_labels(els, 6);
  int log_panels = 0, ema_lines = 0;
  for (const auto& e : els) {
    if (e.name == "g" && e.attrs.count("data-scale") && e.attrs.at("data-scale") == "log") {
      CHECK(e.attrs.at("data-name") == "lr");
      ++log_panels;
    }
    if (e.name == "polyline" && e.attrs.at("data-series").rfind("ema_", 0) == 0) {
      CHECK(e.attrs.at("stroke-dasharray") == "1.5 3");
      ++ema_lines;
    }
  }
  CHECK(log_panels == 1);
  CHECK(ema_lines == 2);  // ema_eval_loss and ema_eval_top1
  CHECK(contains(svg, "EMA model"));
  CHECK(!contains(curves_svg({{"runs/r", run_of(26, 1.3, 0.6, false)}}), "EMA"));  // named only when drawn
}

TEST_CASE("Pictures: curves.svg rendered: nothing clipped at 3 and 26 epochs, with EMA and a long run name") {
  if (!have_rsvg()) {
    MESSAGE("rsvg-convert is not installed (Debian: librsvg2-bin): the rendered checks are skipped");
    return;
  }
  check_rendered(render(curves_svg({{"runs/r", run_of(3, 2.333, 2.31, false)}}), "curves3", 1200), "3 epochs");
  check_rendered(render(curves_svg({{"runs/r", run_of(26, 1.3, 0.6, true)}}), "curves26", 1200), "26 epochs, EMA");
  const std::string long_name = "runs/" + std::string(150, 'x') + "/summary.csv";
  check_rendered(render(curves_svg({{long_name, run_of(5, 1, 0.5, false)}, {"runs/b", run_of(8, 2, 1, false)}}),
                        "curves_long", 1200),
                 "a long run name", 2, 0.6);
}

TEST_CASE("Pictures: confusion.svg rendered for 2, 3, 10, 100 and 1000 classes: nothing clipped, no empty canvas") {
  if (!have_rsvg()) {
    MESSAGE("rsvg-convert is not installed (Debian: librsvg2-bin): the rendered checks are skipped");
    return;
  }
  const std::string title = "confusion on fashion-mnist test (runs/20261207-101530-vit_fmnist_tiny_avg/best.h5)";
  for (int64_t K : {2, 3, 10, 100, 1000}) {
    std::vector<std::string> names;
    for (int64_t k = 0; k < K; ++k)
      names.push_back(K == 10 ? kFashion[size_t(k)] : K == 3 ? std::string("z_blue_triangle_") + char('a' + k)
                                                              : "n0" + std::to_string(1440764 + k) + " class");
    const std::string svg = confusion_svg(confusion_of(K, 50), names, title);
    std::string err;
    const auto els = parse_xml(svg, err);
    REQUIRE_MESSAGE(err.empty(), err);
    const Image img = render(svg, "confusion" + std::to_string(K), 1200);
    check_rendered(img, std::to_string(K) + " classes", 2, K <= 3 ? 0.7 : 0.8);
    int64_t cells = 0, labels = 0;
    std::vector<double> row_label_y;
    std::string title_text;
    for (const auto& e : els) {
      const std::string cls = e.attrs.count("class") ? e.attrs.at("class") : "";
      cells += e.name == "rect" && cls == "cell";
      labels += e.name == "text" && cls == "label";
      if (e.name == "text" && cls == "label" && e.attrs.count("text-anchor")) row_label_y.push_back(std::stod(e.attrs.at("y")));
      if (e.name == "text" && cls == "title")
        title_text += (title_text.empty() || title_text.back() == '/' ? "" : " ") + e.text;
    }
    CHECK(cells >= 2 * K);                          // every non-zero cell at least
    CHECK(labels >= 2 * std::min<int64_t>(K, 40));  // every class's name, or thinned ...
    for (size_t i = 1; i < row_label_y.size(); ++i)
      CHECK_MESSAGE(row_label_y[i] - row_label_y[i - 1] >= 11, "row labels " << i - 1 << " and " << i << " overlap");
    CHECK(title_text == title);  // ... to a line apart; the whole title, wrapped if need be
    CHECK(contains(svg, "most confused") == (K > 12));
  }
}
