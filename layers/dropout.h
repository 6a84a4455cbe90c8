// layers/dropout.h: Dropout as torch.nn.Dropout: in training, zero each element with probability p and
// scale survivors by 1/(1-p); identity (no node, no random draw) in eval or when p == 0.
// The mask is not stored: its stream key is, and backward regenerates it (tapevit/rng.h).
// x: any shape -> y: same shape.
#pragma once
#include "tapevit/tape.h"

namespace tapevit {

template <class T>
void dropout_forward(T* y, const T* x, int64_t n, double p, uint64_t key, uint64_t first = 0);
template <class T>
void dropout_backward(T* dx, const T* dy, int64_t n, double p, uint64_t key, uint64_t first = 0);  // accumulates
// (element i's draw is Rng::keep(key, first + i, p): first places a slice within its whole batch)

template <class T>
Var<T> dropout(Tape<T>& t, Var<T> x, double p);

}  // namespace tapevit
