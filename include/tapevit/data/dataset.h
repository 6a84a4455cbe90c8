// tapevit/data/dataset.h: image classification data sets held in memory as uint8 (see loader.h for the
// batches a training step reads).
//
// Formats: Fashion-MNIST / MNIST in IDX (`train-images-idx3-ubyte[.gz]`, `train-labels-idx1-ubyte[.gz]`,
// `t10k-*`), CIFAR-10 binary (`data_batch_1..5.bin`, `test_batch.bin`, in data_dir or data_dir/cifar-10-batches-bin),
// and folders of JPEG/PNG images as timm's ImageFolder (see load_folder): those are decoded when a batch needs them
// (or once, into `decoded`, with cache = true).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tapevit/data/image.h"

namespace tapevit {

struct Dataset {
  std::string name;                 // "fashion-mnist", "mnist", "cifar10", "folder"
  int64_t n = 0, channels = 0, height = 0, width = 0, num_classes = 0;  // folder: height, width = img_size
  std::vector<uint8_t> images;      // (n, channels, height, width); empty for a folder
  std::vector<int32_t> labels;      // (n)
  // Folders only: sample i is the image file files[i] (decoded to `channels`, then transformed to height x width).
  std::vector<std::string> files;
  std::vector<std::string> class_names;  // (num_classes), in label order
  std::string dir;                       // the split's folder
  int64_t skipped = 0;                   // files in the class folders that are not .jpg/.jpeg/.png
  int64_t beside = 0;                    // files beside the class folders (images too): they belong to no class
  std::vector<Image> decoded;            // cache = true: files[i] decoded once (decode_all)
  bool is_folder() const { return name == "folder"; }
};

// timm's ImageFolder under root: root/<split>/<class>/**/<image>. The train split is `train_split`; the eval split
// is `val_split`, or when that is empty the first of validation, val, test that exists. Classes are the split's
// sub-folders in timm's natural order (case-insensitive, digit runs compared as numbers), or the lines of
// `class_map` (label = line number, as timm's load_class_map), or a model's own class names (`labels`, below).
// Images are .jpg/.jpeg/.png (any case), searched recursively in each class folder and listed in natural order of
// their paths; other files are counted in `skipped`, files beside the class folders in `beside`. Throws naming the
// folder for: no split folder, a split with no class folder, a class folder with no image, classes that differ from
// the other split's (or from class_map or labels: one error naming the classes without a folder and the folders
// that are not a class).
//
// The label contract: the class names a model was trained on, in label order (a checkpoint's class_names). A
// model's output k means class_names[k], so a folder evaluated or trained on with that model is matched to them by
// name, whatever its sorted order; class_map is then not read, and each split is checked against the names (not
// against the other split).
struct ClassNames {
  std::vector<std::string> names;  // empty: no contract (the folders' order, or class_map)
  std::string from;                // whose they are, for errors: "runs/r2/best.h5"
  bool allow_missing = false;      // a folder may hold some of the classes only (eval --class_subset)
  bool allow_extra = false;        // folders that are not a class are left out (a run on some classes: key 'classes')
  std::string advice;              // the caller's way out, appended to the error
  std::string subset_advice;       // appended instead when the folders are some of the classes, no other
};
struct FolderOptions {
  std::string train_split = "train", val_split;
  std::string class_map;
  ClassNames labels;
  int64_t channels = 3, img_size = 224;
  bool suggest_val_fraction = true;  // a missing eval split's error suggests val_fraction (a new run can set it)
};
Dataset load_folder(const std::string& root, const FolderOptions& opts, bool train);
// The split folder load_folder reads ("" when the eval split is searched for and none exists).
std::string folder_split_dir(const std::string& root, const FolderOptions& opts, bool train);
// The class folders of a split folder, in natural order.
std::vector<std::string> folder_class_names(const std::string& split);
// Passes over every file of folder data sets on all OpenMP threads (src/data/folder_check.cpp). progress(done,
// total), when given, is called from one thread about every 0.1 s and once at the end. A failure is one Error
// listing every file that failed, each with its cause, in file order.
using FileProgress = std::function<void(int64_t done, int64_t total)>;
// Decode every file of a folder data set into d.decoded.
void decode_all(Dataset& d, const FileProgress& progress = {});
// Check every file before a run uses it: the header as decoding reads it (read_image_header: format, size, PIL's
// limit), and a file that does not end as a whole image of its format does (a truncated one) decoded in full. So
// unreadable, non-image, empty and truncated files are found when the data is loaded, not an epoch later; what
// only decoding every pixel finds (damage inside a complete file) is not.
void check_images(const std::vector<const Dataset*>& sets, const FileProgress& progress = {});
// The first file in colour among `samples` files spread over a folder data set (decoded as RGB: 1% of its pixels or
// more with channels over 16 levels apart), or "" when those are grey (files that do not decode are passed over).
// For saying that a 1-channel model turns colour photos grey.
std::string first_colour_file(const Dataset& d, int64_t samples);
// The file names an image folder takes: .jpg, .jpeg, .png in any case (timm's IMG_EXTENSIONS).
bool is_image_name(const std::string& path);
// timm's natural_key order: lower-cased, runs of digits compared as numbers.
bool natural_less(const std::string& a, const std::string& b);
// Keep only samples idx (in that order) of d: images or files, labels and any decoded images.
void keep_samples(Dataset& d, const std::vector<int64_t>& idx);

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

// One row per data set kind, the one place each fact about it lives.
struct DataSetKind {
  std::string name;                                            // the `dataset` key's value
  Dataset (*read)(const std::string& dir, bool train);         // in-memory readers; nullptr: a folder (load_folder)
  std::string default_dir;                                     // "" = no packaged default (data_dir must be given)
  std::vector<double> mean, std;                               // default normalisation (train-split statistics)
  std::vector<std::string> class_names;                        // of the labels, when the kind knows them
  int64_t crop_pad;                                            // default random shift in pixels (crop_pad)
  bool mirror_symmetric;                                       // false: no horizontal flips unless hflip is given
};
const std::vector<DataSetKind>& data_set_kinds();
// The row of `name`; throws naming the kinds there are.
const DataSetKind& data_set_kind(const std::string& name);
std::string data_set_names();  // "fashion-mnist, mnist, cifar10, folder"

}  // namespace tapevit
