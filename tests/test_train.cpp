// tests/test_train.cpp: end-to-end training on a small generated task: the loss falls, checkpoints
// round-trip bit-exactly, an interrupted-then-resumed run ends bit-identical to an uninterrupted one, and
// bad input fails cleanly without touching what is on disk.
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/resource.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "fake_data.h"
#include "svg_check.h"
#include "test_util.h"
#include "tapevit/gemm.h"
#include "tapevit/io/checkpoint.h"
#include "tapevit/io/h5.h"
#include "tapevit/train/train.h"
#include "tapevit/version.h"

using namespace tapevit;
using namespace tapevit::test;
namespace fs = std::filesystem;

namespace {

TrainConfig tiny_config(const std::string& data_dir, const std::string& out) {
  ConfigValues v;
  auto set = [&](const char* k, const std::string& x) { v[k] = {x, "test"}; };
  set("model", "vit_fmnist_tiny");  // the class token's pooling (the default preset pools the mean since 2026-11-30)
  set("dataset", "mnist");
  set("data_dir", data_dir);
  set("patch_size", "7");
  set("embed_dim", "32");
  set("depth", "2");
  set("num_heads", "2");
  set("mlp_ratio", "2");
  set("batch_size", "32");
  set("epochs", "3");
  set("lr", "3e-3");
  set("warmup_epochs", "0.5");
  set("threads", "2");
  set("output", out);
  // every source of randomness on, so exact resume has to replay all of them
  set("drop_path", "0.1");
  set("proj_drop", "0.05");
  set("attn_drop", "0.05");
  set("mixup", "0.4");
  set("cutmix", "0.4");
  set("mixup_prob", "0.5");
  set("smoothing", "0.1");
  set("clip_grad", "1.0");
  return resolve_config(v);
}

std::string fresh_dir(const std::string& name) {
  const fs::path p = fs::temp_directory_path() / ("tapevit_run_" + name);
  fs::remove_all(p);
  return p.string();
}

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void expect_same_checkpoint_tensors(const std::string& a, const std::string& b) {
  H5File fa(a, H5File::Read), fb(b, H5File::Read);
  int64_t compared = 0;
  for (const std::string group : {"params", "optimizer/exp_avg", "optimizer/exp_avg_sq"})
    for (const auto& name : fa.list(group)) {
      const auto x = fa.read<float>(group + "/" + name), y = fb.read<float>(group + "/" + name);
      REQUIRE(x.size() == y.size());
      CHECK_MESSAGE(std::memcmp(x.data(), y.data(), x.size() * sizeof(float)) == 0, group << "/" << name << " differs");
      compared += int64_t(x.size());
    }
  MESSAGE("compared " << compared << " float32 values bitwise (params + AdamW state)");
  CHECK(compared > 0);
  CHECK(fa.attr_int("global_step") == fb.attr_int("global_step"));
  for (const char* column : {"epoch", "train_loss", "eval_loss", "eval_top1", "eval_top5", "lr"})  // all but seconds
    CHECK_MESSAGE(fa.read<double>(std::string("metrics/") + column) == fb.read<double>(std::string("metrics/") + column),
                  "metrics/" << column << " differs");
}

// A CSV's text without the named column (summary.csv's seconds: wall time, which no two runs share).
std::string without_column(const std::string& csv, const std::string& column) {
  std::istringstream is(csv);
  std::string out, line;
  int64_t drop = -1;
  for (bool header = true; std::getline(is, line); header = false) {
    std::vector<std::string> fields;
    std::istringstream ls(line);
    for (std::string f; std::getline(ls, f, ',');) fields.push_back(f);
    if (header) drop = std::find(fields.begin(), fields.end(), column) - fields.begin();
    REQUIRE_MESSAGE(drop < int64_t(fields.size()), "no column '" << column << "' in: " << line);
    fields.erase(fields.begin() + drop);
    for (size_t i = 0; i < fields.size(); ++i) out += (i ? "," : "") + fields[i];
    out += "\n";
  }
  return out;
}

// Every path under dir (dir too) with its bytes ("" for a directory): what is on disk there, to compare.
std::map<std::string, std::string> on_disk(const std::string& dir) {
  std::map<std::string, std::string> out;
  if (!fs::exists(dir)) return out;
  out[dir] = "";
  for (const auto& e : fs::recursive_directory_iterator(dir))
    out[e.path().string()] = e.is_directory() ? "" : slurp(e.path().string());
  return out;
}

std::string without_comments(const std::string& ini) {
  std::istringstream is(ini);
  std::string out;
  for (std::string line; std::getline(is, line);)
    if (line.empty() || line[0] != '#') out += line + "\n";
  return out;
}

}  // namespace

