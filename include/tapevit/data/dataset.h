// tapevit/data/dataset.h: image classification data sets held in memory as uint8 (see loader.h for the
// batches a training step reads).
//
// Formats: Fashion-MNIST / MNIST in IDX (`train-images-idx3-ubyte[.gz]`, `train-labels-idx1-ubyte[.gz]`,
// `t10k-*`), CIFAR-10 binary (`data_batch_1..5.bin`, `test_batch.bin`, in data_dir or data_dir/cifar-10-batches-bin).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace tapevit {

struct Dataset {
  std::string name;                 // "fashion-mnist", "mnist", "cifar10"
  int64_t n = 0, channels = 0, height = 0, width = 0, num_classes = 0;
  std::vector<uint8_t> images;      // (n, channels, height, width)
  std::vector<int32_t> labels;      // (n)
};

// kind: "fashion-mnist" | "mnist" | "cifar10". Missing, truncated or malformed files throw an Error naming the
// file and what was expected.
Dataset load_dataset(const std::string& kind, const std::string& dir, bool train);
// Keep only the samples whose label is in `classes` (relabelled 0..classes.size()-1 in the order given; empty =
// every class) and, when per_class > 0, only the first per_class samples of each kept class in file order. For
// transfer-learning experiments on part of a data set. Throws naming a class that is out of range or repeated.
void select_classes(Dataset& d, const std::vector<int64_t>& classes, int64_t per_class);

// Moves a seeded, per-class fraction of d's samples into the returned data set (a validation split held out of
// train, so that choosing the best epoch does not look at the test split); both keep file order. Throws naming
// val_fraction when it is outside (0, 1) or holds out nothing.
Dataset hold_out(Dataset& d, double fraction, uint64_t seed);

// The default directory for a kind ("/usr/share/datasets/fashion-mnist" for fashion-mnist, Debian's
// dataset-fashion-mnist package; "" where there is no packaged default).
std::string default_data_dir(const std::string& kind);
// Default per-channel normalisation for a kind (train-split statistics).
void default_mean_std(const std::string& kind, std::vector<double>& mean, std::vector<double>& std);

}  // namespace tapevit
