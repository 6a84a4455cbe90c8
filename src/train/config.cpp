// src/train/config.cpp: see tapevit/train/config.h.
#include "tapevit/train/config.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include <boost/program_options/parsers.hpp>
#include <boost/program_options/options_description.hpp>

#include "tapevit/gemm.h"

namespace tapevit {

namespace {

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

[[noreturn]] void bad_value(const std::string& key, const ConfigValue& v, const char* expected) {
  fail(v.source, ": key '", key, "': expected ", expected, ", got '", v.value, "'");
}

int64_t parse_int(const std::string& key, const ConfigValue& v) {
  const std::string s = trim(v.value);
  int64_t out = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size()) bad_value(key, v, "an integer");
  return out;
}

double parse_double(const std::string& key, const ConfigValue& v) {
  const std::string s = trim(v.value);
  char* end = nullptr;
  const double out = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size() || !std::isfinite(out)) bad_value(key, v, "a number");
  return out;
}

bool parse_bool(const std::string& key, const ConfigValue& v) {
  std::string s = trim(v.value);
  std::transform(s.begin(), s.end(), s.begin(), ::tolower);
  if (s == "true" || s == "1" || s == "yes" || s == "on") return true;
  if (s == "false" || s == "0" || s == "no" || s == "off") return false;
  bad_value(key, v, "true or false");
}

std::vector<double> parse_list(const std::string& key, const ConfigValue& v) {
  std::string s = v.value;
  std::replace(s.begin(), s.end(), ',', ' ');
  std::istringstream is(s);
  std::vector<double> out;
  std::string tok;
  while (is >> tok) out.push_back(parse_double(key, {tok, v.source}));
  return out;  // empty: the default (e.g. the dataset's mean)
}

std::string fmt(double x) {
  std::ostringstream os;
  os.precision(17);
  os << x;
  // shortest text that reads back to the same double
  for (int p = 1; p <= 17; ++p) {
    std::ostringstream t;
    t.precision(p);
    t << x;
    if (std::strtod(t.str().c_str(), nullptr) == x) return t.str();
  }
  return os.str();
}

std::string fmt_list(const std::vector<double>& xs) {
  std::string s;
  for (size_t i = 0; i < xs.size(); ++i) s += (i ? ", " : "") + fmt(xs[i]);
  return s;
}

struct Entry {
  ConfigKey key;
  std::function<void(TrainConfig&, const ConfigValue&)> set;
  std::function<std::string(const TrainConfig&)> get;
};

template <class F>
Entry int_key(const char* name, const char* section, const char* help, F field) {
  return {{name, section, help},
          [=](TrainConfig& c, const ConfigValue& v) { field(c) = decltype(+field(c))(parse_int(name, v)); },
          [=](const TrainConfig& c) { return std::to_string(field(const_cast<TrainConfig&>(c))); }};
}
template <class F>
Entry num_key(const char* name, const char* section, const char* help, F field) {
  return {{name, section, help}, [=](TrainConfig& c, const ConfigValue& v) { field(c) = parse_double(name, v); },
          [=](const TrainConfig& c) { return fmt(field(const_cast<TrainConfig&>(c))); }};
}
template <class F>
Entry bool_key(const char* name, const char* section, const char* help, F field) {
  return {{name, section, help}, [=](TrainConfig& c, const ConfigValue& v) { field(c) = parse_bool(name, v); },
          [=](const TrainConfig& c) { return std::string(field(const_cast<TrainConfig&>(c)) ? "true" : "false"); }};
}
template <class F>
Entry str_key(const char* name, const char* section, const char* help, F field) {
  return {{name, section, help}, [=](TrainConfig& c, const ConfigValue& v) { field(c) = trim(v.value); },
          [=](const TrainConfig& c) { return field(const_cast<TrainConfig&>(c)); }};
}
template <class F>
Entry list_key(const char* name, const char* section, const char* help, F field) {
  return {{name, section, help}, [=](TrainConfig& c, const ConfigValue& v) { field(c) = parse_list(name, v); },
          [=](const TrainConfig& c) { return fmt_list(field(const_cast<TrainConfig&>(c))); }};
}