TEST_CASE("Train: a tiny ViT learns the stripes task and writes its run directory") {
  const std::string data = make_stripes_mnist("stripes_learn", 1280, 160);
  const std::string out = fresh_dir("learn");
  TrainConfig cfg = tiny_config(data, out);
  std::ostringstream log;
  TrainSummary s = train(cfg, {.out = &log});
  MESSAGE(log.str());
  CHECK(s.epochs_done == 3);
  CHECK(s.steps == 3 * (1280 / 32));
  H5File f(out + "/last.h5", H5File::Read);
  const auto train_loss = f.read<double>("metrics/train_loss"), eval_loss = f.read<double>("metrics/eval_loss");
  REQUIRE(train_loss.size() == 3);
  REQUIRE(eval_loss.size() == 3);
  // training loss is on mixed, smoothed targets with dropout on; the eval loss is plain cross-entropy
  CHECK(train_loss[2] < 0.85 * train_loss[0]);
  CHECK(eval_loss[2] < 0.6 * std::log(10.0));  // chance: ln 10 = 2.30
  CHECK(s.best_top1 > 70.0);                    // chance is 10%
  CHECK(fs::exists(out + "/best.h5"));
  CHECK(fs::exists(out + "/config.ini"));
  const std::string csv = slurp(out + "/summary.csv");
  CHECK(csv.rfind("epoch,train_loss,eval_loss,eval_top1,eval_top5,lr,seconds\n1,", 0) == 0);
  CHECK(std::count(csv.begin(), csv.end(), '\n') == 4);
  std::string svg_error;
  const auto svg = parse_xml(slurp(out + "/curves.svg"), svg_error);  // redrawn each epoch
  CHECK_MESSAGE(svg_error.empty(), svg_error);
  CHECK(std::count_if(svg.begin(), svg.end(), [](const XmlElement& e) { return e.name == "polyline"; }) == 5);
  // the resolved config in the run directory and in the checkpoint reproduces the config
  CHECK(slurp(out + "/config.ini") == f.attr_string("config"));
  TrainConfig again = resolve_config(parse_ini_text(f.attr_string("config"), "ckpt"));
  CHECK(without_comments(config_to_ini(again)) == without_comments(f.attr_string("config")));
  // the provenance: version, commit, run id, start date
  CHECK(contains(f.attr_string("config"), std::string("# tapevit ") + version() + " (commit "));
  CHECK(f.attr_string("run_id").size() == 16);
  CHECK(f.attr_string("tapevit_version") == version());
}

TEST_CASE("Train: interrupted mid-epoch and resumed ends bit-identical to an uninterrupted run") {
  const std::string data = make_stripes_mnist("stripes_resume", 640, 160);
  const std::string a = fresh_dir("straight"), b = fresh_dir("interrupted");
  train(tiny_config(data, a), {});
  // 20 steps per epoch: stop at step 27 (epoch 2, batch 7), resume, and again at 45 from a fresh process state
  TrainOptions stop;
  stop.stop_after_steps = 27;
  TrainSummary first = train(tiny_config(data, b), stop);
  CHECK(first.steps == 27);
  H5File mid(b + "/last.h5", H5File::Read);
  CHECK(mid.attr_int("step_in_epoch") == 7);
  CHECK(mid.attr_int("epoch") == 1);
  TrainOptions resume;
  resume.resume = b + "/last.h5";
  resume.stop_after_steps = 45;
  train(tiny_config(data, b), resume);
  resume.stop_after_steps = 0;
  TrainSummary done = train(tiny_config(data, b), resume);
  CHECK(done.epochs_done == 3);
  expect_same_checkpoint_tensors(a + "/last.h5", b + "/last.h5");
  // summary.csv: the same three epochs, every column but the wall time equal as written
  const std::string csv_a = slurp(a + "/summary.csv"), csv_b = slurp(b + "/summary.csv");
  CHECK(std::count(csv_a.begin(), csv_a.end(), '\n') == 4);
  CHECK(without_column(csv_a, "seconds") == without_column(csv_b, "seconds"));
}

