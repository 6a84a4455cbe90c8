// layers/mlp.cpp: see mlp.h.
#include "tapevit/layers/mlp.h"

#include "tapevit/layers/dropout.h"
#include "tapevit/layers/gelu.h"

namespace tapevit {

template <class T>
Mlp<T>::Mlp(Params<T>& p, const std::string& name, int64_t dim, int64_t hidden, double drop_, Act act_)
    : drop(drop_), act(act_), fc1(p, name + ".fc1", dim, hidden), fc2(p, name + ".fc2", hidden, dim) {}

template <class T>
Var<T> Mlp<T>::operator()(Tape<T>& t, Var<T> x) const {
  Var<T> h = dropout(t, activation(t, fc1(t, x), act), drop);
  return dropout(t, fc2(t, h), drop);
}

template struct Mlp<float>;
template struct Mlp<double>;

}  // namespace tapevit