template <class F>
Entry pair_key(const char* name, const char* section, const char* help, F field) {
  return {{name, section, help},
          [=](TrainConfig& c, const ConfigValue& v) {
            const auto b = parse_list(name, v);
            if (b.size() != 2) bad_value(name, v, "two numbers (min max)");
            field(c)[0] = b[0], field(c)[1] = b[1];
          },
          [=](const TrainConfig& c) {
            const double* p = field(const_cast<TrainConfig&>(c));
            return fmt_list({p[0], p[1]});
          }};
}
template <class F>
Entry interp_key(const char* name, const char* section, const char* help, bool allow_random, F field) {
  return {{name, section, help},
          [=](TrainConfig& c, const ConfigValue& v) {
            try {
              field(c) = parse_interpolation(trim(v.value), name, allow_random);
            } catch (const Error& e) {
              fail(v.source, ": ", e.what());
            }
          },
          [=](const TrainConfig& c) { return std::string(interpolation_name(field(const_cast<TrainConfig&>(c)))); }};
}

#define F(expr) [](TrainConfig& c) -> auto& { return c.expr; }

const std::vector<Entry>& entries() {
  static const std::vector<Entry> table = {
      // [model]
      str_key("model", "model", "architecture preset: vit_fmnist, vit_cifar, vit_tiny_patch16_224, ... (keys below override it)", F(model)),
      int_key("img_size", "model", "input image size (square)", F(vit.img_size)),
      int_key("patch_size", "model", "patch size", F(vit.patch_size)),
      int_key("in_chans", "model", "input channels", F(vit.in_chans)),
      int_key("num_classes", "model", "classes (head outputs)", F(vit.num_classes)),
      int_key("embed_dim", "model", "embedding dim C", F(vit.embed_dim)),
      int_key("depth", "model", "transformer blocks", F(vit.depth)),
      int_key("num_heads", "model", "attention heads (embed_dim must be divisible by it)", F(vit.num_heads)),
      num_key("mlp_ratio", "model", "MLP hidden = int(embed_dim * mlp_ratio)", F(vit.mlp_ratio)),
      bool_key("qkv_bias", "model", "bias in the fused qkv Linear", F(vit.qkv_bias)),
      num_key("drop", "model", "head dropout (timm drop_rate)", F(vit.drop_rate)),
      num_key("drop_path", "model", "stochastic depth rate, linear over blocks (timm drop_path_rate)", F(vit.drop_path_rate)),
      num_key("pos_drop", "model", "dropout after pos_embed (timm pos_drop_rate)", F(vit.pos_drop_rate)),
      num_key("proj_drop", "model", "attention-proj and MLP dropout (timm proj_drop_rate)", F(vit.proj_drop_rate)),
      num_key("attn_drop", "model", "attention-probability dropout (timm attn_drop_rate)", F(vit.attn_drop_rate)),
      num_key("init_values", "model", "LayerScale init; 0 = no LayerScale", F(vit.init_values)),
      str_key("global_pool", "model", "token (the class token), avg (mean of the patch tokens) or map (SigLIP's attention pool)", F(vit.global_pool)),
      bool_key("class_token", "model", "a class token first in the sequence", F(vit.class_token)),
      int_key("reg_tokens", "model", "register tokens after the class token (DINOv2-reg, SBB ViTs)", F(vit.reg_tokens)),
      bool_key("no_embed_class", "model", "pos_embed covers the patches only, the prefix tokens get no position", F(vit.no_embed_class)),
      bool_key("pre_norm", "model", "CLIP: a LayerNorm (norm_pre) before the blocks, no patch_embed bias", F(vit.pre_norm)),
      num_key("norm_eps", "model", "eps of every LayerNorm (timm 1e-6; CLIP 1e-5)", F(vit.norm_eps)),
      str_key("act_layer", "model", "the MLPs' activation: gelu (erf), gelu_tanh or quick_gelu", F(vit.act_layer)),
      str_key("fc_norm", "model", "auto (= global_pool is avg), true or false: the final LayerNorm after pooling", F(vit.fc_norm)),
      bool_key("final_norm", "model", "a final LayerNorm (norm before pooling, or fc_norm after it)", F(vit.final_norm)),
      bool_key("distilled", "model", "DeiT's distilled ViT: a distillation token and head_dist, logits = the two heads' mean", F(vit.distilled)),
      str_key("init", "model", "start from these weights: a timm model.safetensors or a tapevit checkpoint (.h5)", F(init)),
      bool_key("init_strict", "model", "refuse weights with missing, unexpected or misshapen tensors (timm's rules aside)", F(init_strict)),
      // [data]
      str_key("dataset", "data", "fashion-mnist, mnist, cifar10, or folder (timm's ImageFolder: data_dir/train/<class>/*.jpg|png)", F(dataset)),
      str_key("data_dir", "data", "directory of the data files (empty: the dataset's default)", F(data_dir)),
      str_key("train_split", "data", "folder: the training split's sub-folder of data_dir", F(train_split)),
      str_key("val_split", "data", "folder: the eval split's sub-folder (empty: the first of validation, val, test)", F(val_split)),
      str_key("class_map", "data", "folder: a file of class names, one per line, in label order (empty: the sub-folders in natural order)", F(class_map)),
      bool_key("cache", "data", "folder: decode every image once into memory (small data sets)", F(cache)),
      int_key("workers", "data", "threads decoding and augmenting batches ahead of the step (-1: one per two cores for folders, 0 for in-memory data)", F(workers)),
      list_key("mean", "data", "per-channel mean for normalisation (empty: the dataset's)", F(aug.mean)),
      list_key("std", "data", "per-channel std for normalisation (empty: the dataset's)", F(aug.std)),
      list_key("classes", "data", "keep only these classes, relabelled 0.. in this order (empty: all)", F(classes)),
      int_key("train_per_class", "data", "keep the first N training images of each class (0: all)", F(train_per_class)),
      num_key("val_fraction", "data", "evaluate (and choose best.h5) on this fraction of train held out (0: the test split; folders: the val split)", F(val_fraction)),
      int_key("val_per_class", "data", "evaluate on the first N images of each class (0: all; -1: 100 when train_per_class is set, else all)", F(val_per_class)),
      bool_key("no_aug", "data", "turn training augmentation off (crop, flip, mixup, cutmix)", F(no_aug)),
      int_key("crop_pad", "data", "random crop padding in pixels (0 = no crop; the default applies to fashion-mnist, other data sets default to 0)", F(aug.crop_padding)),
      num_key("hflip", "data", "horizontal flip probability", F(aug.hflip)),
      num_key("mixup", "data", "mixup Beta alpha (0 = off)", F(aug.mixup)),
      num_key("cutmix", "data", "cutmix Beta alpha (0 = off)", F(aug.cutmix)),
      num_key("mixup_prob", "data", "probability of mixing a batch", F(aug.mixup_prob)),
      num_key("mixup_switch_prob", "data", "probability of cutmix instead of mixup when both are on", F(aug.mixup_switch_prob)),
      num_key("smoothing", "data", "label smoothing", F(aug.smoothing)),
      // timm's transforms (folder data sets)
      pair_key("scale", "data", "folder: RandomResizedCrop area fraction range, two numbers", [](TrainConfig& c) -> auto& { return c.aug.image.scale; }),
      pair_key("ratio", "data", "folder: RandomResizedCrop aspect ratio range, two numbers", [](TrainConfig& c) -> auto& { return c.aug.image.ratio; }),
      interp_key("train_interpolation", "data", "folder: RandomResizedCrop resampling: random (bilinear or bicubic per image), bilinear, bicubic, ...", true, F(aug.image.train_interpolation)),
      interp_key("interpolation", "data", "folder: eval resize resampling (bicubic, bilinear, ...)", false, F(aug.image.interpolation)),
      num_key("crop_pct", "data", "folder: eval resizes to img_size / crop_pct, then center-crops (0: the preset's, else 0.875)", F(aug.image.crop_pct)),
      num_key("vflip", "data", "folder: vertical flip probability", F(aug.image.vflip)),
      num_key("color_jitter", "data", "folder: brightness, contrast and saturation jitter (0 = off; ignored with aa)", F(aug.image.color_jitter)),
      str_key("aa", "data", "folder: RandAugment, e.g. rand-m9-mstd0.5-inc1 (empty = off)", F(aug.image.aa)),
      num_key("reprob", "data", "folder: random erasing probability (0 = off)", F(aug.image.reprob)),
      str_key("remode", "data", "folder: random erasing values: pixel (noise), rand (a colour per box) or const (0)", F(aug.image.remode)),
      int_key("recount", "data", "folder: random erasing boxes per image (1 to recount)", F(aug.image.recount)),
      // [train]
      int_key("epochs", "train", "epochs to train", F(epochs)),
      int_key("batch_size", "train", "training batch size (and evaluation's, when validation_batch_size is 0)", F(batch_size)),
      int_key("validation_batch_size", "train", "evaluation batch size (0 = batch_size)", F(validation_batch_size)),
      int_key("seed", "train", "seed for init, data order, augmentation and dropout", F(seed)),
      int_key("threads", "train", "OpenMP threads (0 = all cores)", F(threads)),
      bool_key("amp", "train", "mixed precision: matrix products on bfloat16 operands, float32 accumulation (needs AVX512_BF16)", F(amp)),
      str_key("amp_dtype", "train", "the mixed-precision type: bfloat16 (float16 is for GPUs)", F(amp_dtype)),
      int_key("checkpoint_steps", "train", "also write last.h5 every N steps (0 = at epoch ends only)", F(checkpoint_steps)),
      int_key("grad_accum_steps", "train", "micro-batches per optimizer step, gradients summed (less memory, the same training)", F(grad_accum_steps)),
      num_key("dist_timeout", "train", "several ranks (mpirun): seconds a collective may wait before the run aborts", F(dist_timeout)),
      int_key("log_interval", "train", "steps between progress lines when output is not a terminal", F(log_interval)),
      str_key("output", "train", "run directory (empty: runs/<date>-<time>-<model>)", F(output)),
      bool_key("model_ema", "train", "keep an exponential moving average of the weights, evaluated and saved beside them (timm's --model-ema)", F(model_ema)),
      num_key("model_ema_decay", "train", "EMA decay per optimizer step (the first step copies the weights)", F(model_ema_decay)),
      // [optim]
      str_key("opt", "optim", "adamw, sgd (Nesterov momentum, as timm) or momentum", F(optim.opt)),
      num_key("lr", "optim", "peak learning rate", F(lr)),
      num_key("weight_decay", "optim", "weight decay (not on biases and other 1-D tensors, pos_embed, cls_token, reg_token, dist_token)", F(optim.weight_decay)),
      num_key("momentum", "optim", "SGD momentum", F(optim.momentum)),
      {{"opt_betas", "optim", "AdamW betas, two numbers"},
       [](TrainConfig& c, const ConfigValue& v) {
         auto b = parse_list("opt_betas", v);
         if (b.size() != 2) bad_value("opt_betas", v, "two numbers");
         c.optim.beta1 = b[0], c.optim.beta2 = b[1];
       },
       [](const TrainConfig& c) { return fmt_list({c.optim.beta1, c.optim.beta2}); }},
      num_key("opt_eps", "optim", "AdamW epsilon", F(optim.eps)),
      num_key("clip_grad", "optim", "clip gradients to this global L2 norm (0 = off)", F(clip_grad)),
      str_key("sched", "optim", "cosine or constant (after warmup), stepped per update", F(sched)),
      num_key("warmup_epochs", "optim", "linear warmup length in epochs (may be fractional)", F(warmup_epochs)),
      num_key("warmup_lr", "optim", "learning rate at the start of warmup", F(warmup_lr)),
      num_key("min_lr", "optim", "cosine floor", F(min_lr)),
      num_key("layer_decay", "optim", "layer-wise lr decay as timm (0 = off): lr x decay^(top - layer id); stem 0, blocks.i i + 1, head on top", F(layer_decay)),
      str_key("freeze", "optim", "none, or all_but_head (train head.* only: a linear probe)", F(freeze)),
  };
  return table;
}
#undef F

