// src/data/pil_ops.cpp: PIL's ImageOps / ImageEnhance / blend / affine operations on 8-bit L or RGB images, as
// Pillow 9.4 computes them (see tapevit/data/pil_ops.h). Written from PIL's documented behaviour and checked
// against python3-pil's output (tests/test_image.cpp).
#include "tapevit/data/pil_ops.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "tapevit/error.h"

namespace tapevit {

namespace {

// one lookup table per channel, applied in place (PIL's Image.point / ImageOps._lut)
void apply_luts(Image& im, const std::vector<std::array<uint8_t, 256>>& lut) {
  const int64_t C = im.channels, n = im.width * im.height;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0; c < C; ++c) im.pixels[size_t(i * C + c)] = lut[size_t(c)][im.pixels[size_t(i * C + c)]];
}

void apply_lut(Image& im, const std::array<uint8_t, 256>& lut) {
  for (auto& v : im.pixels) v = lut[v];
}

std::vector<std::array<int64_t, 256>> histograms(const Image& im) {
  std::vector<std::array<int64_t, 256>> h(size_t(im.channels));
  for (auto& hc : h) hc.fill(0);
  const int64_t C = im.channels, n = im.width * im.height;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0; c < C; ++c) ++h[size_t(c)][im.pixels[size_t(i * C + c)]];
  return h;
}

// The image as PIL's convert('L'), back in im's mode (Color's and Contrast's degenerate images).
Image grey_of(const Image& im) {
  if (im.channels == 1) return im;
  Image g = im;
  const int64_t n = im.width * im.height;
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t* p = &im.pixels[size_t(3 * i)];
    const uint8_t l = luma(p[0], p[1], p[2]);
    g.pixels[size_t(3 * i)] = g.pixels[size_t(3 * i + 1)] = g.pixels[size_t(3 * i + 2)] = l;
  }
  return g;
}

}  // namespace

void autocontrast(Image& im) {
  const auto h = histograms(im);
  std::vector<std::array<uint8_t, 256>> lut(h.size());
  for (size_t c = 0; c < h.size(); ++c) {
    int lo = 0, hi = 255;
    while (lo < 255 && h[c][size_t(lo)] == 0) ++lo;
    while (hi > 0 && h[c][size_t(hi)] == 0) --hi;
    for (int v = 0; v < 256; ++v) {
      if (hi <= lo) {
        lut[c][size_t(v)] = uint8_t(v);
        continue;
      }
      const double scale = 255.0 / double(hi - lo), offset = -double(lo) * scale;
      const int x = int(double(v) * scale + offset);  // Python's int(): toward zero
      lut[c][size_t(v)] = uint8_t(std::clamp(x, 0, 255));
    }
  }
  apply_luts(im, lut);
}

void equalize(Image& im) {
  const auto h = histograms(im);
  std::vector<std::array<uint8_t, 256>> lut(h.size());
  for (size_t c = 0; c < h.size(); ++c) {
    int64_t total = 0, last = 0, used = 0;
    for (int v = 0; v < 256; ++v)
      if (h[c][size_t(v)]) total += h[c][size_t(v)], last = h[c][size_t(v)], ++used;
    const int64_t step = used <= 1 ? 0 : (total - last) / 255;
    int64_t n = step / 2;
    for (int v = 0; v < 256; ++v) {
      if (step == 0) {
        lut[c][size_t(v)] = uint8_t(v);
        continue;
      }
      lut[c][size_t(v)] = uint8_t(std::min<int64_t>(n / step, 255));
      n += h[c][size_t(v)];
    }
  }
  apply_luts(im, lut);
}

void invert(Image& im) {
  for (auto& v : im.pixels) v = uint8_t(255 - v);
}

void posterize(Image& im, int bits) {
  if (bits < 0 || bits > 8) fail("posterize: bits must be in [0, 8], got ", bits);
  const int mask = ~((1 << (8 - bits)) - 1);
  std::array<uint8_t, 256> lut;
  for (int v = 0; v < 256; ++v) lut[size_t(v)] = uint8_t(v & mask);
  apply_lut(im, lut);
}

void solarize(Image& im, int threshold) {
  std::array<uint8_t, 256> lut;
  for (int v = 0; v < 256; ++v) lut[size_t(v)] = uint8_t(v < threshold ? v : 255 - v);
  apply_lut(im, lut);
}

void solarize_add(Image& im, int add, int threshold) {
  std::array<uint8_t, 256> lut;
  for (int v = 0; v < 256; ++v) lut[size_t(v)] = uint8_t(v < threshold ? std::min(255, v + add) : v);
  apply_lut(im, lut);
}