TEST_CASE("Train: checkpoint round trip is bit-exact and a wrong architecture is refused by name") {
  const std::string data = make_stripes_mnist("stripes_roundtrip", 640, 160);
  const std::string out = fresh_dir("roundtrip");
  TrainConfig cfg = tiny_config(data, out);
  cfg.epochs = 1;
  train(cfg, {});
  VisionTransformer<float> m(cfg.vit, 999);
  auto opt = make_optimizer(cfg.optim, m.params());
  TrainState st = load_checkpoint(out + "/last.h5", m.params(), opt.get());
  CHECK(st.epoch == 1);
  const std::string again = out + "/again.h5";
  save_checkpoint(again, read_checkpoint_meta(out + "/last.h5"), m.params(), opt.get(), st);
  expect_same_checkpoint_tensors(out + "/last.h5", again);

  VitConfig other = cfg.vit;
  other.embed_dim = 48;
  VisionTransformer<float> wrong(other, 1);
  try {
    load_checkpoint<float>(out + "/last.h5", wrong.params(), nullptr);
    FAIL("no error");
  } catch (const Error& e) {
    const std::string msg = e.what();
    CHECK(msg.find("mismatched: cls_token file [1, 1, 32], model [1, 1, 48]") != std::string::npos);
    CHECK(msg.find("mismatched: blocks.1.mlp.fc2.weight file [32, 64], model [48, 96]") != std::string::npos);
  }
}

TEST_CASE("Train: bad input leaves what is on disk untouched") {
  // A run that fails before its first checkpoint leaves the file system as it found it: no run directory (nor its
  // parents, nor a lock file) when it made one, and a resumed run's files (config.ini too) as they were.
  const std::string data = make_stripes_mnist("stripes_guarded", 640, 160);
  const std::string out = fresh_dir("guarded");
  TrainConfig cfg = tiny_config(data, out);
  cfg.epochs = 1;
  train(cfg, {});
  const auto before = on_disk(out);
  REQUIRE(before.count(out + "/.tapevit.lock"));
  REQUIRE(before.count(out + "/config.ini"));
  TrainOptions resume;
  resume.resume = out + "/last.h5";
  auto diverging = [](TrainConfig c) {  // a first step with a non-finite loss
    c.lr = 1e30;
    c.clip_grad = 0;
    c.sched = "constant";
    c.warmup_epochs = 0;
    return c;
  };

  SUBCASE("a new run into a directory that holds one") {
    CHECK_THROWS_WITH_AS(train(cfg, {}), doctest::Contains("already holds a run (last.h5"), Error);
  }
  SUBCASE("a non-finite loss names the step and keeps the last good checkpoint (and the run's config.ini)") {
    TrainConfig hot = diverging(cfg);
    hot.epochs = 2;
    CHECK_THROWS_WITH_AS(train(hot, resume), doctest::Contains("non-finite loss"), Error);
    CHECK_THROWS_WITH_AS(train(hot, resume), doctest::Contains("(left as it was)"), Error);
  }
  SUBCASE("a new run whose first steps fail leaves no directory") {
    TrainConfig hot = diverging(cfg);
    hot.output = fresh_dir("hot") + "/sub";
    CHECK_THROWS_WITH_AS(train(hot, {}), doctest::Contains("No checkpoint was written yet"), Error);
    CHECK_FALSE(fs::exists(fresh_dir("hot")));
  }
  SUBCASE("a corrupt checkpoint") {
    const std::string bad = fresh_dir("corrupt.h5");
    { std::ofstream(bad) << slurp(out + "/last.h5").substr(0, before.at(out + "/last.h5").size() / 3); }
    TrainOptions o;
    o.resume = bad;
    CHECK_THROWS_WITH_AS(train(cfg, o), doctest::Contains("corrupt.h5: damaged: truncated"), Error);
  }
  SUBCASE("missing or truncated data: no run directory is left, nor the parents it made") {
    TrainConfig nodata = cfg;
    const std::string top = fresh_dir("nodata");
    nodata.output = top + "/a/b";
    nodata.data_dir = "/nonexistent/dir";
    CHECK_THROWS_WITH_AS(train(nodata, {}), doctest::Contains("/nonexistent/dir"), Error);
    CHECK_FALSE(fs::exists(top));
    const std::string cut = fresh_dir("cut_data");
    fs::copy(data, cut);
    fs::resize_file(cut + "/train-images-idx3-ubyte", 3000);
    nodata.data_dir = cut;
    CHECK_THROWS_WITH_AS(train(nodata, {}), doctest::Contains("train-images-idx3-ubyte: truncated"), Error);
    CHECK_FALSE(fs::exists(top));
    // a directory that was there stays, with what it held
    fs::create_directories(top);
    { std::ofstream(top + "/notes.txt") << "mine"; }
    const auto mine = on_disk(top);
    nodata.output = top;
    CHECK_THROWS_WITH_AS(train(nodata, {}), doctest::Contains("truncated"), Error);
    CHECK(on_disk(top) == mine);
    SUBCASE("... also for a resume") {
      TrainConfig again = cfg;
      again.epochs = 2;
      again.data_dir = cut;
      CHECK_THROWS_WITH_AS(train(again, resume), doctest::Contains("truncated"), Error);
    }
  }
  SUBCASE("a data set that does not fit the model") {
    TrainConfig big = cfg;
    big.output = fresh_dir("misfit");
    big.vit.img_size = 32;
    big.vit.patch_size = 8;
    CHECK_THROWS_WITH_AS(train(big, {}), doctest::Contains("has 1x28x28 images but the model expects in_chans 1 and img_size 32"), Error);
    CHECK_FALSE(fs::exists(big.output));
  }
  CHECK(on_disk(out) == before);
}

