// tapevit/data/loader.h: the batch loader that turns a Dataset into normalised, augmented float batches with
// soft targets (timm's crop/flip, mixup/cutmix and label smoothing).
//
// Every batch is a pure function of (seed, epoch, step): shuffling, crops, flips and mixup/cutmix draws are
// counter-based, so an interrupted run resumes on exactly the batches it would have seen.
#pragma once
#include <cstdint>
#include <vector>

#include "tapevit/data/dataset.h"

namespace tapevit {

struct AugmentConfig {
  bool augment = true;            // false: no crop / flip / mixup / cutmix (smoothing still applies)
  int64_t crop_padding = 4;       // random crop of the original size from the image zero-padded by this much; 0 = off
  double hflip = 0.5;             // horizontal flip probability (0 for digits)
  double mixup = 0, cutmix = 0;   // Beta(alpha, alpha) parameters; 0 = off (timm's --mixup, --cutmix)
  double mixup_prob = 1.0;        // probability of mixing a batch at all (timm's --mixup-prob)
  double mixup_switch_prob = 0.5; // with both on: probability of cutmix instead of mixup (timm's --mixup-switch-prob)
  double smoothing = 0.1;         // label smoothing folded into the targets as timm's mixup_target
  std::vector<double> mean, std;  // per channel, applied after augmentation: (x/255 - mean) / std
  void validate(int64_t channels) const;  // throws naming the key; channels 0: mean/std counts not checked
};

class BatchLoader {
 public:
  // train: shuffled each epoch, augmented, drops the last incomplete batch (constant batch shape, as timm);
  // eval: in order, no augmentation, every sample (the last batch may be smaller).
  BatchLoader(const Dataset& data, int64_t batch_size, uint64_t seed, const AugmentConfig& aug, bool train);
  int64_t steps_per_epoch() const;
  int64_t batch_size() const { return batch_; }
  // Fills images (B, C, H, W) float normalised, labels (B) and targets (B, K) (smoothing and mixing folded in;
  // labels are the unmixed ones). Returns the number of samples in this batch.
  int64_t batch(int64_t epoch, int64_t step, float* images, int32_t* labels, float* targets) const;

 private:
  const Dataset& data_;
  int64_t batch_;
  uint64_t seed_;
  AugmentConfig aug_;              // mean/std resolved to one entry per channel
  bool train_;
  std::vector<float> lut_;         // (C, 256): the normalised value of each pixel byte, per channel
  mutable std::vector<int64_t> perm_;  // the shuffle order of epoch perm_epoch_ (a cache: one epoch's order)
  mutable int64_t perm_epoch_ = -1;
};

}  // namespace tapevit
