// tests/test_image.cpp: image decoding, resampling, timm's transforms and the PIL ops against python3-pil's own
// output (tests/fixtures/pil_images.h5, written by tests/make_image_fixtures.py from tests/fixtures/images/).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "tapevit/data/image.h"
#include "tapevit/data/pil_ops.h"
#include "tapevit/data/rand_augment.h"
#include "tapevit/data/transforms.h"
#include "tapevit/io/h5.h"
#include "test_util.h"

using namespace tapevit;
using namespace tapevit::test;
namespace fs = std::filesystem;

namespace {

const std::string kImages = std::string(TAPEVIT_FIXTURES) + "/images/";
const std::string kPil = std::string(TAPEVIT_FIXTURES) + "/pil_images.h5";

// PIL's array (H, W[, 3]) as an Image
Image pil_image(const H5File& f, const std::string& name) {
  Shape s;
  std::vector<uint8_t> px = f.read<uint8_t>(name, &s);
  Image im;
  im.height = s[0], im.width = s[1], im.channels = s.rank == 3 ? s[2] : 1;
  im.pixels = std::move(px);
  return im;
}

struct Diff {
  int64_t max = 0, count = 0;
};

Diff diff(const Image& a, const Image& b) {
  Diff d;
  if (a.width != b.width || a.height != b.height || a.channels != b.channels) {
    d.max = d.count = 1 << 30;
    return d;
  }
  for (size_t i = 0; i < a.pixels.size(); ++i) {
    const int64_t e = std::abs(int64_t(a.pixels[i]) - int64_t(b.pixels[i]));
    d.max = std::max(d.max, e);
    d.count += e != 0;
  }
  return d;
}

#define CHECK_SAME(ours, pil, what)                                                                          \
  do {                                                                                                       \
    const Diff d_ = diff(ours, pil);                                                                         \
    INFO((what) << ": ours " << ours.width << "x" << ours.height << "x" << ours.channels << ", PIL's "        \
              << pil.width << "x" << pil.height << "x" << pil.channels << ", max diff " << d_.max << " in "   \
              << d_.count << " values");                                                                     \
    CHECK(d_.max == 0);                                                                                      \
  } while (0)

Image from_file(const std::string& name, int channels) { return read_image(kImages + name, channels); }

}  // namespace

TEST_CASE("Image decode: every JPEG and PNG fixture equals PIL's convert('RGB') and convert('L') byte for byte") {
  H5File f(kPil, H5File::Mode::Read);
  const auto names = f.list("/decode");
  REQUIRE(names.size() >= 15);
  for (const auto& n : names) {
    const std::string mode = f.attr_string("mode", "/decode/" + n);
    INFO(n << " (PIL mode " << mode << ")");
    CHECK_SAME(from_file(n, 3), pil_image(f, "/decode/" + n + "/rgb"), n + " as RGB");
    CHECK_SAME(from_file(n, 1), pil_image(f, "/decode/" + n + "/l"), n + " as L");
  }
}

