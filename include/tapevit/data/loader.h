// tapevit/data/loader.h: the batch loader that turns a Dataset into normalised, augmented float batches with
// soft targets (timm's crop/flip, mixup/cutmix and label smoothing).
//
// Every batch is a pure function of (seed, epoch, step): shuffling, crops, flips and mixup/cutmix draws are
// counter-based, so an interrupted run resumes on exactly the batches it would have seen.
//
// Folder data sets take timm's image transforms instead (tapevit/data/transforms.h): decode, then the train
// chain (RandomResizedCrop, flips, RandAugment / colour jitter, normalise, random erasing) or the eval chain
// (resize, center crop, normalise). Prefetcher makes batches ahead of the training step on worker threads.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "tapevit/data/dataset.h"
#include "tapevit/data/rand_augment.h"
#include "tapevit/data/transforms.h"

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
  ImageTransformConfig image;     // folder data sets: timm's transform keys (crop_padding does not apply)
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
  // parallel = false: on the calling thread only (a Prefetcher's workers).
  // With a shard set, only rows [first, first + count) of each batch (see set_shard).
  int64_t batch(int64_t epoch, int64_t step, float* images, int32_t* labels, float* targets, bool parallel = true) const;
  const Dataset& data() const { return data_; }
  // Training only: batch() makes rows [first, first + count) of each batch, bitwise as in the whole batch
  // (data-parallel ranks and micro-batches each take their share). Mixup / cutmix partners come from the whole
  // batch (row i mixes with row B-1-i): those rows are made too, in a per-thread scratch batch.
  void set_shard(int64_t first, int64_t count);
  int64_t rows() const { return shard_count_ > 0 ? shard_count_ : batch_; }  // rows a training batch() fills

 private:
  const Dataset& data_;
  int64_t batch_;
  uint64_t seed_;
  AugmentConfig aug_;              // mean/std resolved to one entry per channel
  bool train_;
  int64_t shard_first_ = 0, shard_count_ = 0;  // count 0: whole batches
  std::vector<float> lut_;         // (C, 256): the normalised value of each pixel byte, per channel
  std::shared_ptr<const RandAugment> aa_;  // folders with aug_.image.aa set
  std::shared_ptr<const std::vector<int64_t>> permutation(int64_t epoch) const;  // the shuffle order of an epoch
  // sample src (at position pos of the epoch) as normalised floats (C, H, W)
  void memory_sample(int64_t src, int64_t pos, uint64_t aug_key, float* out) const;
  void folder_sample(int64_t src, int64_t pos, uint64_t aug_key, float* out) const;
  mutable std::mutex perm_mutex_;  // perm_ is shared by a Prefetcher's workers
  mutable std::shared_ptr<const std::vector<int64_t>> perm_;  // the order of epoch perm_epoch_ (a cache)
  mutable int64_t perm_epoch_ = -1;
};

// Makes a loader's batches ahead of their use on `workers` threads, each building whole batches, into `depth`
// slots. Batches are asked for in order from (epoch, step) on: (epoch, step), (epoch, step + 1), ... crossing into
// the next epoch. A batch's content does not depend on which worker made it, so results are those of the loader.
// workers = 0: each batch is made when asked for, on the caller's thread (with OpenMP inside).
// An error in a worker (a corrupt image) is thrown by get() for the batch that met it.
class Prefetcher {
 public:
  struct Batch {
    std::vector<float> images, targets;
    std::vector<int32_t> labels;
    int64_t n = 0;
  };
  Prefetcher(const BatchLoader& loader, int64_t epoch, int64_t step, int workers, int depth = 0);
  ~Prefetcher();
  Prefetcher(const Prefetcher&) = delete;
  Prefetcher& operator=(const Prefetcher&) = delete;
  // The next batch; it stays valid until the next call. Throws if (epoch, step) is not the next in order.
  const Batch& get(int64_t epoch, int64_t step);

 private:
  struct Slot {
    Batch batch;
    int64_t pos = -1;  // the position it holds when ready
    std::exception_ptr error;
  };
  void work();
  void make(int64_t pos, Slot& slot, bool parallel);
  const BatchLoader& loader_;
  int64_t epoch0_, step0_, steps_;
  std::vector<Slot> slots_;
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable cv_;
  // positions count batches from (epoch0_, step0_): the next to hand to a worker, the one the consumer holds
  // (workers may fill positions below consumer_ + slots), the one it asks for next
  int64_t next_make_ = 0, consumer_ = 0, expected_ = 0;
  bool stop_ = false;
};

// The default number of workers: none for in-memory data (its transforms are cheap and run on OpenMP inside the
// step), and one per two cores for folders: the workers share the cores with the step's OpenMP threads, and on
// 2 cores one worker delivers 10x what vit_tiny_patch16_224 consumes at 224 px and costs less than two
// (experiments/2026-11-30_image_folders).
int default_workers(const Dataset& d);

}  // namespace tapevit