const Entry* find_entry(const std::string& name) {
  for (const auto& e : entries())
    if (e.key.name == name) return &e;
  return nullptr;
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> d(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) d[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t prev = d[0];
    d[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t cur = d[j];
      d[j] = std::min({d[j] + 1, d[j - 1] + 1, prev + (a[i - 1] != b[j - 1])});
      prev = cur;
    }
  }
  return d[b.size()];
}

}  // namespace

const std::vector<ConfigKey>& config_keys() {
  static const std::vector<ConfigKey> keys = [] {
    std::vector<ConfigKey> k;
    for (const auto& e : entries()) k.push_back(e.key);
    return k;
  }();
  return keys;
}

const ConfigKey* find_config_key(const std::string& name) {
  const Entry* e = find_entry(name);
  return e ? &e->key : nullptr;
}

std::string suggest_config_key(const std::string& name) {
  const std::string norm = canonical_key(name);
  // close names only: at most a third of the name's letters wrong (embed_dmi -> embed_dim, not amp -> drop)
  size_t best_d = std::max<size_t>(1, norm.size() / 3) + 1;
  std::string best;
  for (const auto& e : entries()) {
    const size_t d = edit_distance(norm, e.key.name);
    if (d < best_d) best_d = d, best = e.key.name;
  }
  return best.empty() ? "" : "did you mean '" + best + "'?";
}

