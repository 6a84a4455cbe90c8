// optim/lr_schedule.cpp: see lr_schedule.h. The cosine branch is timm's CosineLRScheduler._get_lr with one
// cycle (cycle_limit 1, cycle_mul 1, cycle_decay 1, k_decay 1, no noise, warmup_prefix False), t = the step:
//   t < warmup_steps:     warmup_lr + t * ((lr - warmup_lr) / warmup_steps)
//   t < total_steps:      min_lr + 0.5 (lr - min_lr) (1 + cos(pi t / total_steps))
//   t >= total_steps:     min_lr   (timm: the cycle index t // t_initial reaches cycle_limit)
#include "tapevit/optim/lr_schedule.h"

#include <cmath>
#include <numbers>

#include "tapevit/error.h"

namespace tapevit {

void LrSchedule::validate() const {
  if (sched != "cosine" && sched != "constant")
    fail("sched: unknown schedule '", sched, "' (accepted: cosine, constant)");
  if (!(lr > 0) || !std::isfinite(lr)) fail("lr: must be finite and > 0, got ", lr);
  if (!(min_lr >= 0) || !std::isfinite(min_lr)) fail("min_lr: must be finite and >= 0, got ", min_lr);  // timm: lr_min >= 0
  if (!(warmup_lr >= 0) || !std::isfinite(warmup_lr)) fail("warmup_lr: must be finite and >= 0, got ", warmup_lr);
  if (warmup_steps < 0) fail("warmup_steps: must be >= 0, got ", warmup_steps);
  if (total_steps < 1) fail("total_steps: must be >= 1, got ", total_steps);  // timm: t_initial > 0
}

double LrSchedule::at(int64_t step) const {
  if (step < 0) fail("LrSchedule::at: negative step ", step);
  const double t = double(step);
  if (step < warmup_steps) return warmup_lr + t * ((lr - warmup_lr) / double(warmup_steps));
  if (sched == "constant") return lr;
  if (step >= total_steps) return min_lr;
  return min_lr + 0.5 * (lr - min_lr) * (1 + std::cos(std::numbers::pi * t / double(total_steps)));
}

}  // namespace tapevit
