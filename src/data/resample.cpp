// src/data/resample.cpp: PIL's Image.resize (Pillow's libImaging/Resample.c, reimplemented from its documented
// algorithm so that the bytes match what timm's transforms give through PIL).
//
// For each output pixel xx of an axis of in_size pixels resized to out_size:
//   scale = in_size / out_size, filterscale = max(scale, 1)  (downscaling widens the filter: antialiasing)
//   support = filter.support * filterscale, center = (xx + 0.5) * scale
//   taps x in [xmin, xmax): xmin = max(int(center - support + 0.5), 0), xmax = min(int(center + support + 0.5), in)
//   weight(x) = filter((x - center + 0.5) / filterscale), normalised to sum 1, then as 22-bit fixed point
//   rounded half away from zero.
// out = clip8((2^21 + sum pixel * weight) >> 22). The horizontal pass runs first (only on the rows the vertical
// pass reads) into an 8-bit image, then the vertical pass. An axis whose size does not change is not resampled.
// Nearest is PIL's affine nearest-neighbour map: x_in = int(x0 + (x + 0.5) * scale), accumulated as PIL adds it.
#include <algorithm>
#include <cmath>

#include "tapevit/data/transforms.h"
#include "tapevit/error.h"

namespace tapevit {

namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;

double bilinear(double x) {
  x = std::fabs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}
double bicubic(double x) {  // Keys' cubic with a = -0.5
  constexpr double a = -0.5;
  x = std::fabs(x);
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}
double box(double x) { return x > -0.5 && x <= 0.5 ? 1.0 : 0.0; }
double hamming(double x) {
  x = std::fabs(x);
  if (x == 0.0) return 1.0;
  if (x >= 1.0) return 0.0;
  x *= M_PI;
  return std::sin(x) / x * (0.54 + 0.46 * std::cos(x));
}
double sinc(double x) {
  if (x == 0.0) return 1.0;
  x *= M_PI;
  return std::sin(x) / x;
}
double lanczos(double x) { return -3.0 <= x && x < 3.0 ? sinc(x) * sinc(x / 3.0) : 0.0; }

struct Filter {
  double (*f)(double);
  double support;
};

Filter filter_of(Interp interp) {
  switch (interp) {
    case Interp::Bilinear: return {bilinear, 1.0};
    case Interp::Bicubic: return {bicubic, 2.0};
    case Interp::Box: return {box, 0.5};
    case Interp::Hamming: return {hamming, 1.0};
    case Interp::Lanczos: return {lanczos, 3.0};
    default: fail("resize: no filter for interpolation '", interpolation_name(interp), "'");
  }
}

// One axis's taps: bounds (out, 2) = (xmin, count), weights (out, ksize) in fixed point.
struct Coeffs {
  int ksize = 0;
  std::vector<int> bounds;
  std::vector<int32_t> k;
};

Coeffs precompute(int64_t in_size, int64_t out_size, const Filter& filter) {
  // PIL computes the box in float: scale = (double)(in1 - in0) / out with in0 = 0, in1 = in_size (floats)
  const double scale = double(float(in_size)) / double(out_size);
  const double filterscale = scale < 1.0 ? 1.0 : scale;
  const double support = filter.support * filterscale;
  Coeffs c;
  c.ksize = int(std::ceil(support)) * 2 + 1;
  c.bounds.resize(size_t(out_size * 2));
  c.k.assign(size_t(out_size * c.ksize), 0);
  std::vector<double> w(size_t(c.ksize));
  const double ss = 1.0 / filterscale;
  for (int64_t xx = 0; xx < out_size; ++xx) {
    const double center = (double(xx) + 0.5) * scale;
    int xmin = int(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = int(center + support + 0.5);
    if (xmax > in_size) xmax = int(in_size);
    xmax -= xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      w[size_t(x)] = filter.f((double(x + xmin) - center + 0.5) * ss);
      ww += w[size_t(x)];
    }
    for (int x = 0; x < xmax; ++x) {
      const double v = ww != 0.0 ? w[size_t(x)] / ww : w[size_t(x)];
      c.k[size_t(xx * c.ksize + x)] = v < 0 ? int32_t(-0.5 + v * (1 << kPrecisionBits)) : int32_t(0.5 + v * (1 << kPrecisionBits));
    }
    c.bounds[size_t(2 * xx)] = xmin;
    c.bounds[size_t(2 * xx + 1)] = xmax;
  }
  return c;
}

inline uint8_t clip8(int32_t v) {
  v >>= kPrecisionBits;  // arithmetic shift: floor, as PIL's
  return uint8_t(v < 0 ? 0 : v > 255 ? 255 : v);
}

// out row y = src row (row0 + y), columns from col0, resampled along x. Sums in int32, as PIL's (at most
// 255 * 2^22 * 1.3 < 2^31 for these filters' coefficient sums).
void horizontal(const Image& src, Image& out, int64_t row0, int64_t col0, const Coeffs& c) {
  const int64_t C = src.channels;
  for (int64_t y = 0; y < out.height; ++y) {
    const uint8_t* s = src.row(row0 + y) + col0 * C;
    uint8_t* d = out.row(y);
    for (int64_t xx = 0; xx < out.width; ++xx) {
      const int xmin = c.bounds[size_t(2 * xx)], n = c.bounds[size_t(2 * xx + 1)];
      const int32_t* k = c.k.data() + xx * c.ksize;
      const uint8_t* p = s + xmin * C;
      if (C == 3) {
        int32_t a0 = 1 << (kPrecisionBits - 1), a1 = a0, a2 = a0;
        for (int x = 0; x < n; ++x) a0 += p[3 * x] * k[x], a1 += p[3 * x + 1] * k[x], a2 += p[3 * x + 2] * k[x];
        d[3 * xx] = clip8(a0), d[3 * xx + 1] = clip8(a1), d[3 * xx + 2] = clip8(a2);
      } else {
        for (int64_t ch = 0; ch < C; ++ch) {
          int32_t acc = 1 << (kPrecisionBits - 1);
          for (int x = 0; x < n; ++x) acc += p[x * C + ch] * k[x];
          d[xx * C + ch] = clip8(acc);
        }
      }
    }
  }
}

// out row yy from src rows (bounds - row_shift), columns from col0, resampled along y
void vertical(const Image& src, Image& out, const Coeffs& c, int64_t row_shift, int64_t col0) {
  const int64_t WC = out.width * out.channels;
  std::vector<int32_t> acc(static_cast<size_t>(WC));
  for (int64_t yy = 0; yy < out.height; ++yy) {
    const int64_t ymin = c.bounds[size_t(2 * yy)] - row_shift;
    const int n = c.bounds[size_t(2 * yy + 1)];
    const int32_t* k = c.k.data() + yy * c.ksize;
    std::fill(acc.begin(), acc.end(), int32_t(1) << (kPrecisionBits - 1));
    for (int y = 0; y < n; ++y) {
      const uint8_t* s = src.row(ymin + y) + col0 * out.channels;
      const int32_t w = k[y];
      for (int64_t i = 0; i < WC; ++i) acc[size_t(i)] += int32_t(s[i]) * w;
    }
    uint8_t* d = out.row(yy);
    for (int64_t i = 0; i < WC; ++i) d[i] = clip8(acc[size_t(i)]);
  }
}

Image resize_nearest(const Image& src, int64_t W, int64_t H) {
  Image out = Image::blank(W, H, src.channels);
  const int64_t C = src.channels;
  const double ax = double(src.width) / double(W), ay = double(src.height) / double(H);
  std::vector<int64_t> xs(static_cast<size_t>(W));
  double xin = ax * 0.5;
  for (int64_t x = 0; x < W; ++x, xin += ax) xs[size_t(x)] = std::min<int64_t>(int64_t(xin), src.width - 1);
  double yin = ay * 0.5;
  for (int64_t y = 0; y < H; ++y, yin += ay) {
    const uint8_t* s = src.row(std::min<int64_t>(int64_t(yin), src.height - 1));
    uint8_t* d = out.row(y);
    for (int64_t x = 0; x < W; ++x)
      for (int64_t ch = 0; ch < C; ++ch) d[x * C + ch] = s[xs[size_t(x)] * C + ch];
  }
  return out;
}

}  // namespace