std::string unknown_key_message(const std::string& name) {
  if (const TimmFlag* f = find_timm_flag(name); f && f->kind == TimmFlag::Unsupported)
    return "'" + name + "' (timm's --" + f->flag + ") is not supported: " + f->note;
  const std::string hint = suggest_config_key(name);
  return "unknown key '" + name + "'" + (hint.empty() ? "" : "; " + hint);
}

std::string hide_percent(std::string s) {
  std::replace(s.begin(), s.end(), '%', '\x01');
  return s;
}
std::string show_percent(std::string s) {
  std::replace(s.begin(), s.end(), '\x01', '%');
  return s;
}

ConfigValues parse_ini_text(const std::string& text, const std::string& source, int priority) {
  namespace po = boost::program_options;
  std::istringstream is(hide_percent(text));
  po::options_description none;
  po::parsed_options parsed(&none);
  try {
    parsed = po::parse_config_file(is, none, /*allow_unregistered=*/true);
  } catch (const po::error& e) {
    fail(source, ": ", show_percent(e.what()));
  }
  for (auto& opt : parsed.options) {
    opt.string_key = show_percent(opt.string_key);
    for (auto& v : opt.value) v = show_percent(v);
  }
  static const std::set<std::string> sections = {"model", "data", "train", "optim"};
  ConfigValues out;
  for (const auto& opt : parsed.options) {
    std::string key = opt.string_key, section;
    if (auto dot = key.find('.'); dot != std::string::npos) section = key.substr(0, dot), key = key.substr(dot + 1);
    if (!section.empty() && !sections.count(section))
      fail(source, ": unknown section [", section, "] (sections: [model], [data], [train], [optim])");
    const std::string given = key;
    key = canonical_key(key);  // timm's spellings: batch-size, gp, ...
    const TimmFlag* timm = find_timm_flag(given);
    const Entry* e = find_entry(key);
    if (!e && !(timm && timm->kind == TimmFlag::Ignored)) fail(source, ": ", unknown_key_message(given));
    if (e && !section.empty() && section != e->key.section)
      fail(source, ": key '", given, "' belongs in section [", e->key.section, "], not [", section, "]");
    if (out.count(key)) fail(source, ": key '", key, "' is given twice");
    out[key] = {opt.value.empty() ? "" : opt.value.front(), source, priority};
  }
  return out;
}

