// tests/test_curves.cpp: summary.csv round trip and errors; curves.svg is well-formed, has one line per series
// and run, axis ranges that cover the data, and survives one epoch, NaNs and no epochs at all.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "svg_check.h"
#include "tapevit/train/curves.h"
#include "test_util.h"

using namespace tapevit;
using namespace tapevit::test;

namespace {

std::vector<EpochMetrics> known_run() {
  std::vector<EpochMetrics> ms;
  for (int e = 1; e <= 4; ++e) {
    EpochMetrics m;
    m.epoch = e;
    m.train_loss = 2.0 - 0.4 * e;  // 1.6 .. 0.4
    m.eval_loss = 1.9 - 0.3 * e;   // 1.6 .. 0.7
    m.eval_top1 = 50 + 10 * e;     // 60 .. 90
    m.eval_top5 = 90 + 2 * e;      // 92 .. 98
    m.lr = 1e-3 / e;
    m.seconds = 10 * e;
    ms.push_back(m);
  }
  return ms;
}

std::vector<XmlElement> parse_ok(const std::string& svg) {
  std::string err;
  auto els = parse_xml(svg, err);
  CHECK_MESSAGE(err.empty(), err);
  REQUIRE(!els.empty());
  CHECK(els[0].name == "svg");
  return els;
}

std::vector<XmlElement> with(const std::vector<XmlElement>& els, const std::string& name, const std::string& key = "",
                             const std::string& value = "") {
  std::vector<XmlElement> out;
  for (const auto& e : els)
    if (e.name == name && (key.empty() || (e.attrs.count(key) && e.attrs.at(key) == value))) out.push_back(e);
  return out;
}

std::pair<double, double> range(const XmlElement& e, const std::string& key) {
  std::istringstream is(e.attrs.at(key));
  double lo = NAN, hi = NAN;
  is >> lo >> hi;
  return {lo, hi};
}

std::string write_temp(const std::string& name, const std::string& text) {
  const auto p = std::filesystem::temp_directory_path() / ("tapevit_curves_" + name);
  std::ofstream(p) << text;
  return p.string();
}

}  // namespace

TEST_CASE("Curves: the XML check itself rejects broken markup") {
  std::string err;
  parse_xml("<svg><g></svg>", err);
  CHECK(!err.empty());
  err.clear();
  parse_xml("<svg a=\"1 < 2\"/>", err);
  CHECK(!err.empty());
  err.clear();
  parse_xml("<svg><text>a & b</text></svg>", err);
  CHECK(!err.empty());
  err.clear();
  parse_xml("<svg><text>a &amp; b</text></svg>", err);
  CHECK(err.empty());
}

TEST_CASE("Curves: a known summary gives one line per series, axes that cover the data") {
  const auto els = parse_ok(curves_svg({{"runs/a", known_run()}}));
  const auto panels = with(els, "g", "class", "panel");
  REQUIRE(panels.size() == 3);
  CHECK(with(els, "polyline").size() == 5);  // train_loss, eval_loss, eval_top1, eval_top5, lr
  for (const char* s : {"train_loss", "eval_loss", "eval_top1", "eval_top5", "lr"}) {
    const auto line = with(els, "polyline", "data-series", s);
    REQUIRE(line.size() == 1);
    std::istringstream pts(line[0].attrs.at("points"));
    int n = 0;
    for (std::string p; pts >> p;) ++n;
    CHECK(n == 4);
  }
  auto panel = [&](const char* name) { return with(panels, "g", "data-name", name).at(0); };
  CHECK(range(panel("loss"), "data-x") == std::pair<double, double>(1, 4));
  const auto loss_y = range(panel("loss"), "data-y"), acc_y = range(panel("accuracy"), "data-y"),
             lr_y = range(panel("lr"), "data-y");
  CHECK(loss_y.first <= 0.4);  // train_loss goes down to 0.4, eval_loss up to 1.6
  CHECK(loss_y.first > 0.0 - 1e-12);
  CHECK(loss_y.second >= 1.6);
  CHECK(loss_y.second < 2.0 + 1e-12);
  CHECK(acc_y.first <= 60);
  CHECK(acc_y.first >= 50);
  CHECK(acc_y.second >= 98);
  CHECK(acc_y.second <= 100);
  CHECK(lr_y.first <= 2.5e-4);
  CHECK(lr_y.second >= 1e-3);
  CHECK(with(els, "text").size() > 10);  // titles, tick labels, the legend
}

