// layers/mlp.h: timm.layers.Mlp: fc1 -> act (gelu.h: exact GELU by default) -> dropout -> fc2 -> dropout.
// x: (B, N, C) -> y: (B, N, C). Params: <name>.fc1.weight (hidden, C), .fc1.bias (hidden),
// <name>.fc2.weight (C, hidden), .fc2.bias (C); hidden = int(C * mlp_ratio).
#pragma once
#include <string>

#include "tapevit/layers/gelu.h"
#include "tapevit/layers/linear.h"

namespace tapevit {

template <class T>
struct Mlp {
  double drop = 0;  // timm passes the block's proj_drop here
  Act act = Act::Gelu;
  Linear<T> fc1, fc2;

  Mlp() = default;
  Mlp(Params<T>& p, const std::string& name, int64_t dim, int64_t hidden, double drop = 0, Act act = Act::Gelu);
  Var<T> operator()(Tape<T>& t, Var<T> x) const;
};

}  // namespace tapevit
