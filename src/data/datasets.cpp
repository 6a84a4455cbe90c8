// src/data/datasets.cpp: the data set table (one row a kind: reader, default directory, normalisation, class names,
// augmentation defaults), and what every kind shares: class subsets, held-out splits.
#include <cmath>

#include "tapevit/data/dataset.h"
#include "tapevit/error.h"
#include "tapevit/rng.h"

#include <algorithm>

namespace tapevit {

// The readers, one file each.
Dataset load_idx(const std::string& kind, const std::string& dir, bool train);  // idx.cpp
Dataset load_cifar10(const std::string& dir, bool train);                      // cifar.cpp

const std::vector<DataSetKind>& data_set_kinds() {
  static const std::vector<DataSetKind> table = {
      // name, reader, packaged default directory, train-split mean/std of pixel/255 (the values timm / torchvision
      // recipes use), class names, default random shifts (crop_pad: the default run's 2 pixels on fashion-mnist),
      // mirror-symmetric (false: no horizontal flips by default)
      {"fashion-mnist", [](const std::string& d, bool t) { return load_idx("fashion-mnist", d, t); },
       "/usr/share/datasets/fashion-mnist",  // Debian: dataset-fashion-mnist
       {0.2860}, {0.3530},
       {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"}, 2, true},
      {"mnist", [](const std::string& d, bool t) { return load_idx("mnist", d, t); }, "/usr/share/datasets/mnist",
       {0.1307}, {0.3081}, {}, 0, false},  // digits are not mirror-symmetric
      {"cifar10", load_cifar10, "", {0.4914, 0.4822, 0.4465}, {0.2470, 0.2435, 0.2616},
       {"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"}, 0, true},
      // timm's ImageFolder (load_folder): timm's IMAGENET_DEFAULT_MEAN / STD, for images of any origin
      {"folder", nullptr, "", {0.485, 0.456, 0.406}, {0.229, 0.224, 0.225}, {}, 0, true},
  };
  return table;
}

std::string data_set_names() {
  std::string s;
  for (const auto& k : data_set_kinds()) s += (s.empty() ? "" : ", ") + k.name;
  return s;
}

const DataSetKind& data_set_kind(const std::string& name) {
  for (const auto& k : data_set_kinds())
    if (k.name == name) return k;
  fail("unknown data set '", name, "': expected one of ", data_set_names());
}

Dataset load_dataset(const std::string& kind, const std::string& dir, bool train) {
  const DataSetKind& k = data_set_kind(kind);
  if (!k.read) fail("dataset '", kind, "' is read by load_folder (it needs the split and class options)");
  // "" = the packaged default, if the kind has one
  const std::string where = dir.empty() ? k.default_dir : dir;
  if (where.empty()) fail(kind, ": no data directory given, and ", kind, " has no packaged default");
  Dataset d = k.read(where, train);
  d.class_names = k.class_names;
  return d;
}

void select_classes(Dataset& d, const std::vector<int64_t>& classes, int64_t per_class) {
  if (classes.empty() && per_class <= 0) return;
  std::vector<int64_t> new_label(size_t(d.num_classes), -1);
  if (classes.empty())
    for (int64_t c = 0; c < d.num_classes; ++c) new_label[size_t(c)] = c;
  for (size_t i = 0; i < classes.size(); ++i) {
    const int64_t c = classes[i];
    if (c < 0 || c >= d.num_classes) fail("key 'classes': class ", c, " is outside [0, ", d.num_classes, ") of '", d.name, "'");
    if (new_label[size_t(c)] >= 0) fail("key 'classes': class ", c, " is listed twice");
    new_label[size_t(c)] = int64_t(i);
  }
  const int64_t K = classes.empty() ? d.num_classes : int64_t(classes.size());
  std::vector<int64_t> taken(size_t(K), 0), keep;
  for (int64_t i = 0; i < d.n; ++i) {
    const int64_t y = new_label[size_t(d.labels[size_t(i)])];
    if (y < 0 || (per_class > 0 && taken[size_t(y)] >= per_class)) continue;
    ++taken[size_t(y)];
    d.labels[size_t(i)] = int32_t(y);
    keep.push_back(i);
  }
  keep_samples(d, keep);
  if (!classes.empty() && !d.class_names.empty()) {
    std::vector<std::string> names;
    for (int64_t c : classes) names.push_back(d.class_names[size_t(c)]);
    d.class_names = names;
  }
  d.num_classes = K;
}

void keep_samples(Dataset& d, const std::vector<int64_t>& idx) {
  const int64_t pix = d.channels * d.height * d.width;
  const bool in_memory = !d.is_folder(), cached = !d.decoded.empty();
  Dataset out;  // built beside d, then moved in: idx may be in any order
  out.labels.reserve(idx.size());
  if (in_memory) out.images.reserve(idx.size() * size_t(pix));
  for (int64_t i : idx) {
    out.labels.push_back(d.labels[size_t(i)]);
    if (in_memory) out.images.insert(out.images.end(), d.images.begin() + i * pix, d.images.begin() + (i + 1) * pix);
    else out.files.push_back(d.files[size_t(i)]);
    if (cached) out.decoded.push_back(d.decoded[size_t(i)]);
  }
  d.labels = std::move(out.labels);
  d.images = std::move(out.images);
  d.files = std::move(out.files);
  d.decoded = std::move(out.decoded);
  d.n = int64_t(idx.size());
}

Dataset hold_out(Dataset& d, double fraction, uint64_t seed) {
  if (!(fraction > 0 && fraction < 1)) fail("key 'val_fraction' must be in (0, 1), got ", fraction);
  // Per class: a seeded shuffle of its samples; the first round(fraction * n_c) of it are held out.
  std::vector<std::vector<int64_t>> by_class(size_t(d.num_classes));
  for (int64_t i = 0; i < d.n; ++i) by_class[size_t(d.labels[size_t(i)])].push_back(i);
  std::vector<char> out(size_t(d.n), 0);
  const uint64_t key = splitmix64(seed ^ hash_name("tapevit.data.hold_out"));
  for (size_t c = 0; c < by_class.size(); ++c) {
    auto& idx = by_class[c];
    const uint64_t kc = splitmix64(key ^ uint64_t(c));
    for (size_t i = idx.size(); i > 1; --i)  // Fisher-Yates, counter-based
      std::swap(idx[i - 1], idx[std::min(i - 1, size_t(Rng::uniform(kc, uint64_t(i)) * double(i)))]);
    const size_t k = size_t(std::llround(fraction * double(idx.size())));
    for (size_t i = 0; i < k; ++i) out[size_t(idx[i])] = 1;
  }
  std::vector<int64_t> held_idx, kept_idx;
  for (int64_t i = 0; i < d.n; ++i) (out[size_t(i)] ? held_idx : kept_idx).push_back(i);  // both keep file order
  if (held_idx.empty()) fail("key 'val_fraction' = ", fraction, " holds out no image of '", d.name, "' (", d.n, " images)");
  Dataset held = d;
  keep_samples(held, held_idx);
  keep_samples(d, kept_idx);
  return held;
}

}  // namespace tapevit