void blend(Image& a, const Image& b, double alpha_d) {
  if (a.width != b.width || a.height != b.height || a.channels != b.channels) fail("blend: images differ in size");
  const float alpha = float(alpha_d);  // ImagingBlend takes a C float
  const bool inside = alpha >= 0 && alpha <= 1.0f;
  for (size_t i = 0; i < a.pixels.size(); ++i) {
    const int p = a.pixels[i], q = b.pixels[i];
    const float t = float(p) + alpha * float(q - p);
    a.pixels[i] = inside ? uint8_t(t) : t <= 0.0f ? 0 : t >= 255.0f ? 255 : uint8_t(t);
  }
}

// ImageEnhance: blend(degenerate, image, factor)
namespace {
void enhance(Image& im, Image degenerate, double factor) {
  blend(degenerate, im, factor);
  im = std::move(degenerate);
}
}  // namespace

void enhance_color(Image& im, double factor) { enhance(im, grey_of(im), factor); }

void enhance_contrast(Image& im, double factor) {
  // the mean of the L image, rounded: int(mean + 0.5)
  const Image g = grey_of(im);
  double sum = 0;
  const int64_t n = im.width * im.height;
  for (int64_t i = 0; i < n; ++i) sum += g.pixels[size_t(i * im.channels)];
  const int mean = int(sum / double(n) + 0.5);
  Image d = im;
  std::fill(d.pixels.begin(), d.pixels.end(), uint8_t(mean));
  enhance(im, std::move(d), factor);
}

void enhance_brightness(Image& im, double factor) {
  Image d = im;
  std::fill(d.pixels.begin(), d.pixels.end(), uint8_t(0));
  enhance(im, std::move(d), factor);
}

// degenerate = im.filter(SMOOTH): 3x3 kernel [1 1 1; 1 5 1; 1 1 1] / 13 in float32, borders copied unchanged. PIL
// sums from 0.5 the three kernel rows bottom (y + 1) to top, each row left to right, then truncates.
void enhance_sharpness(Image& im, double factor) {
  Image d = im;
  const int64_t W = im.width, H = im.height, C = im.channels;
  if (W >= 3 && H >= 3) {
    const float k1 = 1 / 13.f, k5 = 5 / 13.f;
    for (int64_t y = 1; y < H - 1; ++y)
      for (int64_t x = 1; x < W - 1; ++x)
        for (int64_t c = 0; c < C; ++c) {
          auto px = [&](int64_t yy, int64_t xx) { return float(im.row(yy)[xx * C + c]); };
          float ss = 0.5f;
          ss += px(y + 1, x - 1) * k1 + px(y + 1, x) * k1 + px(y + 1, x + 1) * k1;
          ss += px(y, x - 1) * k1 + px(y, x) * k5 + px(y, x + 1) * k1;
          ss += px(y - 1, x - 1) * k1 + px(y - 1, x) * k1 + px(y - 1, x + 1) * k1;
          d.row(y)[x * C + c] = ss <= 0 ? 0 : ss >= 255 ? 255 : uint8_t(ss);
        }
  }
  enhance(im, std::move(d), factor);
}

// ---- affine -----------------------------------------------------------------------------------------------------

