// tapevit/train/config.h: the training configuration, with timm's argument names.
//
// Sources, in increasing priority: built-in defaults < the preset named by `model` < the config file (INI,
// sections [model] [data] [train] [optim]) < the command line. Every key lives in one registry (name,
// section, help, parser, printer), which drives file parsing, command-line parsing, --help and the resolved
// config that is written into the run directory and every checkpoint. Unknown keys, keys in the wrong
// section and malformed values are Errors that name the key and the file (and suggest the nearest key).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "tapevit/layers/vit.h"
#include "tapevit/optim/lr_schedule.h"
#include "tapevit/optim/optimizer.h"
#include "tapevit/data/dataset.h"
#include "tapevit/data/loader.h"
#include "tapevit/train/presets.h"
#include "tapevit/train/timm_flags.h"

namespace tapevit {

struct TrainConfig {
  // [model]
  // The built-in defaults are the default run's (configs/fmnist.ini, scripts/train.sh): `tapevit train` alone
  // trains it.
  std::string model = "vit_fmnist_tiny_avg";  // preset; architecture keys override it
  VitConfig vit;
  std::string init;         // weights to start from: a timm model.safetensors or a tapevit .h5 ("" = random init)
  bool init_strict = true;  // false: load what fits, report the rest (see load_pretrained)
  // [data]
  std::string dataset = "fashion-mnist";
  std::string data_dir;  // "" = the dataset's default directory
  // mean/std empty = the dataset's defaults. crop_pad and hflip, unless given, are the data set's (its table row:
  // random 2-pixel shifts on fashion-mnist, the default run's; no flips on mnist)
  AugmentConfig aug = [] {
    AugmentConfig a;
    a.crop_padding = data_set_kind("fashion-mnist").crop_pad;  // the default data set's (resolve_config binds dataset's)
    a.image.crop_pct = 0;  // 0 = the preset's (timm's pretrained_cfg), else 0.875: bound with the data defaults
    return a;
  }();
  // dataset = folder (timm's ImageFolder): data_dir/<train_split>/<class>/<image>, eval on <val_split>
  std::string train_split = "train", val_split, class_map;
  bool cache = false;   // decode every image once, into memory
  bool skip_bad = false;  // predict: an image that cannot be read or decoded is left out (named), not an error
  int64_t workers = -1;  // batch-making threads ahead of the step; -1 = automatic (default_workers)
  bool no_aug = false;
  std::vector<double> classes;   // keep only these classes, relabelled 0.. in this order (empty = all)
  int64_t train_per_class = 0;   // keep the first N training samples of each class (0 = all)
  // The eval split (best.h5 is chosen on it): the test split, or with val_fraction > 0 that fraction of train held
  // out (seeded, per class), so that choosing the best epoch never looks at the test split.
  double val_fraction = 0;
  int64_t val_per_class = -1;    // evaluate on the first N of each class (0 = all; -1 = 100 with train_per_class, else all)
  // [train]
  int64_t epochs = 26, batch_size = 64, validation_batch_size = 0;  // 0 = batch_size
  uint64_t seed = 42;
  int64_t threads = 0;           // 0 = all cores
  // timm's --amp --amp-dtype bfloat16: every matrix product (forward and backward) on bfloat16 operands with float32
  // accumulation; everything else, the weights and the optimizer stay float32. Needs AVX512_BF16.
  bool amp = false;
  std::string amp_dtype = "bfloat16";
  int64_t checkpoint_steps = 0;  // also write last.h5 every N optimizer steps (0 = only at epoch ends)
  // timm's --grad-accum-steps: each optimizer step's batch_size rows as this many micro-batches (per rank), their
  // gradients summed before the step. Same training, less memory. batch_size = ranks x grad_accum_steps x micro-batch.
  int64_t grad_accum_steps = 1;
  double dist_timeout = 1800;    // several ranks (mpirun): seconds a collective may take before the run aborts
  int64_t log_interval = 50;     // steps between plain progress lines when stdout is not a terminal
  std::string output;            // run directory; "" = runs/<date>-<time>-<model>
  bool model_ema = false;        // timm's --model-ema: an EMA of the weights, evaluated and checkpointed beside them
  double model_ema_decay = 0.9998;
  // [optim]
  OptimConfig optim;
  std::string sched = "cosine";
  double lr = 2e-3, min_lr = 1e-5, warmup_lr = 1e-6, warmup_epochs = 1, clip_grad = 0;
  double layer_decay = 0;     // timm's layer-wise lr decay (0 = off; e.g. 0.65 to 0.75 for fine-tuning)
  std::string freeze = "none";  // "none" | "all_but_head" (a linear probe: only head.* trains)
  // What the config's values are tuned for: "scratch" (random weights) or "finetune" (pretrained weights, from init:
  // configs/finetune_*.ini say so). A fine-tuning recipe without init is said at start-up; nothing else reads it.
  std::string recipe = "scratch";

