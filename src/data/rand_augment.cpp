// src/data/rand_augment.cpp: timm's RandAugment and torchvision's ColorJitter; see tapevit/data/rand_augment.h.
// The ops and their level -> argument rules follow timm/data/auto_augment.py (_RAND_TRANSFORMS,
// _RAND_INCREASING_TRANSFORMS, LEVEL_TO_ARG, NAME_TO_OP), with magnitudes on timm's 0..10 scale.
#include "tapevit/data/rand_augment.h"

#include <cmath>
#include <cstdlib>
#include <limits>

#include "tapevit/error.h"

namespace tapevit {

namespace {

constexpr double kLevelDenom = 10.0;

const std::vector<std::string> kRand = {"AutoContrast", "Equalize", "Invert", "Rotate", "Posterize",
                                        "Solarize", "SolarizeAdd", "Color", "Contrast", "Brightness",
                                        "Sharpness", "ShearX", "ShearY", "TranslateXRel", "TranslateYRel"};
const std::vector<std::string> kRandIncreasing = {
    "AutoContrast", "Equalize", "Invert", "Rotate", "PosterizeIncreasing", "SolarizeIncreasing", "SolarizeAdd",
    "ColorIncreasing", "ContrastIncreasing", "BrightnessIncreasing", "SharpnessIncreasing", "ShearX", "ShearY",
    "TranslateXRel", "TranslateYRel"};

// timm's _randomly_negate: -v if random() > 0.5
double randomly_negate(double v, Draws& d) { return d.uniform() > 0.5 ? -v : v; }

double parse_number(const std::string& spec, const std::string& part, const std::string& val) {
  char* end = nullptr;
  const double v = std::strtod(val.c_str(), &end);
  if (val.empty() || *end != '\0' || !std::isfinite(v))
    fail("key 'aa' = '", spec, "': '", part, "' needs a number after its name");
  return v;
}

}  // namespace

RandAugment::RandAugment(const std::string& spec, int64_t img_size, const std::vector<double>& mean, Interp interp)
    : interp_(interp) {
  const std::string usage =
      " (timm's RandAugment strings: rand-m<magnitude>[-n<ops>][-mstd<std>][-mmax<max>][-p<prob>][-inc<0|1>], "
      "e.g. rand-m9-mstd0.5-inc1)";
  std::vector<std::string> parts;
  for (size_t a = 0;;) {
    const size_t b = spec.find('-', a);
    parts.push_back(spec.substr(a, b == std::string::npos ? std::string::npos : b - a));
    if (b == std::string::npos) break;
    a = b + 1;
  }
  if (parts[0] != "rand")
    fail("key 'aa' = '", spec, "': only RandAugment is supported, the string must start with 'rand'", usage);
  bool increasing = false;
  for (size_t i = 1; i < parts.size(); ++i) {
    const std::string& part = parts[i];
    const size_t digit = part.find_first_of("0123456789");
    const std::string key = part.substr(0, digit), val = digit == std::string::npos ? "" : part.substr(digit);
    if (key == "m") magnitude_ = parse_number(spec, part, val);
    else if (key == "n") num_layers_ = int(parse_number(spec, part, val));
    else if (key == "mstd") {
      magnitude_std_ = parse_number(spec, part, val);
      if (magnitude_std_ > 100) magnitude_std_ = std::numeric_limits<double>::infinity();
    } else if (key == "mmax") {
      magnitude_max_ = parse_number(spec, part, val);
      if (magnitude_max_ == 0) magnitude_max_ = kLevelDenom;  // timm: magnitude_max or 10
    }
    else if (key == "p") prob_ = parse_number(spec, part, val);
    else if (key == "inc") increasing = (parse_number(spec, part, val), true);  // timm tests bool('0'): inc0 too
    else fail("key 'aa' = '", spec, "': section '", part, "' is not understood", usage);
  }
  if (num_layers_ < 0 || num_layers_ > 100) fail("key 'aa' = '", spec, "': n must be in [0, 100]");
  if (!(prob_ >= 0 && prob_ <= 1)) fail("key 'aa' = '", spec, "': p must be in [0, 1]");
  if (magnitude_ < 0) fail("key 'aa' = '", spec, "': m must be >= 0");
  ops_ = increasing ? kRandIncreasing : kRand;
  translate_const_ = double(int64_t(double(img_size) * 0.45));
  for (size_t c = 0; c < 3; ++c) {  // timm: img_mean = min(255, round(255 * mean))
    const double m = mean.empty() ? 0.5 : mean[std::min(c, mean.size() - 1)];
    fill_[c] = uint8_t(std::min(255.0, std::max(0.0, std::nearbyint(255.0 * m))));
  }
}

void RandAugment::apply(Image& im, Draws& d) const {
  for (int l = 0; l < num_layers_; ++l) {
    const std::string& op = ops_[size_t(d.randint(0, int64_t(ops_.size()) - 1))];  // with replacement
    if (prob_ < 1.0 && d.uniform() > prob_) continue;
    double m = magnitude_;
    if (magnitude_std_ > 0) m = std::isinf(magnitude_std_) ? d.uniform(0, m) : m + magnitude_std_ * d.normal();
    m = std::max(0.0, std::min(m, magnitude_max_));
    apply_op(op, m, im, d);
  }
}

void RandAugment::apply_op(const std::string& op, double m, Image& im, Draws& d) const {
  const double level = m / kLevelDenom;
  auto resample = [&] { return interp_ != Interp::Random ? interp_ : d.chance(0.5) ? Interp::Bilinear : Interp::Bicubic; };
  auto transform = [&](double a0, double a1, double a2, double a3, double a4, double a5) {
    const double mat[6] = {a0, a1, a2, a3, a4, a5};
    im = affine(im, mat, resample(), fill_);
  };
  auto enhance_factor = [&](bool increasing) {
    return increasing ? std::max(0.1, 1.0 + randomly_negate(level * 0.9, d)) : level * 1.8 + 0.1;
  };
  const bool inc = op.size() > 10 && op.compare(op.size() - 10, 10, "Increasing") == 0;
  const std::string base = inc ? op.substr(0, op.size() - 10) : op;
  if (base == "AutoContrast") autocontrast(im);
  else if (base == "Equalize") equalize(im);
  else if (base == "Invert") invert(im);
  else if (base == "Rotate") {
    const double deg = randomly_negate(level * 30.0, d);
    im = rotate(im, deg, resample(), fill_);
  } else if (base == "Posterize") {
    const int bits = int(level * 4);
    const int keep = inc ? 4 - bits : bits;
    if (keep < 8) posterize(im, keep);
  } else if (base == "Solarize") {
    const int t = std::min(256, int(level * 256));
    solarize(im, inc ? 256 - t : t);
  } else if (base == "SolarizeAdd") {
    solarize_add(im, std::min(128, int(level * 110)), 128);
  } else if (base == "Color") enhance_color(im, enhance_factor(inc));
  else if (base == "Contrast") enhance_contrast(im, enhance_factor(inc));
  else if (base == "Brightness") enhance_brightness(im, enhance_factor(inc));
  else if (base == "Sharpness") enhance_sharpness(im, enhance_factor(inc));
  else if (base == "ShearX") transform(1, randomly_negate(level * 0.3, d), 0, 0, 1, 0);
  else if (base == "ShearY") transform(1, 0, 0, randomly_negate(level * 0.3, d), 1, 0);
  else if (base == "TranslateXRel") transform(1, 0, randomly_negate(level * translate_pct_, d) * double(im.width), 0, 1, 0);
  else if (base == "TranslateYRel") transform(1, 0, 0, 0, 1, randomly_negate(level * translate_pct_, d) * double(im.height));
  else if (base == "TranslateX") transform(1, 0, randomly_negate(level * translate_const_, d), 0, 1, 0);
  else if (base == "TranslateY") transform(1, 0, 0, 0, 1, randomly_negate(level * translate_const_, d));
  else fail("RandAugment: unknown op '", op, "'");
}

void color_jitter(Image& im, double v, Draws& d) {
  if (!(v > 0)) return;
  int order[3] = {0, 1, 2};  // brightness, contrast, saturation in a random order (torch.randperm)
  for (int i = 2; i > 0; --i) std::swap(order[i], order[d.randint(0, i)]);
  const double lo = std::max(0.0, 1.0 - v), hi = 1.0 + v;
  const double f[3] = {d.uniform(lo, hi), d.uniform(lo, hi), d.uniform(lo, hi)};
  for (int k : order) {
    if (k == 0) enhance_brightness(im, f[0]);
    else if (k == 1) enhance_contrast(im, f[1]);
    else enhance_color(im, f[2]);
  }
}

}  // namespace tapevit