namespace {
// An output stream that asks the run to stop (as the SIGTERM handler does) once it has seen `lines` progress lines.
struct StopAfterLines : std::streambuf {
  int lines, seen = 0;
  explicit StopAfterLines(int n) : lines(n) {}
  int overflow(int c) override {
    if (c == '\n' && ++seen == lines) request_stop(SIGTERM);
    return c;
  }
};
}  // namespace

TEST_CASE("Train: a stop request (SIGTERM) ends the step, writes last.h5 there, and the resume is bitwise an uninterrupted run") {
  const std::string data = make_stripes_mnist("stripes_signal", 640, 160);
  const std::string a = fresh_dir("signal_straight"), b = fresh_dir("signal_stopped");
  train(tiny_config(data, a), {});
  StopAfterLines buf(6);  // header lines, then progress every 5 steps (log_interval)
  std::ostream out(&buf);
  TrainOptions opts;
  opts.out = &out;
  TrainConfig cfg = tiny_config(data, b);
  cfg.log_interval = 5;
  const TrainSummary stopped = train(cfg, opts);
  request_stop(0);  // the request is process-wide: clear it for the resume (a new process starts without one)
  CHECK(stopped.stopped_by == SIGTERM);
  CHECK(stopped.epochs_done == 0);
  CHECK(stopped.steps > 0);
  CHECK(stopped.steps < 20);
  CHECK(read_checkpoint_state(b + "/last.h5").global_step == stopped.steps);
  TrainOptions resume;
  resume.resume = b + "/last.h5";
  const TrainSummary done = train(tiny_config(data, b), resume);
  CHECK(done.stopped_by == 0);
  CHECK(done.epochs_done == 3);
  expect_same_checkpoint_tensors(a + "/last.h5", b + "/last.h5");
}

TEST_CASE("Train: a checkpoint that cannot be written (file-size limit) names the cause and keeps the previous one") {
  const std::string data = make_stripes_mnist("stripes_fsize", 640, 160);
  const std::string out = fresh_dir("fsize");
  TrainConfig cfg = tiny_config(data, out);
  cfg.epochs = 1;
  train(cfg, {});
  const std::string before = slurp(out + "/last.h5");
  REQUIRE(before.size() > 20000);
  // a file-size limit below a checkpoint's size: writes fail with EFBIG (SIGXFSZ ignored, as the command does)
  rlimit old{};
  getrlimit(RLIMIT_FSIZE, &old);
  signal(SIGXFSZ, SIG_IGN);
  rlimit small = old;
  small.rlim_cur = 16384;
  setrlimit(RLIMIT_FSIZE, &small);
  TrainOptions resume;
  resume.resume = out + "/last.h5";
  cfg.epochs = 2;
  const std::string msg = error_of([&] { train(cfg, resume); });
  setrlimit(RLIMIT_FSIZE, &old);
  signal(SIGXFSZ, SIG_DFL);
  CHECK(contains(msg, "last.h5"));
  CHECK(contains(msg, "file too large (over the file-size limit, ulimit -f)"));
  CHECK(slurp(out + "/last.h5") == before);  // untouched, and it still loads
  CHECK(read_checkpoint_state(out + "/last.h5").epoch == 1);
  for (const auto& e : fs::directory_iterator(out))
    CHECK_MESSAGE(e.path().filename().string().find(".tmp-") == std::string::npos, "left behind: " << e.path());
}

