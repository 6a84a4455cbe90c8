// optim/optimizer.cpp: see optimizer.h. Config checks, the factory, the shared state-buffer helpers, and
// clip_grad_norm as torch.nn.utils.clip_grad_norm_ (PyTorch 1.13, norm_type 2).
#include "tapevit/optim/optimizer_detail.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

namespace tapevit {

namespace optim_detail {
// Defined in adamw.cpp / sgd.cpp.
template <class T>
std::unique_ptr<Optimizer<T>> make_adamw(const OptimConfig& cfg, const Params<T>& params);
template <class T>
std::unique_ptr<Optimizer<T>> make_sgd(const OptimConfig& cfg, const Params<T>& params, bool nesterov);

// A zeroed, 64-byte aligned flat buffer with the Params layout (flat_size elements), as Params allocates its own.
template <class T>
StateBuffer<T> zeroed_state_buffer(const Params<T>& params, const char* what) {
  if (!params.allocated()) fail(what, ": parameters must be allocated before the optimizer is made");
  const size_t bytes = sizeof(T) * size_t(std::max<int64_t>(params.flat_size(), 64 / sizeof(T)));
  StateBuffer<T> b(static_cast<T*>(std::aligned_alloc(64, (bytes + 63) / 64 * 64)), &std::free);
  if (!b) fail(what, ": cannot allocate ", bytes >> 20, " MiB of optimizer state");
  std::memset(b.get(), 0, bytes);
  return b;
}

// A step must see the parameter set the optimizer was made for, and a usable learning rate.
template <class T>
void check_step(const Params<T>& params, int64_t flat_size, size_t count, double lr, const char* what) {
  if (params.flat_size() != flat_size || params.size() != count)
    fail(what, ": step() on a different parameter set (", params.size(), " tensors, ", params.flat_size(),
         " elements) than the optimizer was made for (", count, " tensors, ", flat_size, " elements)");
  if (!(lr >= 0) || !std::isfinite(lr)) fail(what, ": learning rate must be finite and >= 0, got ", lr);
}
}  // namespace optim_detail

template <class T>
std::vector<double> layer_decay_scales(const Params<T>& params, int64_t depth, double decay) {
  if (!(decay > 0 && decay <= 1)) fail("layer_decay: must be in (0, 1], got ", decay);
  // timm's VisionTransformer.group_matcher through param_groups_layer_decay: stem
  // ^cls_token|reg_token|pos_embed|patch_embed (|dist_token for DeiT-distilled) -> 0; ^blocks.i -> i + 1; ^norm (norm
  // and norm_pre: the regex matches both) -> with the last block; anything else (head, head_dist, fc_norm, attn_pool)
  // -> one group above. The top group is the head's when there is anything there, else the last block's.
  auto starts = [](const std::string& n, const char* p) { return n.rfind(p, 0) == 0; };
  std::vector<int64_t> ids;
  int64_t max_id = depth;
  for (const auto& info : params.infos()) {
    const std::string& n = info.name;
    int64_t id = depth + 1;
    if (starts(n, "cls_token") || starts(n, "reg_token") || starts(n, "dist_token") || starts(n, "pos_embed") ||
        starts(n, "patch_embed"))
      id = 0;
    else if (starts(n, "blocks.")) id = std::stoll(n.substr(7)) + 1;
    else if (starts(n, "norm")) id = depth;
    max_id = std::max(max_id, id);
    ids.push_back(id);
  }
  std::vector<double> scales;
  for (int64_t id : ids) scales.push_back(std::pow(decay, double(max_id - id)));
  return scales;
}

void OptimConfig::validate() const {
  if (opt != "adamw" && opt != "sgd" && opt != "momentum")
    fail("opt: unknown optimizer '", opt, "' (accepted: adamw, sgd, momentum)");
  if (!(weight_decay >= 0) || !std::isfinite(weight_decay))
    fail("weight_decay: must be finite and >= 0, got ", weight_decay);
  // torch.optim.SGD: momentum >= 0; Nesterov needs momentum > 0. Momentum >= 1 makes the buffer grow without bound.
  if (!(momentum >= 0 && momentum < 1)) fail("momentum: must be in [0, 1), got ", momentum);
  if (opt == "sgd" && momentum == 0) fail("momentum: opt = sgd (Nesterov) needs momentum > 0, got 0");
  if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1))
    fail("opt_betas: each beta must be in [0, 1), got (", beta1, ", ", beta2, ")");
  if (!(eps >= 0) || !std::isfinite(eps)) fail("opt_eps: must be finite and >= 0, got ", eps);
}