TEST_CASE("Curves: several runs overlay in different colours, each in the legend") {
  auto b = known_run();
  for (auto& m : b) m.train_loss += 1;
  const std::string svg = curves_svg({{"runs/a", known_run()}, {"runs/b & <c>", b}});
  const auto els = parse_ok(svg);
  CHECK(with(els, "polyline").size() == 10);
  CHECK(with(els, "polyline", "data-run", "1").size() == 5);
  CHECK(with(els, "polyline", "data-run", "0").at(0).attrs.at("stroke") !=
        with(els, "polyline", "data-run", "1").at(0).attrs.at("stroke"));
  CHECK(contains(svg, "runs/b &amp; &lt;c&gt; (4 epochs)"));
  const auto loss = with(els, "g", "data-name", "loss").at(0);
  CHECK(range(loss, "data-y").second >= 2.6);  // b's train loss reaches 2.6
}

TEST_CASE("Curves: one epoch, NaN values and an empty run give valid plots") {
  auto one = known_run();
  one.resize(1);
  auto els = parse_ok(curves_svg({{"one", one}}));
  CHECK(with(els, "polyline").size() == 5);
  CHECK(with(els, "circle").size() == 5);  // a lone point is drawn as a dot
  CHECK(range(with(els, "g", "data-name", "loss").at(0), "data-x") == std::pair<double, double>(0.5, 1.5));

  auto gappy = known_run();
  gappy[1].train_loss = std::numeric_limits<double>::quiet_NaN();
  gappy[2].eval_loss = std::numeric_limits<double>::infinity();
  const std::string svg = curves_svg({{"gappy", gappy}});
  els = parse_ok(svg);
  CHECK(with(els, "polyline", "data-series", "train_loss").size() == 2);  // the NaN splits the line
  CHECK(with(els, "polyline", "data-series", "eval_loss").size() == 2);
  CHECK(!contains(svg, "nan"));
  CHECK(!contains(svg, "inf"));

  auto all_nan = known_run();
  for (auto& m : all_nan) m.eval_loss = m.train_loss = std::numeric_limits<double>::quiet_NaN();
  els = parse_ok(curves_svg({{"nan", all_nan}}));
  CHECK(with(els, "polyline", "data-series", "train_loss").empty());
  CHECK(with(els, "polyline").size() == 3);

  const std::string empty = curves_svg({{"empty", {}}});
  els = parse_ok(empty);
  CHECK(with(els, "polyline").empty());
  CHECK(with(els, "g", "class", "panel").size() == 3);
  CHECK(contains(empty, "no data"));
  parse_ok(curves_svg({}));
}

TEST_CASE("Curves: summary.csv reads back what the run wrote, and bad files are named errors") {
  const auto run = known_run();
  const std::string path = write_temp("ok.csv", summary_csv(run));
  const auto back = read_summary_csv(path);
  REQUIRE(back.size() == run.size());
  for (size_t i = 0; i < run.size(); ++i) {
    CHECK(back[i].epoch == run[i].epoch);
    CHECK(back[i].eval_top1 == doctest::Approx(run[i].eval_top1));
    CHECK(back[i].lr == doctest::Approx(run[i].lr));
    CHECK(back[i].seconds == doctest::Approx(run[i].seconds));
  }
  CHECK(read_summary_csv(write_temp("header_only.csv", "epoch,train_loss,eval_loss,eval_top1,eval_top5,lr,seconds\n")).empty());
  const auto nan = read_summary_csv(write_temp("nan.csv", "epoch,train_loss,eval_loss,eval_top1,eval_top5,lr,seconds\n1,nan,1,2,3,4,5\n"));
  REQUIRE(nan.size() == 1);
  CHECK(std::isnan(nan[0].train_loss));

  expect_error([] { read_summary_csv("/nonexistent/summary.csv"); }, {"/nonexistent/summary.csv", "cannot open"});
  const std::string empty = write_temp("empty.csv", "");
  expect_error([&] { read_summary_csv(empty); }, {"empty.csv", "empty file"});
  const std::string no_col = write_temp("nocol.csv", "epoch,train_loss\n1,2\n");
  expect_error([&] { read_summary_csv(no_col); }, {"nocol.csv:1", "eval_loss"});
  const std::string bad = write_temp("bad.csv", "epoch,train_loss,eval_loss,eval_top1,eval_top5,lr,seconds\n1,2,3,4,5,6,7\n2,x,3,4,5,6,7\n");
  expect_error([&] { read_summary_csv(bad); }, {"bad.csv:3", "train_loss", "'x'"});
  const std::string short_row = write_temp("short.csv", "epoch,train_loss,eval_loss,eval_top1,eval_top5,lr,seconds\n1,2,3\n");
  expect_error([&] { read_summary_csv(short_row); }, {"short.csv:2", "3 fields"});
}
