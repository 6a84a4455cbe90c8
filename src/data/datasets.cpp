// src/data/datasets.cpp: the data set registry: which reader, which default directory and which
// normalisation statistics belong to each kind ("fashion-mnist", "mnist", "cifar10").
#include "tapevit/data.h"
#include "tapevit/error.h"

namespace tapevit {

// The readers, one file each.
Dataset load_idx(const std::string& kind, const std::string& dir, bool train);  // idx.cpp
Dataset load_cifar10(const std::string& dir, bool train);                      // cifar.cpp

namespace {
constexpr const char* kKinds = "fashion-mnist, mnist, cifar10";

[[noreturn]] void unknown_kind(const std::string& kind) {
  fail("unknown data set '", kind, "': expected one of ", kKinds);
}
}  // namespace

Dataset load_dataset(const std::string& kind, const std::string& dir, bool train) {
  if (kind != "fashion-mnist" && kind != "mnist" && kind != "cifar10") unknown_kind(kind);
  // "" = the packaged default, if the kind has one
  const std::string where = dir.empty() ? default_data_dir(kind) : dir;
  if (where.empty()) fail(kind, ": no data directory given, and ", kind, " has no packaged default");
  return kind == "cifar10" ? load_cifar10(where, train) : load_idx(kind, where, train);
}

std::string default_data_dir(const std::string& kind) {
  if (kind == "fashion-mnist") return "/usr/share/datasets/fashion-mnist";  // Debian: dataset-fashion-mnist
  if (kind == "mnist") return "/usr/share/datasets/mnist";
  if (kind == "cifar10") return "";
  unknown_kind(kind);
}

// Train-split statistics of pixel/255, the values timm / torchvision recipes use.
void default_mean_std(const std::string& kind, std::vector<double>& mean, std::vector<double>& std) {
  if (kind == "fashion-mnist") {
    mean = {0.2860};
    std = {0.3530};
  } else if (kind == "mnist") {
    mean = {0.1307};
    std = {0.3081};
  } else if (kind == "cifar10") {
    mean = {0.4914, 0.4822, 0.4465};
    std = {0.2470, 0.2435, 0.2616};
  } else {
    unknown_kind(kind);
  }
}

}  // namespace tapevit