ConfigValues read_config_file(const std::string& path, int priority) {
  std::ifstream f(path);
  if (!f) fail(path, ": cannot open config file");
  std::stringstream ss;
  ss << f.rdbuf();
  return parse_ini_text(ss.str(), path, priority);
}

TrainConfig resolve_config(const ConfigValues& values) {
  TrainConfig c;
  if (auto it = values.find("model"); it != values.end()) c.model = trim(it->second.value);
  if (!apply_preset(c.model, c.vit)) {
    std::string names;
    for (const auto& n : preset_names()) names += (names.empty() ? "" : ", ") + n;
    const auto it = values.find("model");
    fail(it == values.end() ? "defaults" : it->second.source, ": key 'model': unknown preset '", c.model,
         "' (presets: ", names, ")");
  }
  // A preset from a higher source than a file's architecture keys replaces them (--model on the command line
  // over embed_dim in a config file): the model asked for is the model built.
  const auto model_it = values.find("model");
  const int model_priority = model_it == values.end() ? -1 : model_it->second.priority;
  for (const auto& [key, v] : values) {
    const Entry* e = find_entry(key);
    if (!e) {
      if (const TimmFlag* f = find_timm_flag(key); f && f->kind == TimmFlag::Ignored) {
        c.notes.push_back(key + " (timm's --" + f->flag + ") has no effect: " + f->note);
        continue;
      }
      fail(v.source, ": ", unknown_key_message(key));
    }
    if (key == "model") continue;
    const auto& pk = preset_keys();
    if (v.priority < model_priority && std::find(pk.begin(), pk.end(), key) != pk.end()) {
      continue;  // named in a note below
    }
    e->set(c, v);
  }
  std::map<std::string, std::string> replaced_by_source;  // in preset_keys() order; only values that change
  for (const auto& key : preset_keys())
    if (auto it = values.find(key); it != values.end() && it->second.priority < model_priority &&
                                    trim(it->second.value) != config_get(c, key)) {
      std::string& list = replaced_by_source[it->second.source];
      list += (list.empty() ? "" : ", ") + key + " = " + trim(it->second.value);
    }
  for (const auto& [source, list] : replaced_by_source)
    c.notes.push_back("model = " + c.model + " (" + model_it->second.source + ") replaces " + list + " from " + source +
                      "; give them after it to keep them");
  if (c.dataset == "mnist" && !values.count("hflip")) c.aug.hflip = 0;  // digits are not mirror-symmetric
  if (c.dataset != "fashion-mnist" && !values.count("crop_pad")) c.aug.crop_padding = 0;  // the default run's shifts
  std::set<std::string> sources;
  for (const auto& [key, v] : values) sources.insert(v.source);
  try {
    c.validate();
  } catch (const Error& err) {
    std::string where;
    for (const auto& s : sources) where += (where.empty() ? "" : " + ") + s;
    if (where.empty()) throw;
    fail(where, ": ", err.what());
  }
  return c;
}