Image resize(const Image& src, int64_t W, int64_t H, Interp interp) {
  if (W == src.width && H == src.height) return src;  // PIL returns a copy
  Image out, tmp;
  resize(src, CropBox{0, 0, src.height, src.width}, W, H, interp, out, tmp);
  return out;
}

void resize(const Image& src, const CropBox& box, int64_t W, int64_t H, Interp interp, Image& out, Image& tmp) {
  if (W <= 0 || H <= 0) fail("resize: target size ", W, " x ", H, " must be positive");
  if (box.width <= 0 || box.height <= 0 || box.left < 0 || box.top < 0 || box.left + box.width > src.width ||
      box.top + box.height > src.height)
    fail("resize: box ", box.left, ",", box.top, " ", box.width, "x", box.height, " is not inside the ", src.width, "x",
         src.height, " image");
  if (W == box.width && H == box.height) {  // torchvision returns the crop as it is
    crop(src, box.left, box.top, W, H, out);
    return;
  }
  if (interp == Interp::Nearest) {
    out = resize_nearest(crop(src, box.left, box.top, box.width, box.height), W, H);
    return;
  }
  out.reshape(W, H, src.channels);
  const Filter filter = filter_of(interp);
  const bool need_h = W != box.width, need_v = H != box.height;
  const Coeffs ch = precompute(box.width, W, filter), cv = precompute(box.height, H, filter);
  if (!need_v) {
    horizontal(src, out, box.top, box.left, ch);
    return;
  }
  if (!need_h) {
    vertical(src, out, cv, -box.top, box.left);
    return;
  }
  // the rows the vertical pass reads: from the first tap of the first row to the last tap of the last
  const int64_t first = cv.bounds[0], last = cv.bounds[size_t(2 * H - 2)] + cv.bounds[size_t(2 * H - 1)];
  tmp.reshape(W, last - first, src.channels);
  horizontal(src, tmp, box.top + first, box.left, ch);
  vertical(tmp, out, cv, first, 0);
}

}  // namespace tapevit