namespace {

inline int64_t clampi(int64_t v, int64_t n) { return v < 0 ? 0 : v >= n ? n - 1 : v; }

// PIL's bilinear sampler at (xin, yin) in pixel-centre coordinates (already shifted by -0.5)
bool sample_bilinear(const Image& im, double xin, double yin, uint8_t* out) {
  if (xin < 0.0 || xin >= double(im.width) || yin < 0.0 || yin >= double(im.height)) return false;
  xin -= 0.5, yin -= 0.5;
  const int64_t x = int64_t(std::floor(xin)), y = int64_t(std::floor(yin));
  const double dx = xin - double(x), dy = yin - double(y);
  const int64_t C = im.channels, x0 = clampi(x, im.width) * C, x1 = clampi(x + 1, im.width) * C;
  for (int64_t c = 0; c < C; ++c) {
    const uint8_t* r0 = im.row(clampi(y, im.height)) + c;
    double v1 = r0[x0] + (double(r0[x1]) - r0[x0]) * dx, v2 = v1;
    if (y + 1 >= 0 && y + 1 < im.height) {
      const uint8_t* r1 = im.row(y + 1) + c;
      v2 = r1[x0] + (double(r1[x1]) - r1[x0]) * dx;
    }
    out[c] = uint8_t(v1 + (v2 - v1) * dy);  // truncated: PIL's affine bilinear does not round
  }
  return true;
}

// PIL's affine bicubic: Keys' cubic with a = -1 (resize uses a = -0.5)
inline double cubic(double v1, double v2, double v3, double v4, double d) {
  const double p1 = v2, p2 = -v1 + v3, p3 = 2 * (v1 - v2) + v3 - v4, p4 = -v1 + v2 - v3 + v4;
  return p1 + d * (p2 + d * (p3 + d * p4));
}

bool sample_bicubic(const Image& im, double xin, double yin, uint8_t* out) {
  if (xin < 0.0 || xin >= double(im.width) || yin < 0.0 || yin >= double(im.height)) return false;
  xin -= 0.5, yin -= 0.5;
  const int64_t x = int64_t(std::floor(xin)), y = int64_t(std::floor(yin));
  const double dx = xin - double(x), dy = yin - double(y);
  const int64_t C = im.channels;
  int64_t xs[4];
  for (int i = 0; i < 4; ++i) xs[i] = clampi(x - 1 + i, im.width) * C;
  for (int64_t c = 0; c < C; ++c) {
    double rows[4];
    for (int j = 0; j < 4; ++j) {
      const int64_t yy = y - 1 + j;
      if (j > 0 && (yy < 0 || yy >= im.height)) {
        rows[j] = rows[j - 1];
        continue;
      }
      const uint8_t* r = im.row(clampi(yy, im.height)) + c;
      rows[j] = cubic(r[xs[0]], r[xs[1]], r[xs[2]], r[xs[3]], dx);
    }
    const double v = cubic(rows[0], rows[1], rows[2], rows[3], dy);
    out[c] = v <= 0 ? 0 : v >= 255 ? 255 : uint8_t(v);  // clipped, then truncated
  }
  return true;
}

}  // namespace

Image affine(const Image& im, const double m[6], Interp interp, const Fill& fill) {
  Image out = Image::blank(im.width, im.height, im.channels);
  const int64_t C = im.channels;
  for (int64_t y = 0; y < im.height; ++y)
    for (int64_t x = 0; x < im.width; ++x) {
      const double xi = double(x) + 0.5, yi = double(y) + 0.5;
      const double xin = m[0] * xi + m[1] * yi + m[2], yin = m[3] * xi + m[4] * yi + m[5];
      uint8_t* o = out.row(y) + x * C;
      bool inside;
      if (interp == Interp::Nearest) {
        const int64_t sx = xin < 0 ? -1 : int64_t(xin), sy = yin < 0 ? -1 : int64_t(yin);
        inside = sx >= 0 && sx < im.width && sy >= 0 && sy < im.height;
        if (inside) std::copy(im.row(sy) + sx * C, im.row(sy) + sx * C + C, o);
      } else if (interp == Interp::Bilinear) {
        inside = sample_bilinear(im, xin, yin, o);
      } else if (interp == Interp::Bicubic) {
        inside = sample_bicubic(im, xin, yin, o);
      } else {
        fail("affine: interpolation '", interpolation_name(interp), "' is not supported (nearest, bilinear, bicubic)");
      }
      if (!inside)
        for (int64_t c = 0; c < C; ++c) o[c] = C == 1 ? fill[0] : fill[size_t(c)];
    }
  return out;
}

Image rotate(const Image& im, double degrees, Interp interp, const Fill& fill) {
  degrees = std::fmod(degrees, 360.0);
  if (degrees < 0) degrees += 360.0;  // Python's % takes the divisor's sign
  if (degrees == 0) return im;
  const double w = double(im.width), h = double(im.height);
  if (degrees == 180) {
    Image out = im;
    flip_horizontal(out);
    flip_vertical(out);
    return out;
  }
  const double a = -degrees * M_PI / 180.0;
  auto r15 = [](double v) {  // Python's round(v, 15): correctly rounded to 15 decimals
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.15f", v);
    return std::strtod(buf, nullptr);
  };
  double m[6] = {r15(std::cos(a)), r15(std::sin(a)), 0.0, r15(-std::sin(a)), r15(std::cos(a)), 0.0};
  const double cx = w / 2.0, cy = h / 2.0;
  m[2] = m[0] * -cx + m[1] * -cy + cx;
  m[5] = m[3] * -cx + m[4] * -cy + cy;
  return affine(im, m, interp, fill);
}

}  // namespace tapevit
