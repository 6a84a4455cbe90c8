// src/train/splits.cpp: the splits a run trains and is evaluated on, and the class names its labels follow (see
// load_splits and init_class_names in tapevit/train/train.h).
#include <filesystem>
#include <set>

#include "tapevit/error.h"
#include "tapevit/train/hub_config.h"
#include "tapevit/train/train.h"

namespace tapevit {

namespace fs = std::filesystem;

DataSplits load_splits(const TrainConfig& cfg, ClassNames labels, ConfigCommand command) {
  DataSplits s;
  const bool with_train = command == kTrainCommand;
  const bool by_name = cfg.dataset == "folder" && !labels.names.empty();
  // The model's class names say which classes the run kept: a run on some of the folder's classes (key 'classes')
  // leaves the others out by name, not by their numbers in the folder's order (which renaming a folder changes).
  labels.allow_extra = labels.allow_extra || !cfg.classes.empty();
  if (with_train || cfg.val_fraction > 0) s.train = load_split(cfg, true, labels, command);
  if (cfg.val_fraction > 0) {
    s.eval = hold_out(s.train, cfg.val_fraction, cfg.seed);
    s.eval_name = "held out of train (val_fraction " + config_get(cfg, "val_fraction") + ")";
  } else {
    s.eval = load_split(cfg, false, labels, command);
    s.eval_name = cfg.dataset == "folder" ? s.eval.dir : "test split";
  }
  const std::vector<int64_t> classes = by_name ? std::vector<int64_t>{}
                                               : std::vector<int64_t>(cfg.classes.begin(), cfg.classes.end());
  if (with_train) select_classes(s.train, classes, cfg.train_per_class);
  const int64_t val_per_class = cfg.val_per_class >= 0 ? cfg.val_per_class : cfg.train_per_class > 0 ? 100 : 0;
  select_classes(s.eval, classes, val_per_class);
  if (val_per_class > 0)
    s.eval_name += ", first " + std::to_string(val_per_class) + " per class (val_per_class; 0 for all)";
  return s;
}

ClassNames init_class_names(const TrainConfig& cfg, std::string& note) {
  ClassNames labels;
  note.clear();
  // class_map sets the labels itself; another number of classes re-initialises the head (its outputs mean nothing)
  if (cfg.dataset != "folder" || cfg.init.empty() || !cfg.class_map.empty()) return labels;
  const std::vector<std::string> names = weights_class_names(cfg.init);
  if (names.empty() || int64_t(names.size()) != cfg.vit.num_classes) return labels;
  FolderOptions fo;
  fo.train_split = cfg.train_split;
  const std::string split = folder_split_dir(cfg.data_dir, fo, true);
  if (!fs::is_directory(split)) return labels;  // (loading the data says what is wrong)
  const std::vector<std::string> folders = folder_class_names(split);
  if (folders == names) return labels;  // the same classes in the same order
  const std::set<std::string> a(names.begin(), names.end()), b(folders.begin(), folders.end());
  if (a == b) {
    labels.names = names;
    labels.from = cfg.init;
    note = "the labels follow the class names of " + cfg.init + " (its head's order), matched to the class folders " +
           "by name: their sorted order differs";
  } else {
    note = "the head of " + cfg.init + " was trained on other classes than the folders of " + cfg.data_dir +
           ": the labels follow the folders' order, and its head's outputs start with the meanings they had";
  }
  return labels;
}

}  // namespace tapevit
