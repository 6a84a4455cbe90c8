// tapevit/params.h: all parameters of a model in one flat buffer, with named views.
//
// Names and shapes are timm's state_dict keys (`cls_token` [1, 1, C], `blocks.0.attn.qkv.weight` [3C, C], ...),
// so checkpoints, imports and exports are a name map and nothing else. Gradients live in a second flat buffer
// with the same offsets, so an optimizer, zeroing or clipping is one loop over all parameters.
#pragma once
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "tapevit/tensor.h"

namespace tapevit {

// How a parameter starts out (timm's default `weight_init=''`).
struct InitSpec {
  enum Kind { Zeros, Ones, Constant, Normal, TruncNormal, TruncNormalTf, Uniform } kind = Zeros;
  double a = 0;  // Constant: value; Normal/TruncNormal: std; Uniform: bound (values in [-a, a))
  static InitSpec zeros() { return {Zeros, 0}; }
  static InitSpec ones() { return {Ones, 0}; }
  static InitSpec constant(double v) { return {Constant, v}; }
  static InitSpec normal(double std) { return {Normal, std}; }
  static InitSpec trunc_normal(double std) { return {TruncNormal, std}; }  // cut at +-2 absolute, as timm
  static InitSpec trunc_normal_tf(double std) { return {TruncNormalTf, std}; }  // cut at +-2 std (timm's _tf variant)
  static InitSpec uniform(double bound) { return {Uniform, bound}; }
};

struct ParamInfo {
  std::string name;
  Shape shape;
  int64_t offset = 0;   // into the flat buffers, in elements
  bool decay = true;    // takes weight decay (timm: not 1-D tensors, biases, pos_embed, cls_token)
  InitSpec init;
};

// timm's rule (param_groups_weight_decay with VisionTransformer.no_weight_decay()).
bool takes_weight_decay(const std::string& name, const Shape& shape);

template <class T>
class Params {
 public:
  Params() = default;
  Params(const Params&) = delete;
  Params& operator=(const Params&) = delete;

  // Register a parameter; returns its handle, whose data/grad pointers become valid at allocate().
  Var<T> add(const std::string& name, const Shape& shape, InitSpec init);
  // Lay out the flat buffers (aligned per tensor) once every parameter is registered.
  void allocate();
  // Fill every parameter by its InitSpec; tensor streams are keyed by (seed, name), so reproducible.
  void init(uint64_t seed);
  void zero_grad();

  bool allocated() const { return allocated_; }
  size_t size() const { return infos_.size(); }
  int64_t numel() const;          // parameter count (excluding alignment padding)
  int64_t flat_size() const { return flat_size_; }
  T* data() { return data_.get(); }
  T* grad() { return grad_.get(); }
  const T* data() const { return data_.get(); }
  const ParamInfo& info(size_t i) const { return infos_[i]; }
  const std::vector<ParamInfo>& infos() const { return infos_; }
  Var<T> value(size_t i) { return &values_[i]; }
  // By timm name; throws naming the key when absent.
  Var<T> at(const std::string& name);
  const ParamInfo* find(const std::string& name) const;
  // Freeze (no gradient computed or stored) or unfreeze one parameter.
  void set_trainable(const std::string& name, bool trainable);

 private:
  std::vector<ParamInfo> infos_;
  std::deque<Value<T>> values_;  // stable addresses: layers keep Var<T> handles
  std::unordered_map<std::string, size_t> index_;
  struct Free {
    void operator()(T* p) const;
  };
  std::unique_ptr<T[], Free> data_, grad_;
  int64_t flat_size_ = 0;
  bool allocated_ = false;
};

}  // namespace tapevit
