// src/data/transforms.cpp: crops, flips, timm's RandomResizedCrop draws, eval / train chains and RandomErasing
// (resampling is resample.cpp, RandAugment and colour jitter rand_augment.cpp). See tapevit/data/transforms.h.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "tapevit/data/rand_augment.h"
#include "tapevit/data/transforms.h"
#include "tapevit/error.h"

namespace tapevit {

namespace {

// Python's round(): half to even (the default floating-point rounding mode)
int64_t round_half_even(double x) { return int64_t(std::nearbyint(x)); }

}  // namespace

Interp parse_interpolation(const std::string& name, const std::string& key, bool allow_random) {
  static const std::pair<const char*, Interp> kNames[] = {
      {"nearest", Interp::Nearest}, {"bilinear", Interp::Bilinear}, {"bicubic", Interp::Bicubic},
      {"box", Interp::Box},         {"hamming", Interp::Hamming},   {"lanczos", Interp::Lanczos},
      {"random", Interp::Random}};
  for (const auto& [n, v] : kNames)
    if (name == n && (v != Interp::Random || allow_random)) return v;
  fail("key '", key, "' must be one of nearest, bilinear, bicubic, box, hamming, lanczos",
       allow_random ? ", random" : "", " (timm's names), got '", name, "'");
}

const char* interpolation_name(Interp interp) {
  switch (interp) {
    case Interp::Nearest: return "nearest";
    case Interp::Bilinear: return "bilinear";
    case Interp::Bicubic: return "bicubic";
    case Interp::Box: return "box";
    case Interp::Hamming: return "hamming";
    case Interp::Lanczos: return "lanczos";
    case Interp::Random: return "random";
  }
  return "?";
}

int64_t Draws::randint(int64_t a, int64_t b) {
  const int64_t n = b - a + 1;
  return a + std::min<int64_t>(int64_t(uniform() * double(n)), n - 1);
}

Image crop(const Image& src, int64_t left, int64_t top, int64_t width, int64_t height) {
  Image out;
  crop(src, left, top, width, height, out);
  return out;
}

void crop(const Image& src, int64_t left, int64_t top, int64_t width, int64_t height, Image& out) {
  if (width <= 0 || height <= 0) fail("crop: size ", width, " x ", height, " must be positive");
  const int64_t C = src.channels;
  out.reshape(width, height, C);
  const bool inside = left >= 0 && top >= 0 && left + width <= src.width && top + height <= src.height;
  if (!inside) std::fill(out.pixels.begin(), out.pixels.end(), uint8_t(0));  // PIL: 0 outside the image
  const int64_t x0 = std::max<int64_t>(left, 0), x1 = std::min(left + width, src.width);
  for (int64_t y = std::max<int64_t>(top, 0); y < std::min(top + height, src.height); ++y)
    if (x1 > x0) std::memcpy(out.row(y - top) + (x0 - left) * C, src.row(y) + x0 * C, size_t((x1 - x0) * C));
}

Image center_crop(const Image& src, int64_t width, int64_t height) {
  Image out;
  center_crop(src, width, height, out);
  return out;
}

void center_crop(const Image& src, int64_t width, int64_t height, Image& out) {
  // torchvision pads a too-small image with (crop - size) // 2 on the left/top first
  const int64_t pad_left = width > src.width ? (width - src.width) / 2 : 0;
  const int64_t pad_top = height > src.height ? (height - src.height) / 2 : 0;
  const int64_t pw = src.width + (width > src.width ? width - src.width : 0);
  const int64_t ph = src.height + (height > src.height ? height - src.height : 0);
  const int64_t top = round_half_even(double(ph - height) / 2.0), left = round_half_even(double(pw - width) / 2.0);
  crop(src, left - pad_left, top - pad_top, width, height, out);
}

void shorter_side_size(int64_t w, int64_t h, int64_t size, int64_t& new_w, int64_t& new_h) {
  const int64_t shorter = std::min(w, h), longer = std::max(w, h);
  const int64_t new_long = int64_t(double(size * longer) / double(shorter));
  new_w = w <= h ? size : new_long;
  new_h = w <= h ? new_long : size;
}

Image resize_shorter_side(const Image& src, int64_t size, Interp interp) {
  int64_t W = 0, H = 0;
  shorter_side_size(src.width, src.height, size, W, H);
  return resize(src, W, H, interp);
}

void flip_horizontal(Image& im) {
  const int64_t C = im.channels;
  for (int64_t y = 0; y < im.height; ++y) {
    uint8_t* r = im.row(y);
    for (int64_t a = 0, b = im.width - 1; a < b; ++a, --b)
      for (int64_t c = 0; c < C; ++c) std::swap(r[a * C + c], r[b * C + c]);
  }
}

void flip_vertical(Image& im) {
  const size_t stride = size_t(im.width * im.channels);
  for (int64_t a = 0, b = im.height - 1; a < b; ++a, --b) std::swap_ranges(im.row(a), im.row(a) + stride, im.row(b));
}

void ImageTransformConfig::validate() const {
  if (!(scale[0] > 0 && scale[0] <= scale[1] && std::isfinite(scale[1])))
    fail("key 'scale' must be two numbers 0 < min <= max (area fractions), got ", scale[0], " ", scale[1]);
  if (!(ratio[0] > 0 && ratio[0] <= ratio[1] && std::isfinite(ratio[1])))
    fail("key 'ratio' must be two numbers 0 < min <= max (aspect ratios), got ", ratio[0], " ", ratio[1]);
  if (!(crop_pct > 0 && crop_pct <= 1)) fail("key 'crop_pct' must be in (0, 1], got ", crop_pct);
  if (!(vflip >= 0 && vflip <= 1)) fail("key 'vflip' must be in [0, 1], got ", vflip);
  if (!(color_jitter >= 0 && color_jitter <= 1))
    fail("key 'color_jitter' must be in [0, 1] (brightness, contrast and saturation factors in [1 - v, 1 + v]), got ",
         color_jitter);
  if (!(reprob >= 0 && reprob <= 1)) fail("key 'reprob' must be in [0, 1], got ", reprob);
  if (remode != "const" && remode != "rand" && remode != "pixel")
    fail("key 'remode' must be const, rand or pixel (timm's random erasing modes), got '", remode, "'");
  if (recount < 1) fail("key 'recount' must be >= 1, got ", recount);
  if (interpolation == Interp::Random) fail("key 'interpolation' (eval) cannot be random");
  if (!aa.empty()) RandAugment(aa, 0, {});  // throws naming the part of the string it does not understand
}

CropBox random_resized_crop_box(int64_t width, int64_t height, const double scale[2], const double ratio[2], Draws& d) {
  const double area = double(width * height);
  const double log_lo = std::log(ratio[0]), log_hi = std::log(ratio[1]);
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target_area = d.uniform(scale[0], scale[1]) * area;
    const double aspect = std::exp(d.uniform(log_lo, log_hi));
    const int64_t w = round_half_even(std::sqrt(target_area * aspect));
    const int64_t h = round_half_even(std::sqrt(target_area / aspect));
    if (w <= width && h <= height) {
      CropBox b;
      b.top = d.randint(0, height - h);
      b.left = d.randint(0, width - w);
      b.height = h, b.width = w;
      return b;
    }
  }
  // fallback: the whole image, narrowed to the ratio range, centered
  const double in_ratio = double(width) / double(height);
  int64_t w = width, h = height;
  if (in_ratio < std::min(ratio[0], ratio[1])) h = round_half_even(double(w) / std::min(ratio[0], ratio[1]));
  else if (in_ratio > std::max(ratio[0], ratio[1])) w = round_half_even(double(h) * std::max(ratio[0], ratio[1]));
  CropBox b;
  b.top = (height - h) / 2, b.left = (width - w) / 2, b.height = h, b.width = w;
  return b;
}

