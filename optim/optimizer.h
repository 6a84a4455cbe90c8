// optim/optimizer.h: optimizers over a model's flat parameter buffer.
//
// State buffers have the same layout (offsets) as Params, so a step is one loop over all parameters and a
// checkpoint stores each state tensor under its parameter's timm name ("optimizer/exp_avg/blocks.0.attn.qkv.weight").
// Weight decay applies only where ParamInfo::decay (timm: not 1-D tensors, biases, pos_embed, cls_token).
// Frozen parameters (requires_grad false) are left untouched, state included.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tapevit/params.h"

namespace tapevit {

struct OptimConfig {
  std::string opt = "adamw";  // "adamw" | "sgd" (SGD + Nesterov momentum, as timm's 'sgd') | "momentum" (SGD, plain momentum)
  double weight_decay = 0.05;
  double momentum = 0.9;              // sgd / momentum
  double beta1 = 0.9, beta2 = 0.999;  // adamw (timm's opt_betas)
  double eps = 1e-8;                  // adamw (timm's opt_eps)
  void validate() const;              // throws naming the key (opt, weight_decay, momentum, opt_betas, opt_eps)
};

template <class T>
class Optimizer {
 public:
  virtual ~Optimizer() = default;
  // One update with learning rate lr from the gradients in params.grad(). Counts steps (AdamW bias correction).
  virtual void step(Params<T>& params, double lr) = 0;
  // Named state buffers, each flat with the Params layout: "exp_avg", "exp_avg_sq" (adamw), "momentum_buffer" (sgd).
  virtual std::vector<std::pair<std::string, T*>> state() = 0;
  int64_t steps() const { return steps_; }
  void set_steps(int64_t s) { steps_ = s; }  // restoring from a checkpoint
  // Per-parameter learning-rate multipliers, one per Params entry (timm's layer-wise decay sets a param group's
  // lr_scale; its weight decay then uses the scaled lr too, as torch does per group). Empty = 1 everywhere.
  void set_lr_scales(std::vector<double> scales) { lr_scales_ = std::move(scales); }
  double lr_scale(size_t i) const { return lr_scales_.empty() ? 1.0 : lr_scales_[i]; }

 protected:
  int64_t steps_ = 0;
  std::vector<double> lr_scales_;
};

template <class T>
std::unique_ptr<Optimizer<T>> make_optimizer(const OptimConfig& cfg, const Params<T>& params);

// torch.nn.utils.clip_grad_norm_: total L2 norm of all gradients (trainable parameters); if above max_norm,
// scale every gradient by max_norm / (norm + 1e-6). Returns the norm before clipping. max_norm <= 0: no clipping.
// timm's layer-wise learning-rate decay for a ViT of `depth` blocks (param_groups_layer_decay with the ViT's
// group_matcher): layer id 0 for the stem (cls_token, reg_token, dist_token, pos_embed, patch_embed.*), i + 1 for
// blocks.i.*, depth for norm and norm_pre (with the last block), depth + 1 for the head, head_dist, fc_norm and
// attn_pool; scale = decay^(top id - id), where the top id is depth + 1 when any of those last exist, else depth
// (a model without a head). One entry per parameter.
template <class T>
std::vector<double> layer_decay_scales(const Params<T>& params, int64_t depth, double decay);

template <class T>
double clip_grad_norm(Params<T>& params, double max_norm);

}  // namespace tapevit