void TrainConfig::validate() const {
  auto positive = [](const char* key, double v) {
    if (!(v > 0)) fail("key '", key, "' must be positive, got ", v);
  };
  auto nonneg = [](const char* key, double v) {
    if (!(v >= 0)) fail("key '", key, "' must be >= 0, got ", v);
  };
  auto rate = [](const char* key, double v) {
    if (!(v >= 0 && v < 1)) fail("key '", key, "' must be in [0, 1), got ", v);
  };
  for (auto [k, v] : {std::pair{"img_size", vit.img_size}, {"patch_size", vit.patch_size}, {"in_chans", vit.in_chans},
                      {"embed_dim", vit.embed_dim}, {"depth", vit.depth},
                      {"num_heads", vit.num_heads}, {"epochs", epochs}, {"batch_size", batch_size},
                      {"log_interval", log_interval}})
    positive(k, double(v));
  nonneg("num_classes", double(vit.num_classes));  // 0: a backbone without a head (DINOv2, SigLIP as published)
  if (vit.img_size < vit.patch_size)
    fail("img_size ", vit.img_size, " is smaller than patch_size ", vit.patch_size);
  if (vit.embed_dim % vit.num_heads)
    fail("embed_dim ", vit.embed_dim, " is not divisible by num_heads ", vit.num_heads);
  positive("mlp_ratio", vit.mlp_ratio);
  rate("drop", vit.drop_rate);
  rate("drop_path", vit.drop_path_rate);
  rate("pos_drop", vit.pos_drop_rate);
  rate("proj_drop", vit.proj_drop_rate);
  rate("attn_drop", vit.attn_drop_rate);
  nonneg("init_values", vit.init_values);
  if (vit.global_pool != "token" && vit.global_pool != "avg" && vit.global_pool != "map")
    fail("key 'global_pool' must be token, avg or map, got '", vit.global_pool, "'");
  nonneg("validation_batch_size", double(validation_batch_size));
  nonneg("threads", double(threads));
  if (amp_dtype != "bfloat16")
    fail("key 'amp_dtype' must be bfloat16, got '", amp_dtype, "'",
         amp_dtype == "float16" ? " (float16 autocast is for GPUs; on the CPU, as in PyTorch, mixed precision is bfloat16)" : "");
  if (amp && !bf16_available()) fail("key 'amp' = true: bfloat16 mixed precision needs AVX512_BF16; ", bf16_unavailable_reason());
  nonneg("checkpoint_steps", double(checkpoint_steps));
  positive("grad_accum_steps", double(grad_accum_steps));
  positive("dist_timeout", dist_timeout);
  if (batch_size % grad_accum_steps != 0)
    fail("key 'batch_size' (", batch_size, ") must be divisible by grad_accum_steps (", grad_accum_steps,
         "): each optimizer step's batch is grad_accum_steps equal micro-batches");
  nonneg("train_per_class", double(train_per_class));
  if (!(val_fraction >= 0 && val_fraction < 1)) fail("key 'val_fraction' must be in [0, 1), got ", val_fraction);
  if (val_per_class < -1) fail("key 'val_per_class' must be >= -1, got ", val_per_class);
  for (double c : classes)
    if (c != std::floor(c) || c < 0) fail("key 'classes' takes class numbers (integers >= 0), got ", c);
  positive("lr", lr);
  nonneg("min_lr", min_lr);
  nonneg("warmup_lr", warmup_lr);
  nonneg("warmup_epochs", warmup_epochs);
  nonneg("clip_grad", clip_grad);
  if (sched != "cosine" && sched != "constant") fail("key 'sched' must be cosine or constant, got '", sched, "'");
  if (!(layer_decay == 0 || (layer_decay > 0 && layer_decay <= 1)))
    fail("key 'layer_decay' must be 0 (off) or in (0, 1], got ", layer_decay);
  if (freeze != "none" && freeze != "all_but_head")
    fail("key 'freeze' must be none or all_but_head, got '", freeze, "'");
  if (freeze == "all_but_head" && vit.num_classes <= 0) fail("key 'freeze' = all_but_head needs a head (num_classes > 0)");
  if (dataset != "fashion-mnist" && dataset != "mnist" && dataset != "cifar10" && dataset != "folder")
    fail("key 'dataset' must be fashion-mnist, mnist, cifar10 or folder, got '", dataset, "'");
  if (workers < -1) fail("key 'workers' must be -1 (automatic), 0 or more, got ", workers);
  if (!(model_ema_decay >= 0 && model_ema_decay < 1)) fail("key 'model_ema_decay' must be in [0, 1), got ", model_ema_decay);
  if (aug.image.crop_pct != 0) aug.image.validate();
  else {
    ImageTransformConfig t = aug.image;
    t.crop_pct = 1;
    t.validate();
  }
  if (dataset == "folder" && aug.crop_padding > 0)
    fail("key 'crop_pad' applies to in-memory data sets (fashion-mnist, mnist, cifar10); folders take timm's "
         "RandomResizedCrop (keys scale, ratio)");
  optim.validate();
  if (!aug.mean.empty() || !aug.std.empty()) aug.validate(vit.in_chans);
  vit.validate();
}

std::string config_get(const TrainConfig& cfg, const std::string& key) {
  const Entry* e = find_entry(key);
  if (!e) fail("unknown config key '", key, "'");
  return e->get(cfg);
}

std::string config_to_ini(const TrainConfig& cfg) {
  std::ostringstream os;
  os << "# tapevit resolved config: every key, as used by the run\n";
  for (const char* section : {"model", "data", "train", "optim"}) {
    os << "\n[" << section << "]\n";
    for (const auto& e : entries())
      if (e.key.section == section) os << e.key.name << " = " << e.get(cfg) << "\n";
  }
  return os.str();
}

}  // namespace tapevit