TEST_CASE("Image decode: truncated, corrupt, empty and non-image files are errors naming the file") {
  H5File f(kPil, H5File::Mode::Read);
  for (const auto& n : f.list("/broken")) {
    INFO(n << ": PIL says " << f.attr_string("pil_error", "/broken/" + n) << " " << f.attr_string("pil_message", "/broken/" + n));
    const std::string msg = error_of([&] { from_file(n, 3); });
    CHECK(contains(msg, kImages + n));
  }
  CHECK(contains(error_of([] { from_file("truncated.jpg", 3); }), "truncated"));
  CHECK(contains(error_of([] { from_file("truncated.png", 3); }), "truncated"));
  CHECK(contains(error_of([] { from_file("empty.png", 3); }), "empty file"));
  CHECK(contains(error_of([] { from_file("not_image.jpg", 3); }), "not a JPEG or PNG"));
  CHECK(contains(error_of([] { from_file("no_such_file.png", 3); }), "cannot open"));
  CHECK(contains(error_of([] { from_file("rgb_37x23.png", 2); }), "1 (L) or 3 (RGB)"));
  // a PNG header claiming 100000 x 100000 pixels is refused before anything is allocated
  std::ifstream in(kImages + "rgb_37x23.png", std::ios::binary);
  std::vector<uint8_t> png((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  REQUIRE(png.size() > 24);
  for (int k : {16, 20}) png[size_t(k)] = 0, png[size_t(k + 1)] = 0x01, png[size_t(k + 2)] = 0x86, png[size_t(k + 3)] = 0xA0;
  const std::string msg = error_of([&] { decode_image(png.data(), png.size(), 3, "bomb.png"); });
  CHECK((contains(msg, "bomb.png") && (contains(msg, "limit") || contains(msg, "CRC"))));
}

TEST_CASE("Resize: PIL's Image.resize (bicubic, bilinear, nearest, up, down, one axis, 1 pixel) byte for byte") {
  H5File f(kPil, H5File::Mode::Read);
  int cases = 0;
  for (const auto& src : f.list("/resize")) {
    const Image pil_src = pil_image(f, "/decode/" + src + (src.rfind("grey", 0) == 0 ? "/l" : "/rgb"));
    for (const auto& n : f.list("/resize/" + src)) {
      const std::string g = "/resize/" + src + "/" + n;
      const Interp ip = parse_interpolation(f.attr_string("resample", g), "resample", false);
      const Image ours = resize(pil_src, f.attr_int("width", g), f.attr_int("height", g), ip);
      CHECK_SAME(ours, pil_image(f, g), g);
      ++cases;
    }
  }
  CHECK(cases >= 30);
}

TEST_CASE("Eval transform: timm's Resize(floor(size / crop_pct)) + CenterCrop(size) as torchvision does it through PIL") {
  H5File f(kPil, H5File::Mode::Read);
  int cases = 0;
  for (const auto& src : f.list("/eval")) {
    const Image im = pil_image(f, "/decode/" + src + "/rgb");
    for (const auto& n : f.list("/eval/" + src)) {
      const std::string g = "/eval/" + src + "/" + n;
      ImageTransformConfig t;
      t.crop_pct = f.attr_double("crop_pct", g);
      t.interpolation = parse_interpolation(f.attr_string("interpolation", g), "interpolation", false);
      const int64_t size = f.attr_int("size", g);
      const Image resized = resize_shorter_side(im, int64_t(std::floor(double(size) / t.crop_pct)), t.interpolation);
      CHECK(resized.width == f.attr_int("resize_w", g));
      CHECK(resized.height == f.attr_int("resize_h", g));
      CHECK_SAME(eval_transform(im, size, t), pil_image(f, g), g);  // includes a padded crop (crop_pct 1.5)
      ++cases;
    }
  }
  CHECK(cases >= 19);
}

TEST_CASE("Resized crop: torchvision's resized_crop (crop, then PIL resize) on boxes at borders and 1 pixel wide") {
  H5File f(kPil, H5File::Mode::Read);
  for (const auto& src : f.list("/resized_crop")) {
    const Image im = pil_image(f, "/decode/" + src + "/rgb");
    for (const auto& n : f.list("/resized_crop/" + src)) {
      const std::string g = "/resized_crop/" + src + "/" + n;
      const Interp ip = parse_interpolation(f.attr_string("interpolation", g), "interpolation", false);
      const Image c = crop(im, f.attr_int("left", g), f.attr_int("top", g), f.attr_int("width", g), f.attr_int("height", g));
      CHECK_SAME(resize(c, f.attr_int("out_w", g), f.attr_int("out_h", g), ip), pil_image(f, g), g);
    }
  }
  Image flipped = pil_image(f, "/decode/rgb_37x23.png/rgb");
  flip_horizontal(flipped);
  CHECK_SAME(flipped, pil_image(f, "/hflip/rgb_37x23.png"), "hflip");
}

TEST_CASE("RandomResizedCrop boxes: inside the image, area and ratio in range, timm's center-crop fallback") {
  const double scale[2] = {0.08, 1.0}, ratio[2] = {3.0 / 4.0, 4.0 / 3.0};
  int64_t n = 0, full = 0;
  double log_ratio_sum = 0, area_sum = 0;
  for (uint64_t k = 0; k < 4000; ++k) {
    Draws d{splitmix64(k)};
    const CropBox b = random_resized_crop_box(160, 120, scale, ratio, d);
    REQUIRE(b.width >= 1);
    REQUIRE(b.height >= 1);
    REQUIRE(b.left >= 0);
    REQUIRE(b.top >= 0);
    REQUIRE(b.left + b.width <= 160);
    REQUIRE(b.top + b.height <= 120);
    const double r = double(b.width) / double(b.height), a = double(b.width * b.height) / (160.0 * 120.0);
    full += b.width == 160 && b.height == 120;  // only the fallback gives the whole 4:3 image... or a lucky draw
    // rounding to whole pixels widens the ranges by about a pixel
    CHECK(r >= 0.75 * (1 - 0.05));
    CHECK(r <= 4.0 / 3.0 * (1 + 0.05));
    CHECK(a >= 0.08 * 0.85);
    log_ratio_sum += std::log(r);
    area_sum += a;
    ++n;
  }
  // The accepted area is below the uniform mean 0.54 because large areas at extreme ratios do not fit. On this
  // wide image tall crops are rejected more often, so the mean log ratio leans wide.
  CHECK(log_ratio_sum / double(n) > 0);
  CHECK(area_sum / double(n) > 0.35);
  CHECK(area_sum / double(n) < 0.54);
  CHECK(full < n / 20);

  // on a square image the log-uniform ratio on a symmetric range stays symmetric: mean log ratio near 0
  double sq_sum = 0;
  for (uint64_t k = 0; k < 4000; ++k) {
    Draws d{splitmix64(k + 12345)};
    const CropBox b = random_resized_crop_box(200, 200, scale, ratio, d);
    sq_sum += std::log(double(b.width) / double(b.height));
  }
  CHECK(std::fabs(sq_sum / 4000) < 0.015);

  // fallback: no attempt can fit (scale above 1), so the image's center clamped to the ratio range
  const double too_big[2] = {2.0, 3.0};
  Draws d{7};
  CropBox b = random_resized_crop_box(300, 50, too_big, ratio, d);  // ratio 6 > 4/3: w = round(50 * 4/3) = 67
  CHECK(b.width == 67);
  CHECK(b.height == 50);
  CHECK(b.left == (300 - 67) / 2);
  CHECK(b.top == 0);
  b = random_resized_crop_box(40, 100, too_big, ratio, d);  // ratio 0.4 < 3/4: h = round(40 / 0.75) = 53
  CHECK(b.width == 40);
  CHECK(b.height == 53);
  CHECK(b.top == (100 - 53) / 2);
  b = random_resized_crop_box(100, 90, too_big, ratio, d);  // within the range: the whole image
  CHECK((b.width == 100 && b.height == 90 && b.left == 0 && b.top == 0));
}

TEST_CASE("Random erasing: probability, boxes inside the image, const / rand / pixel values, up to recount boxes") {
  const int64_t C = 3, H = 20, W = 24;
  ImageTransformConfig t;
  t.reprob = 0.25;
  int erased = 0;
  for (uint64_t k = 0; k < 2000; ++k) {
    std::vector<float> x(size_t(C * H * W), 7.0f);
    Draws d{splitmix64(k + 99)};
    random_erasing(x.data(), C, H, W, t, d);
    const int64_t changed = std::count_if(x.begin(), x.end(), [](float v) { return v != 7.0f; });
    erased += changed > 0;
    if (changed > 0) {  // pixel mode: N(0, 1) noise per value, every channel of a box
      CHECK(changed % C == 0);
      CHECK(changed <= C * H * W / 3 + C * 8);
    }
  }
  CHECK(erased > 2000 * 0.25 * 0.9);
  CHECK(erased < 2000 * 0.25 * 1.1);
  t.reprob = 1.0;
  t.remode = "const";
  std::vector<float> x(size_t(C * H * W), 7.0f);
  Draws d{5};
  random_erasing(x.data(), C, H, W, t, d);
  CHECK(std::count(x.begin(), x.end(), 0.0f) > 0);
  CHECK(std::count(x.begin(), x.end(), 0.0f) + std::count(x.begin(), x.end(), 7.0f) == C * H * W);
  t.remode = "rand";  // one colour per channel
  std::fill(x.begin(), x.end(), 7.0f);
  random_erasing(x.data(), C, H, W, t, d);
  for (int64_t c = 0; c < C; ++c) {
    std::vector<float> vals;
    for (int64_t i = 0; i < H * W; ++i)
      if (x[size_t(c * H * W + i)] != 7.0f) vals.push_back(x[size_t(c * H * W + i)]);
    REQUIRE(!vals.empty());
    CHECK(std::all_of(vals.begin(), vals.end(), [&](float v) { return v == vals[0]; }));
  }
  t.remode = "bogus";
  CHECK(contains(error_of([&] { t.validate(); }), "remode"));
}

TEST_CASE("PIL ops: autocontrast, equalize, posterize, solarize, enhance, affine and rotate equal python3-pil's") {
  H5File f(kPil, H5File::Mode::Read);
  int64_t exact = 0, total = 0, worst = 0;
  for (const std::string src : {"rgb", "l"}) {
    const Image base = src == "rgb" ? pil_image(f, "/decode/rgb_37x23.png/rgb") : pil_image(f, "/decode/grey_30x41.png/l");
    const Fill fill = src == "rgb" ? Fill{124, 116, 104} : Fill{124, 124, 124};
    for (const auto& n : f.list("/ops/" + src)) {
      const std::string g = "/ops/" + src + "/" + n, op = f.attr_string("op", g);
      auto interp = [&] { return parse_interpolation(f.attr_string("resample", g), "resample", false); };
      Image im = base;
      if (op == "autocontrast") autocontrast(im);
      else if (op == "equalize") equalize(im);
      else if (op == "invert") invert(im);
      else if (op == "posterize") posterize(im, int(f.attr_int("bits", g)));
      else if (op == "solarize") solarize(im, int(f.attr_int("threshold", g)));
      else if (op == "solarize_add") solarize_add(im, int(f.attr_int("add", g)), int(f.attr_int("threshold", g)));
      else if (op == "color") enhance_color(im, f.attr_double("factor", g));
      else if (op == "contrast") enhance_contrast(im, f.attr_double("factor", g));
      else if (op == "brightness") enhance_brightness(im, f.attr_double("factor", g));
      else if (op == "sharpness") enhance_sharpness(im, f.attr_double("factor", g));
      else if (op == "shearx" || op == "sheary" || op == "translatex" || op == "translatey") {
        const double v = f.has_attr("factor", g) ? f.attr_double("factor", g) : f.attr_double("pixels", g);
        double m[6] = {1, 0, 0, 0, 1, 0};
        (op == "shearx" ? m[1] : op == "sheary" ? m[3] : op == "translatex" ? m[2] : m[5]) = v;
        im = affine(im, m, interp(), fill);
      } else if (op == "rotate") im = rotate(im, f.attr_double("degrees", g), interp(), fill);
      else if (op == "chain") {  // rotate(-12.5, bicubic); equalize; contrast(1.3); shearx(0.1, bilinear)
        im = rotate(im, -12.5, Interp::Bicubic, fill);
        equalize(im);
        enhance_contrast(im, 1.3);
        const double m[6] = {1, 0.1, 0, 0, 1, 0};
        im = affine(im, m, Interp::Bilinear, fill);
      } else {
        FAIL_CHECK("no replica for PIL op '" << op << "' (" << g << ")");
        continue;
      }
      const Diff d = diff(im, pil_image(f, g));
      INFO(g << ": max diff " << d.max << " in " << d.count << " values");
      CHECK(d.max == 0);
      exact += d.max == 0;
      worst = std::max(worst, d.max);
      ++total;
    }
  }
  MESSAGE(exact << " of " << total << " PIL op results equal byte for byte; largest difference " << worst);
  CHECK(total >= 100);
}

TEST_CASE("RandAugment: timm's strings, op lists (inc0 is increasing, as timm parses it), magnitudes, determinism") {
  const std::vector<double> mean = {0.485, 0.456, 0.406};
  RandAugment a("rand-m9-mstd0.5-inc1", 224, mean);
  CHECK(a.num_layers() == 2);
  CHECK(a.magnitude() == 9);
  REQUIRE(a.ops().size() == 15);
  CHECK(a.ops()[4] == "PosterizeIncreasing");
  RandAugment b("rand-m9-n3-mstd1", 224, mean);
  CHECK(b.num_layers() == 3);
  CHECK(b.ops()[4] == "Posterize");  // no inc: timm's plain list
  CHECK(RandAugment("rand-m9-inc0", 224, mean).ops()[4] == "PosterizeIncreasing");  // timm: bool('0') is True
  RandAugment("rand-m7-mstd0.5-inc1-mmax10", 224, mean);
  expect_error([&] { RandAugment("augmix-m5", 224, mean); }, {"aa", "augmix-m5", "start with 'rand'"});
  expect_error([&] { RandAugment("rand-m9-x3", 224, mean); }, {"aa", "x3", "not understood"});
  expect_error([&] { RandAugment("rand-mfoo", 224, mean); }, {"aa", "mfoo"});
  expect_error([&] { RandAugment("rand-p1.5", 224, mean); }, {"p must be in [0, 1]"});

  // the same key gives the same image; different keys give different ones; p0 leaves the image alone
  H5File f(kPil, H5File::Mode::Read);
  const Image src = pil_image(f, "/decode/photo_160x120.jpg/rgb");
  auto run = [&](const RandAugment& ra, uint64_t key) {
    Image im = src;
    Draws d{key};
    ra.apply(im, d);
    return im;
  };
  CHECK(run(a, 1).pixels == run(a, 1).pixels);
  int differ = 0;
  for (uint64_t k = 2; k < 12; ++k) differ += run(a, k).pixels != src.pixels;
  CHECK(differ >= 5);  // two ops at p = 0.5 each: most images change
  CHECK(run(RandAugment("rand-m9-p0", 224, mean), 3).pixels == src.pixels);
  // every op of both lists runs on RGB and L at magnitudes 0..10 and keeps the size
  for (const auto* ra : {&a, &b})
    for (const auto& op : ra->ops())
      for (double m : {0.0, 5.0, 10.0})
        for (int ch : {3, 1}) {
          Image im = ch == 3 ? src : read_image(kImages + "grey_30x41.png", 1);
          const int64_t w = im.width, h = im.height;
          Draws d{uint64_t(m * 7 + ch)};
          ra->apply_op(op, m, im, d);
          CHECK_MESSAGE((im.width == w && im.height == h && im.channels == ch), op << " at magnitude " << m);
        }
}

TEST_CASE("Colour jitter: deterministic per key, off at 0, only PIL's enhance ops (a grey image stays grey), key checked") {
  H5File f(kPil, H5File::Mode::Read);
  const Image src = pil_image(f, "/decode/photo_160x120.jpg/rgb");
  auto jitter = [&](const Image& in, double v, uint64_t key) {
    Image im = in;
    Draws d{key};
    color_jitter(im, v, d);
    return im;
  };
  CHECK(jitter(src, 0.0, 1).pixels == src.pixels);
  CHECK(jitter(src, 0.4, 1).pixels == jitter(src, 0.4, 1).pixels);
  int changed = 0;
  for (uint64_t k = 2; k < 10; ++k) changed += jitter(src, 0.4, k).pixels != src.pixels;
  CHECK(changed >= 7);
  // brightness, contrast and saturation keep a grey image grey (R = G = B everywhere)
  Image grey = read_image(kImages + "grey_30x41.png", 3);
  const Image g = jitter(grey, 0.8, 5);
  for (size_t i = 0; i < g.pixels.size(); i += 3) REQUIRE((g.pixels[i] == g.pixels[i + 1] && g.pixels[i] == g.pixels[i + 2]));
  ImageTransformConfig t;
  t.color_jitter = 1.5;
  CHECK(contains(error_of([&] { t.validate(); }), "color_jitter"));
}

TEST_CASE("Image header: format and size without decoding, decoding's header errors, and whether the file ends whole") {
  H5File f(kPil, H5File::Mode::Read);
  for (const auto& n : f.list("/decode")) {  // every complete fixture: PIL's size, and its format's end marker
    INFO(n);
    const ImageHeader h = read_image_header(kImages + n);
    const Image pil = pil_image(f, "/decode/" + n + "/rgb");
    CHECK(h.width == pil.width);
    CHECK(h.height == pil.height);
    CHECK(h.format == (fs::path(n).extension() == ".png" ? "PNG" : "JPEG"));
    CHECK(h.ends_whole);
  }
  // cut short after the header: the header reads, the end is missing (decoding then fails: read_image's test above)
  for (const char* n : {"truncated.jpg", "truncated.png"}) {
    INFO(n);
    const ImageHeader h = read_image_header(kImages + n);
    CHECK(h.width == (std::string(n) == "truncated.jpg" ? 64 : 37));
    CHECK(!h.ends_whole);
  }
  // damage inside a complete file is only found by decoding it whole
  CHECK(read_image_header(kImages + "corrupt.png").ends_whole);
  CHECK(contains(error_of([] { read_image_header(kImages + "empty.png"); }), "empty file"));
  CHECK(contains(error_of([] { read_image_header(kImages + "not_image.jpg"); }), "not a JPEG or PNG"));
  CHECK(contains(error_of([] { read_image_header(kImages + "no_such_file.png"); }), "cannot open"));

  const fs::path dir = fs::temp_directory_path() / "tapevit_image_header";
  fs::create_directories(dir);
  std::ifstream in(kImages + "photo_160x120.jpg", std::ios::binary);
  const std::string jpg((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto write = [&](const std::string& name, const std::string& bytes) {
    std::ofstream((dir / name).string(), std::ios::binary) << bytes;
    return (dir / name).string();
  };
  // cut inside the header: an error naming the file and the truncation
  const std::string cut = write("cut.jpg", jpg.substr(0, 100));
  const std::string msg = error_of([&] { read_image_header(cut); });
  CHECK((contains(msg, cut) && contains(msg, "truncated")));
  // 120 KB of comment segments before the frame header (as large EXIF or ICC data): read past the first 64 KiB
  std::string big = jpg.substr(0, 2);
  for (int k = 0; k < 2; ++k) big += std::string("\xFF\xFE\xEA\x60", 4) + std::string(60000 - 2, 'x');
  big += jpg.substr(2);
  const ImageHeader hb = read_image_header(write("big_header.jpg", big));
  CHECK(hb.width == 160);
  CHECK(hb.height == 120);
  CHECK(hb.ends_whole);
  // bytes after the end marker (as some cameras append): not "whole", though it decodes as the original does
  const std::string tail = write("tail.jpg", jpg + "trailing bytes");
  CHECK(!read_image_header(tail).ends_whole);
  CHECK(read_image(tail, 3).pixels == from_file("photo_160x120.jpg", 3).pixels);
  fs::remove_all(dir);
}
