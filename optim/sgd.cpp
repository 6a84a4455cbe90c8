// optim/sgd.cpp: SGD with momentum as torch.optim.SGD (PyTorch 1.13, single-tensor path, dampening 0), which
// timm's create_optimizer_v2 returns for 'sgd' (nesterov=True) and 'momentum' (nesterov=False).
// Per trainable parameter p, gradient g:
//   d   = g + wd p                      (wd = 0 where ParamInfo::decay is false)
//   buf = d on the first step, else momentum buf + d      state "momentum_buffer"
//   d   = d + momentum buf (Nesterov)   or   d = buf
//   p  += -lr d
// "First step" is steps() == 0, not a private flag, so a restored buffer plus set_steps() continues exactly.
// (The buffer starts at zero, so momentum * 0 + d would give the same d; the branch just mirrors torch.)
#include "tapevit/optim/optimizer_detail.h"

namespace tapevit {

namespace optim_detail {

namespace {

template <class T>
class Sgd final : public Optimizer<T> {
 public:
  Sgd(const OptimConfig& cfg, const Params<T>& params, bool nesterov)
      : momentum_(cfg.momentum), weight_decay_(cfg.weight_decay), nesterov_(nesterov),
        flat_size_(params.flat_size()), count_(params.size()),
        momentum_buffer_(zeroed_state_buffer(params, nesterov ? "SGD (Nesterov)" : "SGD (momentum)")) {}

  void step(Params<T>& params, double lr) override {
    check_step(params, flat_size_, count_, lr, nesterov_ ? "SGD (Nesterov)" : "SGD (momentum)");
    const bool first = this->steps_ == 0;
    ++this->steps_;
    const T mom = T(momentum_), wd = T(weight_decay_);
    const bool nesterov = nesterov_;
    T* const data = params.data();
    const T* const grad = params.grad();
    T* const buf = momentum_buffer_.get();
#pragma omp parallel
    for (size_t i = 0; i < count_; ++i) {
      if (!params.value(i)->requires_grad) continue;
      const ParamInfo& info = params.info(i);
      const int64_t off = info.offset, end = off + info.shape.numel();
      const bool decay = info.decay && weight_decay_ != 0;
      const T neg_lr = T(-(lr * this->lr_scale(i)));
#pragma omp for schedule(static) nowait
      for (int64_t j = off; j < end; ++j) {
        T d = grad[j];
        if (decay) d = d + wd * data[j];
        buf[j] = first ? d : buf[j] * mom + d;
        d = nesterov ? d + mom * buf[j] : buf[j];
        data[j] = data[j] + neg_lr * d;
      }
    }
  }

  std::vector<std::pair<std::string, T*>> state() override { return {{"momentum_buffer", momentum_buffer_.get()}}; }

 private:
  double momentum_, weight_decay_;
  bool nesterov_;
  int64_t flat_size_;
  size_t count_;
  StateBuffer<T> momentum_buffer_;
};

}  // namespace

template <class T>
std::unique_ptr<Optimizer<T>> make_sgd(const OptimConfig& cfg, const Params<T>& params, bool nesterov) {
  return std::make_unique<Sgd<T>>(cfg, params, nesterov);
}

template std::unique_ptr<Optimizer<float>> make_sgd<float>(const OptimConfig&, const Params<float>&, bool);
template std::unique_ptr<Optimizer<double>> make_sgd<double>(const OptimConfig&, const Params<double>&, bool);

}  // namespace optim_detail
}  // namespace tapevit
