// src/train/memory.h: what a run needs of memory against what an address-space limit leaves (internal to src/train).
//
// Under ulimit -v (RLIMIT_AS: how SGE's h_vmem and some clusters cap jobs) the arenas reserve address space as they
// go (tapevit/arena.h). Before the first step plan_memory measures what a training step and an evaluation need, on
// batches of 1 and 2 rows (the need grows linearly with the rows), and refuses a run that cannot fit, saying how much
// it needs and what to set; a run that fits has it reserved at once (no chunk's end left unused). What runs out later
// anyway (the estimate is close, not exact) is an OutOfMemory, which the step reports with memory_advice.
#pragma once
#include <string>

#include "run.h"

namespace tapevit {

// Under an address-space limit: an Error when the run's training steps and evaluations need more than the limit
// leaves this process; else the training tape's footprint reserved and the evaluations' set (Run::eval_footprint).
// Nothing is measured without a limit.
void plan_memory(Run& run);
// What lowers a training step's memory, with the run's values: batch_size, grad_accum_steps.
std::string memory_advice(const Run& run);

}  // namespace tapevit
