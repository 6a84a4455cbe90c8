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

inline uint8_t clip8(int64_t v) {
  v >>= kPrecisionBits;
  return uint8_t(v < 0 ? 0 : v > 255 ? 255 : v);
}

// rows [row0, row0 + out.height) of src, resampled along x into out
void horizontal(const Image& src, Image& out, int64_t row0, const Coeffs& c) {
  const int64_t C = src.channels;
  for (int64_t y = 0; y < out.height; ++y) {
    const uint8_t* s = src.row(row0 + y);
    uint8_t* d = out.row(y);
    for (int64_t xx = 0; xx < out.width; ++xx) {
      const int xmin = c.bounds[size_t(2 * xx)], n = c.bounds[size_t(2 * xx + 1)];
      const int32_t* k = c.k.data() + xx * c.ksize;
      for (int64_t ch = 0; ch < C; ++ch) {
        int64_t acc = 1 << (kPrecisionBits - 1);
        for (int x = 0; x < n; ++x) acc += int64_t(s[(xmin + x) * C + ch]) * k[x];
        d[xx * C + ch] = clip8(acc);
      }
    }
  }
}

void vertical(const Image& src, Image& out, const Coeffs& c, int64_t row_shift) {
  const int64_t WC = out.width * out.channels;
  std::vector<int64_t> acc(static_cast<size_t>(WC));
  for (int64_t yy = 0; yy < out.height; ++yy) {
    const int ymin = c.bounds[size_t(2 * yy)] - int(row_shift), n = c.bounds[size_t(2 * yy + 1)];
    const int32_t* k = c.k.data() + yy * c.ksize;
    std::fill(acc.begin(), acc.end(), int64_t(1) << (kPrecisionBits - 1));
    for (int y = 0; y < n; ++y) {
      const uint8_t* s = src.row(ymin + y);
      const int64_t w = k[y];
      for (int64_t i = 0; i < WC; ++i) acc[size_t(i)] += int64_t(s[i]) * w;
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
  if (W <= 0 || H <= 0) fail("resize: target size ", W, " x ", H, " must be positive");
  if (src.width <= 0 || src.height <= 0) fail("resize: the source image is empty");
  if (W == src.width && H == src.height) return src;  // PIL returns a copy
  if (interp == Interp::Nearest) return resize_nearest(src, W, H);
  const Filter filter = filter_of(interp);
  const bool need_h = W != src.width, need_v = H != src.height;
  const Coeffs ch = precompute(src.width, W, filter), cv = precompute(src.height, H, filter);
  if (!need_v) {
    Image out = Image::blank(W, H, src.channels);
    horizontal(src, out, 0, ch);
    return out;
  }
  Image out = Image::blank(W, H, src.channels);
  if (!need_h) {
    vertical(src, out, cv, 0);
    return out;
  }
  // the rows the vertical pass reads: from the first tap of the first row to the last tap of the last
  const int64_t first = cv.bounds[0], last = cv.bounds[size_t(2 * H - 2)] + cv.bounds[size_t(2 * H - 1)];
  Image tmp = Image::blank(W, last - first, src.channels);
  horizontal(src, tmp, first, ch);
  vertical(tmp, out, cv, first);
  return out;
}

}  // namespace tapevit
