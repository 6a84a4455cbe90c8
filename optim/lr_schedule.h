// optim/lr_schedule.h: the learning rate as a pure function of the optimizer step (so resuming needs only
// the step), as timm's schedulers stepped per update (--sched-on-updates).
//   warmup: linear from warmup_lr to lr over warmup_steps (timm: warmup_lr_init + t * (lr - warmup_lr) / warmup_t)
//   "cosine": after warmup, min_lr + 0.5 (lr - min_lr)(1 + cos(pi t / total_steps)), timm's CosineLRScheduler
//             with warmup_prefix=False (t counts from 0, so warmup eats the start of the cosine)
//   "constant": lr after warmup
#pragma once
#include <cstdint>
#include <string>

namespace tapevit {

struct LrSchedule {
  std::string sched = "cosine";
  double lr = 1e-3, min_lr = 1e-5, warmup_lr = 1e-6;
  int64_t warmup_steps = 0, total_steps = 1;
  void validate() const;  // throws naming the key (sched, lr, min_lr, warmup_lr)
  double at(int64_t step) const;
};

}  // namespace tapevit
