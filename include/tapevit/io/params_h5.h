// tapevit/io/params_h5.h: parameters <-> HDF5 datasets named by timm key ("<group>/blocks.0.attn.qkv.weight").
// Reading is strict: every parameter must be present with its exact shape, and nothing else may be in the
// group; an Error lists every missing, unexpected and mismatched tensor with both shapes.
#pragma once
#include <string>

#include "tapevit/io/h5.h"
#include "tapevit/params.h"

namespace tapevit {

enum class Which { Data, Grad };

template <class T>
void write_params(H5File& f, const std::string& group, const Params<T>& params, Which which = Which::Data);
template <class T>
void read_params(const H5File& f, const std::string& group, Params<T>& params, Which which = Which::Data);

}  // namespace tapevit
