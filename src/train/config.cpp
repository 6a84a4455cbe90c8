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

// The spellings a boolean key takes (any case), true's and false's side by side: the parser and every message
// that names them read this one table.
constexpr const char* kBoolWords[][2] = {{"true", "false"}, {"1", "0"}, {"yes", "no"}, {"on", "off"}};

bool parse_bool(const std::string& key, const ConfigValue& v) {
  std::string s = trim(v.value);
  std::transform(s.begin(), s.end(), s.begin(), ::tolower);
  for (const auto& [yes, no] : kBoolWords) {
    if (s == yes) return true;
    if (s == no) return false;
  }
  bad_value(key, v, bool_spellings().c_str());
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

std::string either(const std::vector<std::string>& xs) {  // "a, b or c"
  std::string s;
  for (size_t i = 0; i < xs.size(); ++i) s += (i == 0 ? "" : i + 1 == xs.size() ? " or " : ", ") + xs[i];
  return s;
}

// One key: its name, section, help and commands, how it is read and written, and its own check. Checks across keys
// are TrainConfig::validate's; the keys of the parts (model, augmentation, optimizer) are checked by the part's own
// validate(), the one place for them, so their entries have no check.
struct Entry {
  ConfigKey key;
  std::function<void(TrainConfig&, const ConfigValue&)> set;
  std::function<std::string(const TrainConfig&)> get;
  std::function<void(const TrainConfig&)> check = nullptr;

  // Also taken by these commands (ConfigCommand bits).
  Entry also(unsigned commands) && {
    key.commands |= commands;
    return std::move(*this);
  }
  // Taken by these commands only (a key of predict's, not train's).
  Entry only(unsigned commands) && {
    key.commands = commands;
    return std::move(*this);
  }
  // The value (as a number) must satisfy ok: "key 'lr' must be positive, got -0.1".
  Entry must(bool (*ok)(double), const char* what) && {
    check = [name = key.name, get = get, ok, what](const TrainConfig& c) {
      const std::string text = get(c);
      if (!ok(std::strtod(text.c_str(), nullptr))) fail("key '", name, "' must be ", what, ", got ", text);
    };
    return std::move(*this);
  }
  Entry positive() && { return std::move(*this).must([](double v) { return v > 0; }, "positive"); }
  Entry nonneg() && { return std::move(*this).must([](double v) { return v >= 0; }, ">= 0"); }
  Entry rate() && { return std::move(*this).must([](double v) { return v >= 0 && v < 1; }, "in [0, 1)"); }
  // The value must be one of these: "key 'sched' must be cosine or constant, got 'step'".
  Entry one_of(std::vector<std::string> values) && {
    check = [name = key.name, get = get, values](const TrainConfig& c) {
      const std::string v = get(c);
      if (std::find(values.begin(), values.end(), v) == values.end())
        fail("key '", name, "' must be ", either(values), ", got '", v, "'");
    };
    return std::move(*this);
  }
  Entry checked(std::function<void(const TrainConfig&)> f) && {
    check = std::move(f);
    return std::move(*this);
  }
};

template <class F>
Entry int_key(const char* name, const char* section, const std::string& help, F field) {
  return {{name, section, help},
          [=](TrainConfig& c, const ConfigValue& v) { field(c) = decltype(+field(c))(parse_int(name, v)); },
          [=](const TrainConfig& c) { return std::to_string(field(const_cast<TrainConfig&>(c))); }};
}
template <class F>
Entry num_key(const char* name, const char* section, const std::string& help, F field) {
  return {{name, section, help}, [=](TrainConfig& c, const ConfigValue& v) { field(c) = parse_double(name, v); },
          [=](const TrainConfig& c) { return fmt(field(const_cast<TrainConfig&>(c))); }};
}
template <class F>
Entry bool_key(const char* name, const char* section, const std::string& help, F field) {
  return {{name, section, help}, [=](TrainConfig& c, const ConfigValue& v) { field(c) = parse_bool(name, v); },
          [=](const TrainConfig& c) { return std::string(field(const_cast<TrainConfig&>(c)) ? "true" : "false"); }};
}
template <class F>
Entry str_key(const char* name, const char* section, const std::string& help, F field) {
  return {{name, section, help}, [=](TrainConfig& c, const ConfigValue& v) { field(c) = trim(v.value); },
          [=](const TrainConfig& c) { return field(const_cast<TrainConfig&>(c)); }};
}
template <class F>
Entry list_key(const char* name, const char* section, const std::string& help, F field) {
  return {{name, section, help}, [=](TrainConfig& c, const ConfigValue& v) { field(c) = parse_list(name, v); },
          [=](const TrainConfig& c) { return fmt_list(field(const_cast<TrainConfig&>(c))); }};
}

template <class F>
Entry pair_key(const char* name, const char* section, const std::string& help, F field) {
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
Entry interp_key(const char* name, const char* section, const std::string& help, bool allow_random, F field) {
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

std::vector<std::string> data_set_name_list() {
  std::vector<std::string> names;
  for (const auto& k : data_set_kinds()) names.push_back(k.name);
  return names;
}

void check_classes(const TrainConfig& c) {
  for (double x : c.classes)
    if (x != std::floor(x) || x < 0) fail("key 'classes' takes class numbers (integers >= 0), got ", x);
}

void check_amp(const TrainConfig& c) {
  if (c.amp && !bf16_available())
    fail("key 'amp' = true: bfloat16 mixed precision needs AVX512_BF16; ", bf16_unavailable_reason());
}

void check_amp_dtype(const TrainConfig& c) {
  if (c.amp_dtype != "bfloat16")
    fail("key 'amp_dtype' must be bfloat16, got '", c.amp_dtype, "'",
         c.amp_dtype == "float16" ? " (float16 autocast is for GPUs; on the CPU, as in PyTorch, mixed precision is bfloat16)" : "");
}

#define F(expr) [](TrainConfig& c) -> auto& { return c.expr; }

const std::vector<Entry>& entries() {
  static const std::vector<Entry> table = {
      // [model]
      str_key("model", "model", "architecture preset: vit_fmnist, vit_cifar, vit_tiny_patch16_224, ... (keys below override it)", F(model)).also(kPredictCommand),
      int_key("img_size", "model", "input image size (square)", F(vit.img_size)).also(kPredictCommand),
      int_key("patch_size", "model", "patch size", F(vit.patch_size)).also(kPredictCommand),
      int_key("in_chans", "model", "input channels", F(vit.in_chans)).also(kPredictCommand),
      int_key("num_classes", "model", "classes (head outputs)", F(vit.num_classes)).also(kPredictCommand),
      int_key("embed_dim", "model", "embedding dim C", F(vit.embed_dim)).also(kPredictCommand),
      int_key("depth", "model", "transformer blocks", F(vit.depth)).also(kPredictCommand),
      int_key("num_heads", "model", "attention heads (embed_dim must be divisible by it)", F(vit.num_heads)).also(kPredictCommand),
      int_key("num_kv_heads", "model", "key/value heads, each shared by num_heads / num_kv_heads query heads in order (PyTorch's enable_gqa): 0 = num_heads (multi-head), 1 = multi-query; must divide num_heads", F(vit.num_kv_heads)).also(kPredictCommand),
      num_key("mlp_ratio", "model", "MLP hidden = int(embed_dim * mlp_ratio)", F(vit.mlp_ratio)).also(kPredictCommand),
      bool_key("qkv_bias", "model", "bias in the fused qkv Linear", F(vit.qkv_bias)).also(kPredictCommand),
      num_key("drop", "model", "head dropout (timm drop_rate)", F(vit.drop_rate)),
      num_key("drop_path", "model", "stochastic depth rate, linear over blocks (timm drop_path_rate)", F(vit.drop_path_rate)),
      num_key("pos_drop", "model", "dropout after pos_embed (timm pos_drop_rate)", F(vit.pos_drop_rate)),
      num_key("proj_drop", "model", "attention-proj and MLP dropout (timm proj_drop_rate)", F(vit.proj_drop_rate)),
      num_key("attn_drop", "model", "attention-probability dropout (timm attn_drop_rate)", F(vit.attn_drop_rate)),
      num_key("init_values", "model", "LayerScale init; 0 = no LayerScale", F(vit.init_values)).also(kPredictCommand),
      str_key("global_pool", "model", "token (the class token), avg (mean of the patch tokens) or map (SigLIP's attention pool)", F(vit.global_pool)).also(kPredictCommand),
      bool_key("class_token", "model", "a class token first in the sequence", F(vit.class_token)).also(kPredictCommand),
      int_key("reg_tokens", "model", "register tokens after the class token (DINOv2-reg, SBB ViTs)", F(vit.reg_tokens)).also(kPredictCommand),
      bool_key("no_embed_class", "model", "pos_embed covers the patches only, the prefix tokens get no position", F(vit.no_embed_class)).also(kPredictCommand),
      bool_key("pre_norm", "model", "CLIP: a LayerNorm (norm_pre) before the blocks, no patch_embed bias", F(vit.pre_norm)).also(kPredictCommand),
      num_key("norm_eps", "model", "eps of every LayerNorm (timm 1e-6; CLIP 1e-5)", F(vit.norm_eps)).also(kPredictCommand),
      str_key("act_layer", "model", "the MLPs' activation: gelu (erf), gelu_tanh or quick_gelu", F(vit.act_layer)).also(kPredictCommand),
      str_key("fc_norm", "model", "auto (= global_pool is avg), true or false: the final LayerNorm after pooling", F(vit.fc_norm)).also(kPredictCommand),
      bool_key("final_norm", "model", "a final LayerNorm (norm before pooling, or fc_norm after it)", F(vit.final_norm)).also(kPredictCommand),
      bool_key("distilled", "model", "DeiT's distilled ViT: a distillation token and head_dist, logits = the two heads' mean", F(vit.distilled)).also(kPredictCommand),
      str_key("init", "model", "start from these weights: a timm model.safetensors or a tapevit checkpoint (.h5)", F(init)).also(kPredictCommand),
      bool_key("init_strict", "model", "refuse weights with missing, unexpected or misshapen tensors (timm's rules aside)", F(init_strict)).also(kPredictCommand),
      // [data]
      str_key("dataset", "data", either(data_set_name_list()) + " (folder: timm's ImageFolder, data_dir/train/<class>/*.jpg|png)", F(dataset)).also(kEvalCommand | kPredictCommand).one_of(data_set_name_list()),
      str_key("data_dir", "data", "directory of the data files (empty: the dataset's default)", F(data_dir)).also(kEvalCommand),
      str_key("train_split", "data", "folder: the training split's sub-folder of data_dir (eval: where val_fraction's images are)", F(train_split)).also(kEvalCommand),
      str_key("val_split", "data", "folder: the eval split's sub-folder (empty: the first of validation, val, test)", F(val_split)).also(kEvalCommand),
      str_key("class_map", "data", "folder: a file of class names, one per line, in label order (empty: the sub-folders in natural order)", F(class_map)).also(kEvalCommand),
      bool_key("skip_bad", "data", "predict: leave out images that cannot be read or decoded, naming each and why (else the first stops predict)", F(skip_bad)).only(kPredictCommand),
      bool_key("cache", "data", "folder: decode every image once into memory (small data sets)", F(cache)),
      int_key("workers", "data", "threads decoding and augmenting batches ahead of the step (-1: one per two cores for folders, 0 for in-memory data)", F(workers)).also(kEvalCommand | kPredictCommand).must([](double v) { return v >= -1; }, "-1 (automatic), 0 or more"),
      list_key("mean", "data", "per-channel mean for normalisation (empty: the dataset's)", F(aug.mean)).also(kEvalCommand | kPredictCommand),
      list_key("std", "data", "per-channel std for normalisation (empty: the dataset's)", F(aug.std)).also(kEvalCommand | kPredictCommand),
      list_key("classes", "data", "keep only these classes, relabelled 0.. in this order (empty: all)", F(classes)).also(kEvalCommand).checked(check_classes),
      int_key("train_per_class", "data", "keep the first N training images of each class (0: all)", F(train_per_class)).nonneg(),
      num_key("val_fraction", "data", "evaluate (and choose best.h5) on this fraction of train held out (0: the test split; folders: the val split). eval: score the images the run held out (its own val_fraction) instead of the val split", F(val_fraction)).also(kEvalCommand).rate(),
      int_key("val_per_class", "data", "evaluate on the first N images of each class (0: all; -1: 100 when train_per_class is set, else all)", F(val_per_class)).must([](double v) { return v >= -1; }, ">= -1"),
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
      interp_key("interpolation", "data", "folder: eval resize resampling (bicubic, bilinear, ...)", false, F(aug.image.interpolation)).also(kEvalCommand | kPredictCommand),
      num_key("crop_pct", "data", "folder: eval resizes to img_size / crop_pct, then center-crops (0: the preset's, else 0.875)", F(aug.image.crop_pct)).also(kEvalCommand | kPredictCommand),
      num_key("vflip", "data", "folder: vertical flip probability", F(aug.image.vflip)),
      num_key("color_jitter", "data", "folder: brightness, contrast and saturation jitter (0 = off; ignored with aa)", F(aug.image.color_jitter)),
      str_key("aa", "data", "folder: RandAugment, e.g. rand-m9-mstd0.5-inc1 (empty = off)", F(aug.image.aa)),
      num_key("reprob", "data", "folder: random erasing probability (0 = off)", F(aug.image.reprob)),
      str_key("remode", "data", "folder: random erasing values: pixel (noise), rand (a colour per box) or const (0)", F(aug.image.remode)),
      int_key("recount", "data", "folder: random erasing boxes per image (1 to recount)", F(aug.image.recount)),
      // [train]
      int_key("epochs", "train", "epochs to train", F(epochs)).positive(),
      int_key("batch_size", "train", "training batch size (and evaluation's, when validation_batch_size is 0)", F(batch_size)).also(kEvalCommand | kPredictCommand).positive(),
      int_key("validation_batch_size", "train", "evaluation batch size (0 = batch_size)", F(validation_batch_size)).also(kEvalCommand | kPredictCommand).nonneg(),
      int_key("seed", "train", "seed for init, data order, augmentation and dropout", F(seed)),
      int_key("threads", "train", "OpenMP threads (0 = all cores)", F(threads)).also(kEvalCommand | kPredictCommand).nonneg(),
      bool_key("amp", "train", "mixed precision: matrix products on bfloat16 operands, float32 accumulation (needs AVX512_BF16)", F(amp)).also(kEvalCommand | kPredictCommand).checked(check_amp),
      str_key("amp_dtype", "train", "the mixed-precision type: bfloat16 (float16 is for GPUs)", F(amp_dtype)).checked(check_amp_dtype),
      int_key("checkpoint_steps", "train", "also write last.h5 every N steps (0 = at epoch ends only)", F(checkpoint_steps)).nonneg(),
      int_key("grad_accum_steps", "train", "micro-batches per optimizer step, gradients summed (less memory, the same training)", F(grad_accum_steps)).positive(),
      num_key("dist_timeout", "train", "several ranks (mpirun): seconds a collective may wait before the run aborts", F(dist_timeout)).positive(),
      int_key("log_interval", "train", "steps between progress lines when output is not a terminal", F(log_interval)).positive(),
      str_key("output", "train", "run directory (empty: runs/<date>-<time>-<model>)", F(output)),
      bool_key("model_ema", "train", "keep an exponential moving average of the weights, evaluated and saved beside them (timm's --model-ema)", F(model_ema)),
      num_key("model_ema_decay", "train", "EMA decay per optimizer step (the first step copies the weights)", F(model_ema_decay)).rate(),
      str_key("recipe", "train", "what these values are tuned for: scratch (random weights) or finetune (pretrained weights from init; without init the start-up warns)", F(recipe)).one_of({"scratch", "finetune"}),
      // [optim]
      str_key("opt", "optim", "adamw, sgd (Nesterov momentum, as timm) or momentum", F(optim.opt)),
      num_key("lr", "optim", "peak learning rate", F(lr)).positive(),
      num_key("weight_decay", "optim", "weight decay (not on 1-D tensors, pos_embed, cls_token)", F(optim.weight_decay)),
      num_key("momentum", "optim", "SGD momentum", F(optim.momentum)),
      {{"opt_betas", "optim", "AdamW betas, two numbers"},
       [](TrainConfig& c, const ConfigValue& v) {
         auto b = parse_list("opt_betas", v);
         if (b.size() != 2) bad_value("opt_betas", v, "two numbers");
         c.optim.beta1 = b[0], c.optim.beta2 = b[1];
       },
       [](const TrainConfig& c) { return fmt_list({c.optim.beta1, c.optim.beta2}); }},
      num_key("opt_eps", "optim", "AdamW epsilon", F(optim.eps)),
      num_key("clip_grad", "optim", "clip gradients to this global L2 norm (0 = off)", F(clip_grad)).nonneg(),
      str_key("sched", "optim", "cosine or constant (after warmup), stepped per update", F(sched)).one_of({"cosine", "constant"}),
      num_key("warmup_epochs", "optim", "linear warmup length in epochs (may be fractional)", F(warmup_epochs)).nonneg(),
      num_key("warmup_lr", "optim", "learning rate at the start of warmup", F(warmup_lr)).nonneg(),
      num_key("min_lr", "optim", "cosine floor", F(min_lr)).nonneg(),
      num_key("layer_decay", "optim", "layer-wise lr decay as timm (0 = off): lr x decay^(depth + 1 - layer)", F(layer_decay)).must([](double v) { return v == 0 || (v > 0 && v <= 1); }, "0 (off) or in (0, 1]"),
      str_key("freeze", "optim", "none, or all_but_head (train head.* only: a linear probe)", F(freeze)).one_of({"none", "all_but_head"}),
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

// mean/std given for other images than the model takes: from an earlier source than the one that set in_chans (the
// --init weights' config.json under a command-line --in_chans 1, a config file under a --model of another channel
// count). As timm's loader does when the pretrained mean/std do not match the image channels (timm/data/loader.py,
// adapt_to_chs: "Pretrained mean/std different shape than model, using avg value"), each becomes the average of its
// values, once per channel; the patch embedding's weights are adapted alongside (load_pretrained, timm's
// adapt_input_conv: summed for 1 channel, repeated and scaled for more). Said in a note. Values set by the same or a
// later source than in_chans stay, and validate() names them if they do not fit.
void fit_stats_to_channels(TrainConfig& c, const ConfigValues& values, int model_priority) {
  const auto chans_it = values.find("in_chans");
  const bool key_wins = chans_it != values.end() && chans_it->second.priority >= model_priority;
  const int chans_priority = key_wins ? chans_it->second.priority : model_priority;  // the preset's, else
  const auto model_it = values.find("model");
  const std::string chans_source = key_wins ? chans_it->second.source
                                   : model_it != values.end() ? "model = " + c.model + ", " + model_it->second.source
                                                              : "model = " + c.model;
  const size_t n = size_t(c.vit.in_chans);
  for (auto* list : {&c.aug.mean, &c.aug.std}) {
    const std::string key = list == &c.aug.mean ? "mean" : "std";
    const auto it = values.find(key);
    if (it == values.end() || it->second.priority >= chans_priority || list->size() <= 1 || list->size() == n || n == 0)
      continue;
    double sum = 0;
    for (double x : *list) sum += x;
    const std::string was = fmt_list(*list), count = std::to_string(list->size());
    list->assign(n, sum / double(list->size()));
    c.notes.push_back(key + " = " + was + " (" + it->second.source + ") is for " + count + " channels; in_chans = " +
                      std::to_string(n) + " (" + chans_source + "): " + key + " = " + fmt(list->front()) +
                      ", their average, as timm's loader does; set " + key + " to choose another");
  }
}

}  // namespace

std::string bool_spellings() {
  std::string also;
  for (size_t i = 1; i < std::size(kBoolWords); ++i)
    also += std::string(i > 1 ? ", " : "") + kBoolWords[i][0] + "/" + kBoolWords[i][1];
  return std::string(kBoolWords[0][0]) + " or " + kBoolWords[0][1] + " (or " + also + ")";
}

const std::vector<ConfigKey>& config_keys() {
  static const std::vector<ConfigKey> keys = [] {
    std::vector<ConfigKey> k;
    for (const auto& e : entries()) k.push_back(e.key);
    return k;
  }();
  return keys;
}

std::vector<std::string> config_keys_for(ConfigCommand command) {
  std::vector<std::string> out;
  for (const auto& e : entries())
    if (e.key.commands & command) out.push_back(e.key.name);
  return out;
}

const ConfigKey* find_config_key(const std::string& name) {
  const Entry* e = find_entry(name);
  return e ? &e->key : nullptr;
}

std::string suggest_config_key(const std::string& name, const std::vector<std::string>& among) {
  const std::string norm = canonical_key(name);
  // close names only: at most a third of the name's letters wrong (embed_dmi -> embed_dim, not amp -> drop)
  size_t best_d = std::max<size_t>(1, norm.size() / 3) + 1;
  std::string best;
  for (const auto& e : entries()) {
    if (!among.empty() && std::find(among.begin(), among.end(), e.key.name) == among.end()) continue;
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
  // Only values that change: compared as the key reads them (config.json's mlp_ratio 4.0 is the preset's 4).
  auto changes = [&c](const std::string& key, const ConfigValue& v) {
    TrainConfig t = c;
    try {
      find_entry(key)->set(t, v);
    } catch (const Error&) {
      return true;  // not even a value of the key
    }
    return config_get(t, key) != config_get(c, key);
  };
  std::map<std::string, std::string> replaced_by_source;  // in preset_keys() order
  for (const auto& key : preset_keys())
    if (auto it = values.find(key); it != values.end() && it->second.priority < model_priority && changes(key, it->second)) {
      std::string& list = replaced_by_source[it->second.source];
      list += (list.empty() ? "" : ", ") + key + " = " + trim(it->second.value);
    }
  for (const auto& [source, list] : replaced_by_source)
    c.notes.push_back("model = " + c.model + " (" + model_it->second.source + ") replaces " + list + " from " + source +
                      "; give them after it to keep them");
  fit_stats_to_channels(c, values, model_priority);
  for (const auto& kind : data_set_kinds())  // the data set's defaults, unless given (an unknown one: validate says)
    if (kind.name == c.dataset) {
      if (!values.count("crop_pad")) c.aug.crop_padding = kind.crop_pad;
      if (!values.count("hflip") && !kind.mirror_symmetric) c.aug.hflip = 0;
    }
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
  for (const auto& e : entries())  // each key's own check
    if (e.check) e.check(*this);
  // across keys
  if (batch_size % grad_accum_steps != 0)
    fail("key 'batch_size' (", batch_size, ") must be divisible by grad_accum_steps (", grad_accum_steps,
         "): each optimizer step's batch is grad_accum_steps equal micro-batches");
  if (freeze == "all_but_head" && vit.num_classes <= 0) fail("key 'freeze' = all_but_head needs a head (num_classes > 0)");
  if (dataset == "folder" && aug.crop_padding > 0)
    fail("key 'crop_pad' applies to in-memory data sets (fashion-mnist, mnist, cifar10); folders take timm's "
         "RandomResizedCrop (keys scale, ratio)");
  // the parts' own checks
  if (aug.image.crop_pct != 0) aug.image.validate();
  else {  // 0: bound later to the preset's
    ImageTransformConfig t = aug.image;
    t.crop_pct = 1;
    t.validate();
  }
  optim.validate();
  if (!aug.mean.empty() || !aug.std.empty()) aug.validate(vit.in_chans);
  vit.validate();
}

std::string config_get(const TrainConfig& cfg, const std::string& key) {
  const Entry* e = find_entry(key);
  if (!e) fail("unknown config key '", key, "'");
  return e->get(cfg);
}

void config_set(TrainConfig& cfg, const std::string& key, const std::string& value, const std::string& source) {
  const Entry* e = find_entry(key);
  if (!e) fail(source, ": ", unknown_key_message(key));
  e->set(cfg, {value, source});
}

std::string config_to_ini(const TrainConfig& cfg) {
  std::ostringstream os;
  os << "# tapevit resolved config: every key, as used by the run\n";
  for (const char* section : {"model", "data", "train", "optim"}) {
    os << "\n[" << section << "]\n";
    for (const auto& e : entries())
      if (e.key.section == section && (e.key.commands & kTrainCommand))  // not predict's own keys (skip_bad)
        os << e.key.name << " = " << e.get(cfg) << "\n";
  }
  return os.str();
}

}  // namespace tapevit
