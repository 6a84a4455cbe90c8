// src/data/folder.cpp: image folders as timm's ImageFolder (timm/data/readers/reader_image_folder.py and
// dataset_factory's split search); see load_folder in tapevit/data/dataset.h.
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "tapevit/data/dataset.h"
#include "tapevit/error.h"

namespace tapevit {

namespace fs = std::filesystem;

namespace {

// Python's re.split(r'(\d+)', s.lower()) pieces: text, number, text, number, ... (text pieces may be empty).
std::vector<std::string> natural_pieces(const std::string& s) {
  std::vector<std::string> out(1);
  bool digits = false;
  for (char ch : s) {
    const bool d = std::isdigit(static_cast<unsigned char>(ch)) != 0;
    if (d != digits) out.emplace_back(), digits = d;
    out.back() += char(std::tolower(static_cast<unsigned char>(ch)));
  }
  return out;
}

// numbers compared by value: strip leading zeros, then by length, then digit by digit
int compare_number(const std::string& a, const std::string& b) {
  const size_t za = std::min(a.find_first_not_of('0'), a.size()), zb = std::min(b.find_first_not_of('0'), b.size());
  const size_t la = a.size() - za, lb = b.size() - zb;
  if (la != lb) return la < lb ? -1 : 1;
  const int c = a.compare(za, la, b, zb, lb);
  return c < 0 ? -1 : c > 0;
}

std::vector<std::string> read_class_map(const std::string& file) {
  std::ifstream f(file);
  if (!f) fail("key 'class_map': cannot open '", file, "'");
  std::vector<std::string> names;
  std::set<std::string> seen;
  std::string line;
  for (int64_t n = 1; std::getline(f, line); ++n) {
    const size_t a = line.find_first_not_of(" \t\r"), b = line.find_last_not_of(" \t\r");
    const std::string name = a == std::string::npos ? "" : line.substr(a, b - a + 1);
    if (name.empty()) fail("class_map '", file, "' line ", n, " is empty (one class name per line)");
    if (!seen.insert(name).second) fail("class_map '", file, "' line ", n, ": class '", name, "' is listed twice");
    names.push_back(name);
  }
  if (names.empty()) fail("class_map '", file, "' lists no class");
  return names;
}

}  // namespace

std::vector<std::string> folder_class_names(const std::string& split) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(split, fs::directory_options::follow_directory_symlink))
    if (e.is_directory()) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end(), natural_less);
  return names;
}

namespace {

// "'a', 'b', 'c'", at most 12 of them then "... (N in all)"
std::string quoted_list(const std::vector<std::string>& xs) {
  std::string s;
  for (size_t i = 0; i < xs.size() && i < 12; ++i) s += (i ? ", '" : "'") + xs[i] + "'";
  return xs.size() > 12 ? s + ", ... (" + std::to_string(xs.size()) + " in all)" : s;
}

// The folders of `split` that are classes of `labels` (matched by name); throws naming the classes without a folder
// and the folders that are no class, unless `labels` allows them.
std::vector<std::string> match_class_folders(const std::string& split, const std::vector<std::string>& folders,
                                             const ClassNames& labels) {
  const std::set<std::string> names(labels.names.begin(), labels.names.end()), have(folders.begin(), folders.end());
  std::vector<std::string> missing, extra, used;
  for (const auto& n : labels.names)
    if (!have.count(n)) missing.push_back(n);
  for (const auto& f : folders) (names.count(f) ? used : extra).push_back(f);
  if ((missing.empty() || labels.allow_missing) && (extra.empty() || labels.allow_extra) && !used.empty()) return used;
  fail("the class folders of '", split, "' are not the classes of ", labels.from, " (", quoted_list(labels.names), "): ",
       missing.empty() ? "" : "no folder for " + quoted_list(missing), !missing.empty() && !extra.empty() ? "; " : "",
       extra.empty() ? "" : (labels.allow_extra ? "the other folders, left out: " : "not among them: ") + quoted_list(extra),
       (extra.empty() || labels.allow_extra) && !labels.subset_advice.empty() ? labels.subset_advice : labels.advice);
}

}  // namespace

bool is_image_name(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  for (char& c : ext) c = char(std::tolower(static_cast<unsigned char>(c)));
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png";
}

bool natural_less(const std::string& a, const std::string& b) {
  const auto pa = natural_pieces(a), pb = natural_pieces(b);
  for (size_t i = 0; i < std::min(pa.size(), pb.size()); ++i) {
    const int c = i % 2 ? compare_number(pa[i], pb[i]) : pa[i].compare(pb[i]);
    if (c != 0) return c < 0;
  }
  if (pa.size() != pb.size()) return pa.size() < pb.size();
  return a < b;  // equal keys (case, leading zeros): any fixed order
}

std::string folder_split_dir(const std::string& root, const FolderOptions& opts, bool train) {
  const fs::path r(root);
  if (train) return (r / opts.train_split).string();
  if (!opts.val_split.empty()) return (r / opts.val_split).string();
  for (const char* s : {"validation", "val", "test"})
    if (fs::is_directory(r / s)) return (r / s).string();
  return "";
}