template <class T>
std::unique_ptr<Optimizer<T>> make_optimizer(const OptimConfig& cfg, const Params<T>& params) {
  cfg.validate();
  if (cfg.opt == "adamw") return optim_detail::make_adamw(cfg, params);
  return optim_detail::make_sgd(cfg, params, cfg.opt == "sgd");
}

// Sum of squares in double over fixed blocks of each tensor (each block summed serially, the block sums added in
// index order), so the norm is bit-identical for any thread count. torch sums in the gradient's dtype; summing
// float gradients in double only makes the float32 result more accurate.
template <class T>
double clip_grad_norm(Params<T>& params, double max_norm) {
  constexpr int64_t kBlock = 1 << 14;
  std::vector<int64_t> first_block(params.size() + 1, 0);  // block range of tensor i: [first_block[i], first_block[i+1])
  for (size_t i = 0; i < params.size(); ++i) {
    const int64_t n = params.value(i)->requires_grad ? params.info(i).shape.numel() : 0;
    first_block[i + 1] = first_block[i] + (n + kBlock - 1) / kBlock;
  }
  std::vector<double> partial(size_t(first_block.back()), 0.0);
#pragma omp parallel
  for (size_t i = 0; i < params.size(); ++i) {
    const T* g = params.grad() + params.info(i).offset;
    const int64_t n = params.info(i).shape.numel(), b0 = first_block[i], nb = first_block[i + 1] - b0;
#pragma omp for schedule(static) nowait
    for (int64_t b = 0; b < nb; ++b) {
      double s = 0;
      for (int64_t j = b * kBlock, end = std::min(n, j + kBlock); j < end; ++j) s += double(g[j]) * double(g[j]);
      partial[size_t(b0 + b)] = s;
    }
  }
  double sum_sq = 0;
  for (double s : partial) sum_sq += s;
  const double norm = std::sqrt(sum_sq);
  if (max_norm <= 0) return norm;
  // torch: clip_coef = max_norm / (norm + 1e-6), clamped to 1, so it scales exactly when the coefficient is < 1.
  const double coef = max_norm / (norm + 1e-6);
  if (!(coef < 1)) return norm;
  const T c = T(coef);
#pragma omp parallel
  for (size_t i = 0; i < params.size(); ++i) {
    if (!params.value(i)->requires_grad) continue;
    T* g = params.grad() + params.info(i).offset;
    const int64_t n = params.info(i).shape.numel();
#pragma omp for schedule(static) nowait
    for (int64_t j = 0; j < n; ++j) g[j] *= c;
  }
  return norm;
}

#define TAPEVIT_INSTANTIATE(T)                                                                                   \
  template std::unique_ptr<Optimizer<T>> make_optimizer<T>(const OptimConfig&, const Params<T>&);               \
  template double clip_grad_norm<T>(Params<T>&, double);                                                         \
  template optim_detail::StateBuffer<T> optim_detail::zeroed_state_buffer<T>(const Params<T>&, const char*);     \
  template void optim_detail::check_step<T>(const Params<T>&, int64_t, size_t, double, const char*); \
  template std::vector<double> layer_decay_scales<T>(const Params<T>&, int64_t, double);
TAPEVIT_INSTANTIATE(float)
TAPEVIT_INSTANTIATE(double)

}  // namespace tapevit
