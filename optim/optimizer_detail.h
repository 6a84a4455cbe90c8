// optim/optimizer_detail.h: what the optimizers (adamw.cpp, sgd.cpp) share with optimizer.cpp. Internal.
#pragma once
#include <memory>

#include "tapevit/optim/optimizer.h"

namespace tapevit::optim_detail {

template <class T>
using StateBuffer = std::unique_ptr<T[], void (*)(void*)>;
// A zeroed buffer with the Params layout (flat_size elements, aligned), for one state tensor set.
template <class T>
StateBuffer<T> zeroed_state_buffer(const Params<T>& params, const char* what);
// Throws unless params is the set the optimizer was made for and lr is finite and >= 0.
template <class T>
void check_step(const Params<T>& params, int64_t flat_size, size_t count, double lr, const char* what);

}  // namespace tapevit::optim_detail
