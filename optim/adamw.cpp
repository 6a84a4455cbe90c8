// optim/adamw.cpp: AdamW as torch.optim.AdamW (PyTorch 1.13, single-tensor path, amsgrad off, decoupled
// weight decay), which timm's create_optimizer_v2('adamw') returns. Per trainable parameter p, gradient g,
// step t (counted before the update, from 1):
//   p *= 1 - lr wd                      (wd = 0 where ParamInfo::decay is false; lr = lr * lr_scale(p))
//   m  = b1 m + (1 - b1) g              state "exp_avg"
//   v  = b2 v + (1 - b2) g g            state "exp_avg_sq"
//   p += -(lr / (1 - b1^t)) m / (sqrt(v) / sqrt(1 - b2^t) + eps)
// Scalars are formed in double (as Python does) and cast to T once; each tensor expression keeps torch's
// operand order, so float32 runs round like torch's.
// One difference: torch counts steps per parameter (a parameter without a gradient keeps its own count);
// here one count serves all, so a parameter unfrozen mid-run gets the run's bias correction.
#include <cmath>

#include "tapevit/optim/optimizer_detail.h"

namespace tapevit {

namespace optim_detail {

namespace {

template <class T>
class AdamW final : public Optimizer<T> {
 public:
  AdamW(const OptimConfig& cfg, const Params<T>& params)
      : beta1_(cfg.beta1), beta2_(cfg.beta2), eps_(cfg.eps), weight_decay_(cfg.weight_decay),
        flat_size_(params.flat_size()), count_(params.size()),
        exp_avg_(zeroed_state_buffer(params, "AdamW")), exp_avg_sq_(zeroed_state_buffer(params, "AdamW")) {}

  void step(Params<T>& params, double lr) override {
    check_step(params, flat_size_, count_, lr, "AdamW");
    const int64_t t = ++this->steps_;
    const double bias_correction1 = 1 - std::pow(beta1_, double(t));
    const double bias_correction2 = 1 - std::pow(beta2_, double(t));
    const T bias_correction2_sqrt = T(std::sqrt(bias_correction2));
    const T b1 = T(beta1_), one_minus_b1 = T(1 - beta1_), b2 = T(beta2_), one_minus_b2 = T(1 - beta2_), eps = T(eps_);
    T* const data = params.data();
    const T* const grad = params.grad();
    T* const m = exp_avg_.get();
    T* const v = exp_avg_sq_.get();
#pragma omp parallel
    for (size_t i = 0; i < count_; ++i) {
      if (!params.value(i)->requires_grad) continue;
      const ParamInfo& info = params.info(i);
      const int64_t off = info.offset, end = off + info.shape.numel();
      const bool decay = info.decay && weight_decay_ != 0;
      const double lr_i = lr * this->lr_scale(i);  // == lr exactly when unscaled
      const T neg_step_size = T(-(lr_i / bias_correction1));
      const T decay_factor = T(1 - lr_i * weight_decay_);
#pragma omp for schedule(static) nowait
      for (int64_t j = off; j < end; ++j) {
        const T g = grad[j];
        T p = data[j];
        if (decay) p *= decay_factor;
        m[j] = m[j] * b1 + one_minus_b1 * g;
        v[j] = v[j] * b2 + one_minus_b2 * g * g;
        const T denom = std::sqrt(v[j]) / bias_correction2_sqrt + eps;
        data[j] = p + neg_step_size * m[j] / denom;
      }
    }
  }

  std::vector<std::pair<std::string, T*>> state() override {
    return {{"exp_avg", exp_avg_.get()}, {"exp_avg_sq", exp_avg_sq_.get()}};
  }

 private:
  double beta1_, beta2_, eps_, weight_decay_;
  int64_t flat_size_;
  size_t count_;
  StateBuffer<T> exp_avg_, exp_avg_sq_;
};

}  // namespace

template <class T>
std::unique_ptr<Optimizer<T>> make_adamw(const OptimConfig& cfg, const Params<T>& params) {
  return std::make_unique<AdamW<T>>(cfg, params);
}

template std::unique_ptr<Optimizer<float>> make_adamw<float>(const OptimConfig&, const Params<float>&);
template std::unique_ptr<Optimizer<double>> make_adamw<double>(const OptimConfig&, const Params<double>&);

}  // namespace optim_detail
}  // namespace tapevit
