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

// The class folders of a split, in natural order.
std::vector<std::string> class_folders(const fs::path& split) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(split, fs::directory_options::follow_directory_symlink))
    if (e.is_directory()) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end(), natural_less);
  return names;
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
    fail("data_dir '", root, "' has no eval split folder: expected one of validation, val, test (or set val_split, "
         "or val_fraction to hold images out of train)");
  if (!fs::is_directory(split))
    fail("split folder '", split, "' does not exist (key '", train ? "train_split" : "val_split", "')");

  Dataset d;
  d.name = "folder";
  d.dir = split;
  d.channels = opts.channels;
  d.height = d.width = opts.img_size;
  const std::vector<std::string> folders = class_folders(split);
  if (folders.empty()) fail("split folder '", split, "' has no class folder (expected ", split, "/<class>/<image>)");
  std::map<std::string, int32_t> label_of;
  if (opts.class_map.empty()) {
    d.class_names = folders;
  } else {
    d.class_names = read_class_map(opts.class_map);
    for (const auto& f : folders)
      if (std::find(d.class_names.begin(), d.class_names.end(), f) == d.class_names.end())
        fail("class folder '", (fs::path(split) / f).string(), "' is not in class_map '", opts.class_map, "'");
    for (const auto& c : d.class_names)
      if (std::find(folders.begin(), folders.end(), c) == folders.end())
        fail("class '", c, "' of class_map '", opts.class_map, "' has no folder in '", split, "'");
  }
  for (size_t k = 0; k < d.class_names.size(); ++k) label_of[d.class_names[k]] = int32_t(k);
  d.num_classes = int64_t(d.class_names.size());

  // every image of every class folder (recursively), then sorted by path in natural order as timm sorts
  std::vector<std::pair<std::string, int32_t>> samples;
  for (const auto& f : folders) {
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
  if (opts.class_map.empty()) {
    // the classes must be the same in both splits: compare with the other split's folders
    const std::string other = folder_split_dir(root, opts, !train);
    if (!other.empty() && fs::is_directory(other) && class_folders(other) != folders) {
      const auto mine = folders, theirs = class_folders(other);
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
    if (!e.is_directory()) ++d.skipped;
  std::sort(samples.begin(), samples.end(), [](const auto& a, const auto& b) { return natural_less(a.first, b.first); });
  for (auto& [path, label] : samples) {
    d.files.push_back(std::move(path));
    d.labels.push_back(label);
  }
  d.n = int64_t(d.files.size());
  return d;
}

}  // namespace tapevit