  // What resolving the config decided that a user should hear about (a preset overriding a file's keys, a
  // timm flag that has no effect here), for the caller to show. Not a key: not written to config files.
  std::vector<std::string> notes;

  // Every key's own check (its registry entry: a range or a set of values), the checks across keys, and those of
  // the parts' configs, each the one place of its keys' checks (VitConfig: the model keys, AugmentConfig and
  // ImageTransformConfig: augmentation, OptimConfig: the optimizer). Throws naming the key.
  void validate() const;
};

// The commands that take a key: train takes every key; eval re-reads a checkpoint's config and predict a
// checkpoint's or describes --init's weights, each letting a few keys change (data, batching, the model's description).
enum ConfigCommand : unsigned { kTrainCommand = 1, kEvalCommand = 2, kPredictCommand = 4 };

struct ConfigKey {
  std::string name, section, help;
  unsigned commands = kTrainCommand;  // ConfigCommand bits
};
// Every key, in registry order (sections model, data, train, optim).
const std::vector<ConfigKey>& config_keys();
// The names of the keys a command takes, in registry order.
std::vector<std::string> config_keys_for(ConfigCommand command);
const ConfigKey* find_config_key(const std::string& name);
// What a boolean key takes: "true or false (or 1/0, yes/no, on/off)", any case (the parser's own table).
std::string bool_spellings();
// "did you mean 'embed_dim'?" for a misspelt key, or "" when nothing is close; among: the keys a command takes
// (empty: every key), so that the suggestion is one the command accepts.
std::string suggest_config_key(const std::string& name, const std::vector<std::string>& among = {});
// "unknown key 'x'; did you mean 'y'?", or for a timm flag tapevit does not have, what to do instead.
std::string unknown_key_message(const std::string& name);

// Raw key=value pairs in the order they should apply, each remembering where it came from.
struct ConfigValue {
  std::string value, source;  // source: a file path or "command line"
  // Which source wins: a checkpoint's config 0, config files 1, 2, ... in order, the command line kCommandLine. Keys
  // a preset sets are taken from the preset when `model` comes from a higher source than they do.
  int priority = 1;
};
constexpr int kCommandLine = 1000;
using ConfigValues = std::map<std::string, ConfigValue>;

// Reads an INI file (Boost.Program_options' parser); checks keys and sections; timm's spellings are read as the
// tapevit keys (timm_flags.h). Throws naming the file and the key.
ConfigValues read_config_file(const std::string& path, int priority = 1);
// Resolve defaults <- preset(model) <- values (already merged, command line over file).
TrainConfig resolve_config(const ConfigValues& values);
// The resolved config as an INI text that read_config_file/resolve_config read back to the same config: every key
// train takes (not predict's own, such as skip_bad).
std::string config_to_ini(const TrainConfig& cfg);
ConfigValues parse_ini_text(const std::string& text, const std::string& source, int priority = 1);
// Boost.Program_options loops forever formatting an error whose text holds one of its placeholders (%canonical_option%
// and the like; found by fuzzing), which a '%' in a config file or on the command line can spell. What is handed to
// it has '%' replaced by '\x01' (hide_percent), and what comes back is restored (show_percent).
std::string hide_percent(std::string s);
std::string show_percent(std::string s);

// The value of a key as text, and the default value (for --help).
std::string config_get(const TrainConfig& cfg, const std::string& key);
// Set one key from its text, as a config file would (no check across keys: validate() does those). Throws naming
// the key and `source` for a malformed value.
void config_set(TrainConfig& cfg, const std::string& key, const std::string& value, const std::string& source);

}  // namespace tapevit