TEST_CASE("Checkpoint digest: a flipped bit names its tensor, truncation and insertion are caught before libhdf5 reads") {
  const std::string data = make_stripes_mnist("stripes_digest", 640, 160);
  const std::string out = fresh_dir("digest");
  TrainConfig cfg = tiny_config(data, out);
  cfg.epochs = 1;
  train(cfg, {});
  const std::string path = out + "/last.h5", good = slurp(path);
  CHECK(good.rfind("TAPEVIT-DIGEST 1\n", 0) == 0);
  CHECK(contains(verify_h5_digest(path), "digest ok"));
  auto write = [&](const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; };
  auto must_fail = [&](const std::vector<const char*>& needles) {
    for (auto fn : {+[](const std::string& p) { read_checkpoint_meta(p); }, +[](const std::string& p) { read_checkpoint_state(p); }}) {
      const std::string msg = error_of([&] { fn(path); });
      for (const char* n : needles) CHECK_MESSAGE(contains(msg, n), msg << " lacks " << n);
    }
  };
  // a bit flipped inside blocks.1.attn.qkv.weight's bytes: found from the digest's ranges, without libhdf5
  std::string text = good.substr(0, good.find('\0'));
  const size_t at = text.find(" params/blocks.1.attn.qkv.weight\n");
  REQUIRE(at != std::string::npos);
  const size_t line = text.rfind("tensor ", at);
  std::istringstream ls(text.substr(line + 7));
  uint64_t off = 0, len = 0;
  ls >> off >> len;
  REQUIRE(len > 100);
  std::string bad = good;
  bad[off + len / 2] = char(bad[off + len / 2] ^ 0x10);
  write(bad);
  must_fail({"last.h5: damaged", "in tensor params/blocks.1.attn.qkv.weight"});
  // a bit in the file's own structure (just after the user block: the HDF5 superblock)
  bad = good;
  const size_t ub = size_t(std::stoul(text.substr(text.find("userblock ") + 10)));
  bad[ub + 9] = char(bad[ub + 9] ^ 0x01);
  write(bad);
  must_fail({"damaged", "in the file's structure"});
  // cut short, and 9 bytes inserted around 2.7 KB (the file that used to hang libhdf5 forever)
  write(good.substr(0, good.size() - 1000));
  must_fail({"damaged: truncated"});
  bad = good;
  bad.insert(ub + 2700, "123456789");
  write(bad);
  must_fail({"damaged: longer than written"});
  // a file without a digest (older checkpoints, h5py's) still loads
  write(good);
  H5File plain((out + "/plain.h5"), H5File::Create);
  plain.write<double>("x", std::vector<double>{1, 2}.data(), Shape{2});
  plain.flush();
  CHECK(verify_h5_digest(out + "/plain.h5").empty());
  CHECK(read_checkpoint_state(path).epoch == 1);
}

TEST_CASE("Train with amp (bfloat16 matrix products): learns the stripes task, differs from float32, resumes bitwise") {
  const std::string data = make_stripes_mnist("stripes_amp", 640, 160);
  auto amp_config = [&](const std::string& out, bool amp) {
    TrainConfig c = tiny_config(data, out);
    c.amp = amp;
    return c;
  };
  if (!bf16_available()) {
    MESSAGE("amp not tested: " << bf16_unavailable_reason());
    CHECK(contains(error_of([&] { amp_config(fresh_dir("amp"), true).validate(); }), "needs AVX512_BF16"));
    return;
  }
  const std::string a = fresh_dir("amp_straight"), b = fresh_dir("amp_interrupted"), f32 = fresh_dir("amp_f32");
  const TrainSummary s = train(amp_config(a, true), {});
  CHECK(s.best_top1 > 70.0);  // chance is 10%; float32 reaches the same on this task
  train(amp_config(f32, false), {});
  // the products were rounded: the weights are not float32's
  H5File fa(a + "/last.h5", H5File::Read), ff(f32 + "/last.h5", H5File::Read);
  CHECK(fa.read<float>("params/head.weight") != ff.read<float>("params/head.weight"));
  CHECK(contains(fa.attr_string("config"), "amp = true"));
  // interrupted mid-epoch and resumed: bitwise the uninterrupted amp run
  TrainOptions stop;
  stop.stop_after_steps = 27;
  train(amp_config(b, true), stop);
  TrainOptions resume;
  resume.resume = b + "/last.h5";
  train(amp_config(b, true), resume);
  expect_same_checkpoint_tensors(a + "/last.h5", b + "/last.h5");
}
