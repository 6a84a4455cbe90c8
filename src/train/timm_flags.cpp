// src/train/timm_flags.cpp: see tapevit/train/timm_flags.h. The list follows timm's train.py argument parser.
#include "tapevit/train/timm_flags.h"

#include <algorithm>
#include <sstream>

namespace tapevit {

namespace {

TimmFlag alias(const char* flag, const char* key) { return {TimmFlag::Alias, flag, key, ""}; }
TimmFlag ignored(const char* flag, const char* note) { return {TimmFlag::Ignored, flag, "", note}; }
TimmFlag no(const char* flag, const char* note) { return {TimmFlag::Unsupported, flag, "", note}; }

std::string dashes_to_underscores(std::string s) {
  std::replace(s.begin(), s.end(), '-', '_');
  return s;
}

}  // namespace

const std::vector<TimmFlag>& timm_flags() {
  static const std::vector<TimmFlag> flags = {
      // the same meaning under the same name (dashes for underscores) or another one
      alias("model", "model"), alias("img-size", "img_size"), alias("in-chans", "in_chans"),
      alias("num-classes", "num_classes"), alias("gp", "global_pool"), alias("drop", "drop"),
      alias("drop-path", "drop_path"), alias("initial-checkpoint", "init"), alias("data-dir", "data_dir"),
      alias("dataset", "dataset"), alias("mean", "mean"), alias("std", "std"), alias("hflip", "hflip"),
      alias("mixup", "mixup"), alias("cutmix", "cutmix"), alias("mixup-prob", "mixup_prob"),
      alias("mixup-switch-prob", "mixup_switch_prob"), alias("smoothing", "smoothing"), alias("no-aug", "no_aug"),
      alias("epochs", "epochs"), alias("batch-size", "batch_size"), alias("b", "batch_size"),
      alias("validation-batch-size", "validation_batch_size"), alias("vb", "validation_batch_size"),
      alias("seed", "seed"), alias("output", "output"), alias("log-interval", "log_interval"),
      alias("recovery-interval", "checkpoint_steps"), alias("opt", "opt"), alias("lr", "lr"),
      alias("weight-decay", "weight_decay"), alias("momentum", "momentum"), alias("opt-eps", "opt_eps"),
      alias("opt-betas", "opt_betas"), alias("clip-grad", "clip_grad"), alias("sched", "sched"),
      alias("warmup-epochs", "warmup_epochs"), alias("warmup-lr", "warmup_lr"), alias("min-lr", "min_lr"),
      alias("layer-decay", "layer_decay"), alias("aa", "aa"), alias("reprob", "reprob"), alias("remode", "remode"),
      alias("recount", "recount"), alias("color-jitter", "color_jitter"), alias("scale", "scale"),
      alias("ratio", "ratio"), alias("vflip", "vflip"), alias("train-interpolation", "train_interpolation"),
      alias("interpolation", "interpolation"), alias("crop-pct", "crop_pct"), alias("train-split", "train_split"),
      alias("val-split", "val_split"), alias("class-map", "class_map"), alias("workers", "workers"),
      alias("j", "workers"), alias("model-ema", "model_ema"), alias("model-ema-decay", "model_ema_decay"),
      alias("amp", "amp"), alias("amp-dtype", "amp_dtype"), alias("grad-accum-steps", "grad_accum_steps"),
      // only tune PyTorch's machinery: no difference here
      ignored("pin-mem", "no GPU to copy to"), ignored("no-prefetcher", "no GPU prefetcher"),
      ignored("channels-last", "no memory-format choice on the CPU"), ignored("torchcompile", "no compiler stage"),
      ignored("sched-on-updates", "the schedule always steps per update"),
      ignored("use-multi-epochs-loader", "no loader processes to keep"),
      // not (yet) in tapevit
      no("pretrained", "give the weights as a file: --init model.safetensors (timm's Hub layout) or a tapevit .h5"),
      no("experiment", "name the run directory: --output runs/NAME"),
      no("input-size", "use img_size and in_chans"),
      no("crop-mode", "eval crops are timm's default 'center'"),
      no("model-ema-warmup", "the EMA decay is constant after its first step (timm's default)"),
      no("bce-loss", "the loss is soft-target cross-entropy"), no("jsd-loss", "the loss is soft-target cross-entropy"),
      no("decay-epochs", "sched is cosine or constant"), no("decay-rate", "sched is cosine or constant"),
      no("cooldown-epochs", "sched is cosine or constant"), no("patience-epochs", "sched is cosine or constant"),
      no("warmup-prefix", "warmup is always part of the schedule's length"),
      no("lr-base", "give lr directly (no batch-size scaling)"), no("lr-base-size", "give lr directly"),
      no("lr-base-scale", "give lr directly"), no("lr-noise", "no lr noise"), no("lr-cycle-mul", "no lr cycles"),
      no("lr-cycle-limit", "no lr cycles"), no("lr-k-decay", "cosine is timm's k = 1"),
      no("mixup-mode", "mixing is per batch (timm's mode 'batch')"),
      no("mixup-off-epoch", "mixup stays on for the whole run"),
      no("no-resume-opt", "a resume restores the optimizer state (start a new run from weights with --init)"),
      no("start-epoch", "a resume restores its epoch from the checkpoint"),
      no("checkpoint-hist", "a run keeps last.h5 and best.h5"),
      no("eval-metric", "best.h5 is chosen by eval top-1"), no("model-kwargs", "set the model keys directly"),
      no("opt-kwargs", "set the optimizer keys directly"), no("grad-checkpointing", "activations are kept (or recomputed by the fused nodes)"),
      no("sync-bn", "ViTs have no BatchNorm"), no("dist-bn", "ViTs have no BatchNorm"),
      no("split-bn", "ViTs have no BatchNorm"), no("aug-splits", "no augmentation splits"),
      no("drop-block", "no DropBlock in a ViT"), no("drop-connect", "use drop_path"),
      no("device", "tapevit runs on the CPU"), no("log-wandb", "progress goes to the terminal, summary.csv and curves.svg"),
      no("torchscript", "no TorchScript"), no("save-images", "no image dumps"), no("resplit", "no augmentation splits"),
      no("epoch-repeats", "an epoch is one pass over the data"),
      no("head-init-scale", "the head is initialised as timm's default"),
      no("head-init-bias", "the head is initialised as timm's default"),
  };
  return flags;
}

const TimmFlag* find_timm_flag(const std::string& name) {
  const std::string n = dashes_to_underscores(name);
  for (const auto& f : timm_flags())
    if (dashes_to_underscores(f.flag) == n) return &f;
  return nullptr;
}

std::string canonical_key(const std::string& name) {
  const TimmFlag* f = find_timm_flag(name);
  return f && f->kind == TimmFlag::Alias ? f->key : dashes_to_underscores(name);
}

std::string timm_flag_table() {
  std::ostringstream os;
  os << "| timm flag | tapevit | note |\n|---|---|---|\n";
  for (const auto& f : timm_flags()) {
    const std::string dashes = f.flag.size() == 1 || f.flag == "vb" ? "-" : "--";
    os << "| `" << dashes << f.flag << "` | ";
    if (f.kind == TimmFlag::Alias) os << "`" << f.key << "` |  |\n";
    else if (f.kind == TimmFlag::Ignored) os << "accepted, no effect | " << f.note << " |\n";
    else os << "not yet | " << f.note << " |\n";
  }
  return os.str();
}

}  // namespace tapevit
