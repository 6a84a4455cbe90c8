// tests/test_folder.cpp: image folders as timm's ImageFolder (classes, order, skipped files, the errors that name
// the folder), folder batches (a pure function of (seed, epoch, step) whatever the number of workers; a corrupt
// image stops with its name), and training on a folder that resumes bit-identically with 1 and 3 workers.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "fake_data.h"
#include "test_util.h"
#include "tapevit/data/loader.h"
#include "tapevit/io/checkpoint.h"
#include "tapevit/io/h5.h"
#include "tapevit/train/train.h"

using namespace tapevit;
using namespace tapevit::test;
namespace fs = std::filesystem;

namespace {

const std::string kImages = std::string(TAPEVIT_FIXTURES) + "/images/";

fs::path fresh(const std::string& name) {
  const fs::path p = fs::temp_directory_path() / ("tapevit_folder_" + name);
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

void put(const fs::path& dir, const std::string& fixture, const std::string& as) {
  fs::create_directories(dir);
  fs::copy_file(kImages + fixture, dir / as, fs::copy_options::overwrite_existing);
}

// root/{train,val}/{cat2, cat10, Dog}, a nested folder, a text file and mixed-case extensions
fs::path small_tree(const std::string& name) {
  const fs::path root = fresh(name);
  for (const char* split : {"train", "val"}) {
    put(root / split / "cat10", "rgb_37x23.png", "b.PNG");
    put(root / split / "cat10", "photo_160x120.jpg", "a10.jpg");
    put(root / split / "cat10", "grey_40x30.jpg", "a9.jpeg");
    put(root / split / "cat2", "palette_33x20.png", "x.png");
    put(root / split / "cat2" / "nested", "rgba_25x25.png", "y.png");
    put(root / split / "Dog", "odd_101x77.jpg", "d.jpg");
  }
  std::ofstream(root / "train" / "Dog" / "notes.txt") << "not an image";
  std::ofstream(root / "train" / "README") << "beside the class folders";
  return root;
}

}  // namespace

TEST_CASE("Folder: classes in timm's natural order, images found recursively in natural order, other files counted") {
  const fs::path root = small_tree("order");
  FolderOptions fo;
  fo.img_size = 32;
  const Dataset d = load_folder(root.string(), fo, true);
  CHECK(d.name == "folder");
  CHECK(d.is_folder());
  REQUIRE(d.class_names == std::vector<std::string>{"cat2", "cat10", "Dog"});
  CHECK(d.n == 6);
  CHECK(d.skipped == 1);  // notes.txt, in a class folder
  CHECK(d.beside == 1);   // README, beside the class folders: in no class, whatever its name
  CHECK(d.channels == 3);
  CHECK(d.height == 32);
  REQUIRE(d.files.size() == 6);
  // sorted by path in natural order: cat2/... before cat10/..., a9 before a10, nested/ before x
  const std::string t = (root / "train").string() + "/";
  CHECK(d.files[0] == t + "cat2/nested/y.png");
  CHECK(d.files[1] == t + "cat2/x.png");
  CHECK(d.files[2] == t + "cat10/a9.jpeg");
  CHECK(d.files[3] == t + "cat10/a10.jpg");
  CHECK(d.files[4] == t + "cat10/b.PNG");
  CHECK(d.files[5] == t + "Dog/d.jpg");
  CHECK(d.labels == std::vector<int32_t>{0, 0, 1, 1, 1, 2});
  const Dataset v = load_folder(root.string(), fo, false);  // "val" found as the eval split
  CHECK(v.dir == (root / "val").string());
  CHECK(v.n == 6);
  CHECK(natural_less("img2", "img10"));
  CHECK(natural_less("A1", "a02b"));
  CHECK(!natural_less("x10", "x9"));

  // a class map orders the labels by its lines
  std::ofstream(root / "classes.txt") << "Dog\ncat10\ncat2\n";
  fo.class_map = (root / "classes.txt").string();
  const Dataset m = load_folder(root.string(), fo, true);
  CHECK(m.class_names == std::vector<std::string>{"Dog", "cat10", "cat2"});
  CHECK(m.labels == std::vector<int32_t>{2, 2, 1, 1, 1, 0});
}

TEST_CASE("Folder: an empty class, differing classes, a missing split, a bad class_map are errors naming the folder") {
  const fs::path root = small_tree("errors");
  FolderOptions fo;
  const std::string r = root.string();
  expect_error([&] { load_folder((root / "nope").string(), fo, true); }, {"nope", "is not a folder"});
  fs::create_directories(root / "train" / "empty");
  fs::create_directories(root / "val" / "empty");
  expect_error([&] { load_folder(r, fo, true); }, {"train/empty", "has no image"});
  fs::remove_all(root / "train" / "empty");
  expect_error([&] { load_folder(r, fo, true); }, {"class folders of", "only in the second: empty"});
  fs::remove_all(root / "val" / "empty");
  fo.val_split = "validation";
  expect_error([&] { load_folder(r, fo, false); }, {"validation", "does not exist", "val_split"});
  fo.val_split = "";
  fs::rename(root / "val", root / "holdout");
  expect_error([&] { load_folder(r, fo, false); }, {"no eval split folder", "validation, val, test"});
  fo.val_split = "holdout";
  CHECK(load_folder(r, fo, false).n == 6);
  std::ofstream(root / "map.txt") << "cat2\ncat10\n";
  fo.class_map = (root / "map.txt").string();
  expect_error([&] { load_folder(r, fo, true); }, {"class_map '", "map.txt' ('cat2', 'cat10')", "not among them: 'Dog'"});
  std::ofstream(root / "map.txt") << "cat2\ncat10\nDog\nbird\n";
  expect_error([&] { load_folder(r, fo, true); }, {"no folder for 'bird'"});
  std::ofstream(root / "map.txt") << "cat2\n\ncat10\n";
  expect_error([&] { load_folder(r, fo, true); }, {"map.txt", "line 2 is empty"});
  fs::create_directories(root / "bare" / "train");
  fo = FolderOptions{};
  expect_error([&] { load_folder((root / "bare").string(), fo, true); }, {"bare/train", "has no class folder"});
}

TEST_CASE("Folder: a model's class names are the labels, matched to the folders by name whatever their order") {
  const fs::path root = small_tree("labels");
  FolderOptions fo;
  fo.img_size = 32;
  // the model's labels in another order than the folders' natural one (cat2, cat10, Dog)
  fo.labels.names = {"Dog", "cat2", "cat10"};
  fo.labels.from = "model.h5";
  for (bool train : {true, false}) {
    const Dataset d = load_folder(root.string(), fo, train);
    CHECK(d.class_names == fo.labels.names);
    CHECK(d.num_classes == 3);
    REQUIRE(d.n == 6);
    // each file's label is the position of its class folder's name among the model's names
    for (int64_t i = 0; i < d.n; ++i) {
      const std::string rel = fs::path(d.files[size_t(i)]).lexically_relative(d.dir).string();
      const std::string cls = rel.substr(0, rel.find('/'));
      CHECK_MESSAGE(d.labels[size_t(i)] == (cls == "Dog" ? 0 : cls == "cat2" ? 1 : 2), rel);
    }
  }
  // a class_map is not read: the model's names are the labels
  fo.class_map = (root / "no_such_map.txt").string();
  CHECK(load_folder(root.string(), fo, true).class_names == fo.labels.names);
  fo.class_map.clear();

  // other classes: one error naming the classes without a folder, the folders that are no class, and the file
  fs::rename(root / "val" / "cat2", root / "val" / "z_cat2");
  fo.labels.advice = ". ADVICE";
  fo.labels.subset_advice = ". SUBSET";
  expect_error([&] { load_folder(root.string(), fo, false); },
               {"class folders of '", "val' are not the classes of model.h5 ('Dog', 'cat2', 'cat10')",
                "no folder for 'cat2'; not among them: 'z_cat2'. ADVICE"});
  // each split is checked against the names, not against the other split
  CHECK(load_folder(root.string(), fo, true).n == 6);
  // some of the classes only: refused with the subset advice, or scored when allowed (the labels stay the model's)
  fs::remove_all(root / "val" / "z_cat2");
  expect_error([&] { load_folder(root.string(), fo, false); }, {"no folder for 'cat2'. SUBSET"});
  fo.labels.allow_missing = true;
  const Dataset some = load_folder(root.string(), fo, false);
  CHECK(some.num_classes == 3);
  CHECK(some.n == 4);
  CHECK(std::count(some.labels.begin(), some.labels.end(), 1) == 0);  // no image of cat2
  // a run on some of the classes (key 'classes') leaves the other folders out, by name
  fo.labels = {};
  fo.labels.names = {"cat10"};
  fo.labels.from = "model.h5";
  expect_error([&] { load_folder(root.string(), fo, true); }, {"not among them: 'cat2', 'Dog'"});
  fo.labels.allow_extra = true;
  const Dataset one = load_folder(root.string(), fo, true);
  CHECK(one.n == 3);
  CHECK(one.labels == std::vector<int32_t>{0, 0, 0});
}

TEST_CASE("Folder batches: a pure function of (seed, epoch, step) for 0, 1 and 3 workers, with every transform on") {
  const fs::path root = fresh("batches");
  write_stripes_folder(root, 48, 16);
  FolderOptions fo;
  fo.img_size = 24;
  const Dataset d = load_folder(root.string(), fo, true);
  REQUIRE(d.n == 48);
  AugmentConfig aug;
  aug.mean = {0.5}, aug.std = {0.25};
  aug.mixup = 0.5, aug.cutmix = 0.5;
  aug.image.aa = "rand-m9-mstd0.5-inc1";
  aug.image.reprob = 0.5;
  aug.image.vflip = 0.2;
  aug.image.crop_pct = 0.9;
  BatchLoader loader(d, 8, 7, aug, true);
  std::vector<std::vector<float>> reference;
  for (int workers : {0, 1, 3}) {
    Prefetcher p(loader, 0, 2, workers);
    std::vector<std::vector<float>> got;
    for (int64_t e = 0; e < 2; ++e)
      for (int64_t s = e == 0 ? 2 : 0; s < loader.steps_per_epoch(); ++s) {
        const Prefetcher::Batch& b = p.get(e, s);
        CHECK(b.n == 8);
        got.push_back(b.images);
        got.back().insert(got.back().end(), b.targets.begin(), b.targets.end());
      }
    if (reference.empty()) reference = got;
    else CHECK_MESSAGE(got == reference, workers << " workers give other batches than 0");
  }
  // out of order is a usage error; a new pipeline can start anywhere
  Prefetcher p(loader, 1, 0, 2);
  CHECK(contains(error_of([&] { p.get(1, 1); }), "out of order"));
  // the eval loader: every image, in order, deterministic, the eval transform
  BatchLoader eval(d, 5, 7, aug, false);
  Prefetcher e1(eval, 0, 0, 2), e2(eval, 0, 0, 0);
  int64_t seen = 0;
  for (int64_t s = 0; s < eval.steps_per_epoch(); ++s) {
    const auto& a = e1.get(0, s);
    const auto& b = e2.get(0, s);
    CHECK(a.n == b.n);
    CHECK(std::equal(a.images.begin(), a.images.begin() + a.n * 3 * 24 * 24, b.images.begin()));
    seen += a.n;
  }
  CHECK(seen == 48);
}

TEST_CASE("Folder batches: a corrupt image stops its batch with an error naming the file, for any number of workers") {
  const fs::path root = fresh("corrupt");
  write_stripes_folder(root, 24, 10);
  put(root / "train" / "class3", "truncated.jpg", "broken.jpg");
  FolderOptions fo;
  fo.img_size = 16;
  const Dataset d = load_folder(root.string(), fo, true);
  AugmentConfig aug;
  BatchLoader loader(d, 25, 1, aug, false);  // one batch holds every image
  for (int workers : {0, 2}) {
    Prefetcher p(loader, 0, 0, workers);
    expect_error([&] { p.get(0, 0); }, {"broken.jpg", "truncated"});
  }
  // cache = true decodes up front: the same error, before any step
  Dataset c = d;
  expect_error([&] { decode_all(c); }, {"broken.jpg"});
}

TEST_CASE("Folder training: interrupted and resumed with 3 workers ends bit-identical to an uninterrupted run with 1") {
  const fs::path root = fresh("train");
  write_stripes_folder(root, 96, 32);
  auto config = [&](const std::string& out, int workers) {
    ConfigValues v;
    auto set = [&](const char* k, const std::string& x) { v[k] = {x, "test"}; };
    set("dataset", "folder");
    set("data_dir", root.string());
    set("img_size", "24");
    set("in_chans", "3");
    set("patch_size", "8");
    set("embed_dim", "32");
    set("depth", "2");
    set("num_heads", "2");
    set("num_classes", "10");
    set("batch_size", "16");
    set("epochs", "2");
    set("threads", "2");
    set("workers", std::to_string(workers));
    set("aa", "rand-m7-mstd0.5-inc1");
    set("reprob", "0.25");
    set("mixup", "0.2");
    set("drop_path", "0.1");
    set("model_ema", "true");
    set("model_ema_decay", "0.9");
    set("output", out);
    return resolve_config(v);
  };
  const std::string a = (root / "run_a").string(), b = (root / "run_b").string();
  const TrainSummary full = train(config(a, 1), {});
  CHECK(full.epochs_done == 2);
  TrainOptions stop;
  stop.stop_after_steps = 7;  // mid-epoch 2 (6 steps per epoch)
  train(config(b, 3), stop);
  TrainOptions resume;
  resume.resume = b + "/last.h5";
  const TrainSummary rest = train(config(b, 3), resume);
  CHECK(rest.epochs_done == 2);
  H5File fa(a + "/last.h5", H5File::Read), fb(b + "/last.h5", H5File::Read);
  int64_t compared = 0;
  for (const std::string group : {"params", "ema"})
    for (const auto& name : fa.list(group)) {
      CHECK_MESSAGE(fa.read<float>(group + "/" + name) == fb.read<float>(group + "/" + name), group << "/" << name);
      ++compared;
    }
  CHECK(compared > 20);
  CHECK(std::isfinite(read_checkpoint_state(a + "/last.h5").metrics.back().ema_top1));
}

TEST_CASE("Model EMA: the first update copies the weights, then ema += (1 - decay) (w - ema), saved beside them") {
  const fs::path root = fresh("ema");
  write_stripes_folder(root, 32, 10);
  auto config = [&](const std::string& out) {
    ConfigValues v;
    auto set = [&](const char* k, const std::string& x) { v[k] = {x, "test"}; };
    for (auto [k, x] : {std::pair{"dataset", "folder"}, {"img_size", "16"}, {"in_chans", "3"}, {"patch_size", "8"},
                        {"embed_dim", "16"}, {"depth", "1"}, {"num_heads", "2"}, {"num_classes", "10"},
                        {"batch_size", "8"}, {"epochs", "1"}, {"threads", "1"}, {"workers", "0"},
                        {"model_ema", "true"}, {"model_ema_decay", "0.75"}})
      set(k, x);
    set("data_dir", root.string());
    set("output", out);
    return resolve_config(v);
  };
  const std::string one = (root / "one").string(), two = (root / "two").string();
  TrainOptions o;
  o.stop_after_steps = 1;
  train(config(one), o);
  o.stop_after_steps = 2;
  train(config(two), o);
  H5File f1(one + "/last.h5", H5File::Read), f2(two + "/last.h5", H5File::Read);
  int64_t checked = 0;
  for (const auto& name : f1.list("params")) {
    const auto w1 = f1.read<float>("params/" + name), e1 = f1.read<float>("ema/" + name);
    const auto w2 = f2.read<float>("params/" + name), e2 = f2.read<float>("ema/" + name);
    CHECK_MESSAGE(e1 == w1, name << ": the first update copies");
    std::vector<float> want(w1.size());
    for (size_t i = 0; i < w1.size(); ++i) want[i] = e1[i] + 0.25f * (w2[i] - e1[i]);
    CHECK_MESSAGE(e2 == want, name);
    ++checked;
  }
  CHECK(checked > 5);
  // a resume that asks for an EMA the checkpoint does not have is refused by name
  TrainConfig plain = config((root / "plain").string());
  plain.model_ema = false;
  o.stop_after_steps = 1;
  train(plain, o);
  TrainOptions r;
  r.resume = (root / "plain" / "last.h5").string();
  expect_error([&] { train(config((root / "plain").string()), r); }, {"plain/last.h5", "no EMA weights"});
}

TEST_CASE("Folder: first_colour_file finds a colour image among grey ones, and takes grey stored as RGB for grey") {
  const fs::path root = fresh("colour");
  // an image whose channels spread over `spread` levels at a fraction `share` of its pixels (the others grey)
  auto image = [](int spread, double share) {
    Image im = Image::blank(20, 10, 3);
    for (int64_t p = 0; p < 200; ++p) {
      uint8_t* px = im.pixels.data() + 3 * p;
      px[0] = px[1] = px[2] = uint8_t(40 + p % 100);
      if (double(p) < share * 200) px[0] = uint8_t(px[1] + spread);
    }
    return im;
  };
  Dataset d;
  d.name = "folder";
  for (int i = 0; i < 6; ++i) {
    const std::string f = (root / ("grey" + std::to_string(i) + ".png")).string();
    write_png(f, image(0, 0));  // grey, stored as RGB
    d.files.push_back(f);
  }
  write_png((root / "faint.png").string(), image(16, 1.0));  // 16 levels apart: within what a grey JPEG's chroma rounds to
  write_png((root / "speck.png").string(), image(80, 0.004));  // one pixel of 200 in colour: under 1%
  std::ofstream(root / "broken.png") << "not a png";
  write_jpeg((root / "grey.jpg").string(), image(0, 0));  // grey through YCbCr and JPEG's rounding
  d.files.push_back((root / "grey.jpg").string());
  d.files.insert(d.files.begin() + 2, {(root / "faint.png").string(), (root / "speck.png").string(),
                                       (root / "broken.png").string()});
  d.n = int64_t(d.files.size());
  CHECK(first_colour_file(d, 100) == "");
  write_png((root / "colour.png").string(), image(17, 0.01));  // 2 pixels of 200, 17 levels apart
  d.files.push_back((root / "colour.png").string());
  CHECK(first_colour_file(d, 100) == (root / "colour.png").string());
  // the samples spread over the files: 2 of 11 are files 0 and 5, neither the colour one (file 10)
  d.n = int64_t(d.files.size());
  CHECK(first_colour_file(d, 2) == "");
  d.files[5] = (root / "colour.png").string();
  CHECK(first_colour_file(d, 2) == (root / "colour.png").string());
}

TEST_CASE("Folder check: every unreadable file of both splits named at once, in file order, before any batch") {
  const fs::path root = fresh("check");
  write_stripes_folder(root, 40, 20);
  FolderOptions fo;
  fo.img_size = 16;
  {
    Dataset train = load_folder(root.string(), fo, true), val = load_folder(root.string(), fo, false);
    std::vector<std::pair<int64_t, int64_t>> calls;
    check_images({&train, &val}, [&](int64_t done, int64_t total) { calls.emplace_back(done, total); });
    REQUIRE(!calls.empty());
    CHECK(calls.back() == std::pair<int64_t, int64_t>(60, 60));  // the last call: all done
    for (size_t i = 1; i < calls.size(); ++i) CHECK(calls[i].first >= calls[i - 1].first);
  }
  put(root / "train" / "class3", "truncated.jpg", "zz_cut.jpg");       // cut short: found by decoding it
  put(root / "val" / "class1", "empty.png", "a_empty.png");
  put(root / "val" / "class0", "not_image.jpg", "b_text.jpg");
  put(root / "val" / "class2", "corrupt.png", "c_damaged.png");         // complete, damaged inside: not found
  {  // a complete JPEG with bytes after its end decodes: it passes
    std::ifstream in(kImages + "photo_160x120.jpg", std::ios::binary);
    std::ofstream(root / "train" / "class2" / "tail.jpg", std::ios::binary) << in.rdbuf() << "trailing bytes";
  }
  Dataset train = load_folder(root.string(), fo, true), val = load_folder(root.string(), fo, false);
  const std::string msg = error_of([&] { check_images({&train, &val}); });
  INFO(msg);
  CHECK(contains(msg, "3 of the 65 images of " + (root / "train").string() + " and " + (root / "val").string() + " are unreadable"));
  const size_t cut = msg.find("zz_cut.jpg"), text = msg.find("b_text.jpg"), empty = msg.find("a_empty.png");
  CHECK(cut < text);  // train first, then val in natural path order: class0/b_text before class1/a_empty
  CHECK(text < empty);
  CHECK(empty != std::string::npos);
  CHECK(contains(msg, "truncated"));
  CHECK(contains(msg, "not a JPEG or PNG"));
  CHECK(contains(msg, "empty file"));
  CHECK(!contains(msg, "tail.jpg"));
  CHECK(!contains(msg, "c_damaged.png"));
  // decoding everything (cache = true) finds the damaged one too, and also names every file
  const std::string all = error_of([&] { decode_all(val); });
  CHECK(contains(all, "3 of the 23 images"));
  CHECK(contains(all, "c_damaged.png"));
  CHECK(val.decoded.empty());
}