Image eval_transform(const Image& src, int64_t img_size, const ImageTransformConfig& t) {
  Image out;
  TransformScratch s;
  eval_transform(src, img_size, t, out, s);
  return out;
}

void eval_transform(const Image& src, int64_t img_size, const ImageTransformConfig& t, Image& out, TransformScratch& s) {
  // Resize(floor(img_size / crop_pct)) on the shorter side, as resize_shorter_side; then CenterCrop(img_size)
  int64_t W = 0, H = 0;
  shorter_side_size(src.width, src.height, int64_t(std::floor(double(img_size) / t.crop_pct)), W, H);
  const Image* resized = &src;
  if (W != src.width || H != src.height) {
    resize(src, CropBox{0, 0, src.height, src.width}, W, H, t.interpolation, s.resized, s.rows);
    resized = &s.resized;
  }
  center_crop(*resized, img_size, img_size, out);
}

void train_transform(const Image& src, int64_t img_size, double hflip, const ImageTransformConfig& t,
                     const RandAugment* aa, Draws& d, Image& im, TransformScratch& s) {
  const CropBox b = random_resized_crop_box(src.width, src.height, t.scale, t.ratio, d);
  Interp interp = t.train_interpolation;
  if (interp == Interp::Random) interp = d.chance(0.5) ? Interp::Bilinear : Interp::Bicubic;
  resize(src, b, img_size, img_size, interp, im, s.rows);
  if (hflip > 0 && d.chance(hflip)) flip_horizontal(im);
  if (t.vflip > 0 && d.chance(t.vflip)) flip_vertical(im);
  if (aa) aa->apply(im, d);
  else if (t.color_jitter > 0) color_jitter(im, t.color_jitter, d);  // timm: colour jitter only without aa
}

void random_erasing(float* x, int64_t C, int64_t H, int64_t W, const ImageTransformConfig& t, Draws& d) {
  if (!(t.reprob > 0) || !d.chance(t.reprob)) return;
  const double area = double(H * W);
  const double log_lo = std::log(0.3), log_hi = std::log(1.0 / 0.3);  // timm's min_aspect 0.3
  const int64_t count = t.recount <= 1 ? 1 : d.randint(1, t.recount);
  for (int64_t e = 0; e < count; ++e)
    for (int attempt = 0; attempt < 10; ++attempt) {
      const double target_area = d.uniform(0.02, 1.0 / 3.0) * area / double(count);
      const double aspect = std::exp(d.uniform(log_lo, log_hi));
      const int64_t h = round_half_even(std::sqrt(target_area * aspect));
      const int64_t w = round_half_even(std::sqrt(target_area / aspect));
      if (!(w < W && h < H)) continue;
      const int64_t top = d.randint(0, H - h), left = d.randint(0, W - w);
      for (int64_t c = 0; c < C; ++c) {
        const float colour = t.remode == "rand" ? float(d.normal()) : 0.0f;
        for (int64_t y = top; y < top + h; ++y)
          for (int64_t xx = left; xx < left + w; ++xx)
            x[(c * H + y) * W + xx] = t.remode == "pixel" ? float(d.normal()) : colour;
      }
      break;
    }
}

}  // namespace tapevit