Dataset load_folder(const std::string& root, const FolderOptions& opts, bool train) {
  if (root.empty()) fail("dataset 'folder' needs data_dir = the folder that holds the split folders (train, val, ...)");
  if (!fs::is_directory(root)) fail("data_dir '", root, "' is not a folder");
  const std::string split = folder_split_dir(root, opts, train);
  if (split.empty())
    fail("data_dir '", root, "' has no eval split folder: expected one of validation, val, test (or set val_split",
         opts.suggest_val_fraction ? ", or val_fraction to hold images out of train)" : ")");
  if (!fs::is_directory(split))
    fail("split folder '", split, "' does not exist (key '", train ? "train_split" : "val_split", "')");

  Dataset d;
  d.name = "folder";
  d.dir = split;
  d.channels = opts.channels;
  d.height = d.width = opts.img_size;
  const std::vector<std::string> folders = folder_class_names(split);
  if (folders.empty()) fail("split folder '", split, "' has no class folder (expected ", split, "/<class>/<image>)");
  // the labels: a model's class names (by name), else class_map's lines, else the folders in natural order
  ClassNames labels = opts.labels;
  if (labels.names.empty() && !opts.class_map.empty()) {
    labels.names = read_class_map(opts.class_map);
    labels.from = "class_map '" + opts.class_map + "'";
  }
  d.class_names = labels.names.empty() ? folders : labels.names;
  const std::vector<std::string> used = labels.names.empty() ? folders : match_class_folders(split, folders, labels);
  std::map<std::string, int32_t> label_of;
  for (size_t k = 0; k < d.class_names.size(); ++k) label_of[d.class_names[k]] = int32_t(k);
  d.num_classes = int64_t(d.class_names.size());

  // every image of every class folder (recursively), then sorted by path in natural order as timm sorts
  std::vector<std::pair<std::string, int32_t>> samples;
  for (const auto& f : used) {
    const fs::path dir = fs::path(split) / f;
    size_t before = samples.size();
    for (const auto& e : fs::recursive_directory_iterator(dir, fs::directory_options::follow_directory_symlink)) {
      if (!e.is_regular_file()) continue;
      if (is_image_name(e.path().string())) samples.emplace_back(e.path().string(), label_of.at(f));
      else ++d.skipped;
    }
    if (samples.size() == before)
      fail("class folder '", dir.string(), "' has no image (.jpg, .jpeg or .png)");
  }
  if (labels.names.empty()) {
    // the classes must be the same in both splits: compare with the other split's folders
    const std::string other = folder_split_dir(root, opts, !train);
    if (!other.empty() && fs::is_directory(other) && folder_class_names(other) != folders) {
      const auto mine = folders, theirs = folder_class_names(other);
      std::vector<std::string> only_here, only_there;
      std::set_difference(mine.begin(), mine.end(), theirs.begin(), theirs.end(), std::back_inserter(only_here), natural_less);
      std::set_difference(theirs.begin(), theirs.end(), mine.begin(), mine.end(), std::back_inserter(only_there), natural_less);
      fail("the class folders of '", split, "' and '", other, "' differ",
           only_here.empty() ? "" : ": only in the first: " + only_here.front() + (only_here.size() > 1 ? ", ..." : ""),
           only_there.empty() ? "" : "; only in the second: " + only_there.front() + (only_there.size() > 1 ? ", ..." : ""),
           " (both splits need the same classes, or a class_map)");
    }
  }
  for (const auto& e : fs::directory_iterator(split))  // files beside the class folders belong to no class
    if (!e.is_directory()) ++d.beside;
  std::sort(samples.begin(), samples.end(), [](const auto& a, const auto& b) { return natural_less(a.first, b.first); });
  for (auto& [path, label] : samples) {
    d.files.push_back(std::move(path));
    d.labels.push_back(label);
  }
  d.n = int64_t(d.files.size());
  return d;
}

std::string first_colour_file(const Dataset& d, int64_t samples) {
  const int64_t n = int64_t(d.files.size()), k = std::min(n, samples);
  for (int64_t i = 0; i < k; ++i) {
    const std::string& file = d.files[size_t(i * n / k)];
    Image rgb;
    try {
      rgb = read_image(file, 3);
    } catch (const Error&) {
      continue;  // the loader names a file it cannot read when it gets there
    }
    // colour: 1% of the pixels or more whose channels spread over more than 16 levels (a grey image stored as
    // RGB, with a JPEG's rounding in its chroma, has none)
    int64_t coloured = 0;
    for (size_t p = 0; p + 2 < rgb.pixels.size(); p += 3) {
      const uint8_t* px = rgb.pixels.data() + p;
      coloured += std::max({px[0], px[1], px[2]}) - std::min({px[0], px[1], px[2]}) > 16;
    }
    if (coloured * 100 >= rgb.width * rgb.height && coloured > 0) return file;
  }
  return "";
}

}  // namespace tapevit
