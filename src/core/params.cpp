// src/core/params.cpp: see tapevit/params.h.
#include "tapevit/params.h"

#include <cmath>
#include <cstdlib>
#include <cstring>

#include "tapevit/parallel_copy.h"
#include "tapevit/rng.h"

namespace tapevit {

bool takes_weight_decay(const std::string& name, const Shape& shape) {
  auto ends_with = [&](const char* suf) {
    size_t n = std::strlen(suf);
    return name.size() >= n && name.compare(name.size() - n, n, suf) == 0;
  };
  if (shape.rank <= 1 || ends_with(".bias")) return false;
  return !(name == "pos_embed" || name == "cls_token" || name == "dist_token" || name == "reg_token");
}

template <class T>
void Params<T>::Free::operator()(T* p) const {
  std::free(p);
}

template <class T>
Var<T> Params<T>::add(const std::string& name, const Shape& shape, InitSpec init) {
  if (allocated_) fail("Params: cannot add '", name, "' after allocate()");
  if (index_.count(name)) fail("Params: duplicate parameter name '", name, "'");
  index_[name] = infos_.size();
  infos_.push_back({name, shape, 0, takes_weight_decay(name, shape), init});
  Value<T>& v = values_.emplace_back();
  v.shape = shape;
  v.requires_grad = true;
  return &v;
}

template <class T>
void Params<T>::allocate() {
  if (allocated_) fail("Params: allocate() called twice");
  constexpr int64_t kAlignElems = 64 / sizeof(T);  // each tensor starts on a cache line
  int64_t off = 0;
  for (auto& p : infos_) {
    p.offset = off;
    off += (p.shape.numel() + kAlignElems - 1) / kAlignElems * kAlignElems;
  }
  flat_size_ = off;
  size_t bytes = sizeof(T) * size_t(std::max<int64_t>(off, kAlignElems));
  data_.reset(static_cast<T*>(std::aligned_alloc(64, bytes)));
  grad_.reset(static_cast<T*>(std::aligned_alloc(64, bytes)));
  if (!data_ || !grad_) fail("Params: cannot allocate ", bytes >> 20, " MiB for parameters");
  std::memset(data_.get(), 0, bytes);
  std::memset(grad_.get(), 0, bytes);
  for (size_t i = 0; i < infos_.size(); ++i) {
    values_[i].data = data_.get() + infos_[i].offset;
    values_[i].grad = grad_.get() + infos_[i].offset;
  }
  allocated_ = true;
}

template <class T>
void Params<T>::init(uint64_t seed) {
  if (!allocated_) fail("Params: init() before allocate()");
  for (size_t t = 0; t < infos_.size(); ++t) {
    const ParamInfo& p = infos_[t];
    T* w = values_[t].data;
    const int64_t n = p.shape.numel();
    const uint64_t key = splitmix64(seed ^ hash_name(p.name.c_str()));
    const double a = p.init.a;
    for (int64_t i = 0; i < n; ++i) {
      double v = 0;
      switch (p.init.kind) {
        case InitSpec::Zeros: v = 0; break;
        case InitSpec::Ones: v = 1; break;
        case InitSpec::Constant: v = a; break;
        case InitSpec::Normal: v = a * Rng::normal(key, uint64_t(i)); break;
        case InitSpec::Uniform: v = a * (2 * Rng::uniform(key, uint64_t(i)) - 1); break;
        case InitSpec::TruncNormal: {
          // timm's trunc_normal_(std, a=-2, b=2): the cut is absolute, so for std .02 it never bites;
          // sample by rejection with a sub-stream per element.
          const uint64_t sub = splitmix64(key ^ uint64_t(i));
          for (uint64_t j = 0;; ++j) {
            v = a * Rng::normal(sub, j);
            if (v >= -2.0 && v <= 2.0) break;
          }
          break;
        }
        case InitSpec::TruncNormalTf: {  // timm's trunc_normal_tf_: a standard normal cut at +-2, then scaled
          const uint64_t sub = splitmix64(key ^ uint64_t(i));
          double z = 0;
          for (uint64_t j = 0;; ++j) {
            z = Rng::normal(sub, j);
            if (z >= -2.0 && z <= 2.0) break;
          }
          v = a * z;
          break;
        }
      }
      w[i] = T(v);
    }
  }
}

template <class T>
void Params<T>::zero_grad() {
  parallel_zero(grad_.get(), flat_size_);
}

template <class T>
int64_t Params<T>::numel() const {
  int64_t n = 0;
  for (auto& p : infos_) n += p.shape.numel();
  return n;
}

template <class T>
Var<T> Params<T>::at(const std::string& name) {
  auto it = index_.find(name);
  if (it == index_.end()) fail("no parameter named '", name, "'");
  return &values_[it->second];
}

template <class T>
const ParamInfo* Params<T>::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &infos_[it->second];
}

template <class T>
void Params<T>::set_trainable(const std::string& name, bool trainable) {
  at(name)->requires_grad = trainable;
}

template class Params<float>;
template class Params<double>;

}  // namespace tapevit
