// tapevit/data/rand_augment.h: timm's RandAugment (timm/data/auto_augment.py, rand_augment_transform) and
// torchvision's ColorJitter, on 8-bit images, with the PIL operations of pil_ops.h.
//
// "rand-m9-mstd0.5-inc1": n ops (default 2) drawn with replacement from timm's 15 (the "increasing" set with inc1),
// each applied with probability p (0.5) at magnitude m (0..10), Gaussian-jittered by mstd (> 100: uniform in
// [0, m]) and clipped to [0, mmax] (10). Geometric ops fill with the normalisation mean (in 0..255) and resample
// bilinear or bicubic at random unless train_interpolation names one.
#pragma once
#include <string>
#include <vector>

#include "tapevit/data/pil_ops.h"
#include "tapevit/data/transforms.h"

namespace tapevit {

class RandAugment {
 public:
  // spec: timm's string; img_size sets translate_const (0.45 img_size, used by absolute translations); mean: the
  // normalisation mean (fill colour round(255 mean), one value or one per channel); interp: Random = per op.
  // Throws naming the part of spec it does not understand.
  RandAugment(const std::string& spec, int64_t img_size, const std::vector<double>& mean, Interp interp = Interp::Random);
  void apply(Image& im, Draws& d) const;
  const std::vector<std::string>& ops() const { return ops_; }
  int num_layers() const { return num_layers_; }
  double magnitude() const { return magnitude_; }
  // One op at a fixed magnitude, with the given draws for its sign and resampling (tests compare with PIL).
  void apply_op(const std::string& op, double magnitude, Image& im, Draws& d) const;

 private:
  std::vector<std::string> ops_;
  int num_layers_ = 2;
  double magnitude_ = 10, magnitude_std_ = 0, magnitude_max_ = 10, prob_ = 0.5;
  double translate_const_ = 100, translate_pct_ = 0.45;
  Fill fill_{128, 128, 128};
  Interp interp_ = Interp::Random;
};

// torchvision's ColorJitter(brightness=v, contrast=v, saturation=v) as timm builds it from a single --color-jitter:
// the three factors uniform in [max(0, 1 - v), 1 + v], applied in a random order.
void color_jitter(Image& im, double v, Draws& d);

}  // namespace tapevit
