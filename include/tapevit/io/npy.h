// tapevit/io/npy.h: NumPy .npy files (format version 1.0/2.0/3.0), C order, little-endian; what `numpy.save` writes
// and `numpy.load` reads. Reading accepts float32 ('<f4') and uint8 ('|u1'); writing writes float32.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tapevit/tensor.h"

namespace tapevit {

struct NpyArray {
  std::string dtype;             // "float32" or "uint8"
  Shape shape;
  std::vector<float> f32;        // dtype float32
  std::vector<uint8_t> u8;       // dtype uint8
};

// Throws an Error naming the file for anything else (other dtypes, Fortran order, truncation, a bad header).
NpyArray read_npy(const std::string& path);
void write_npy(const std::string& path, const float* data, const Shape& shape);  // atomic (temp + rename)

}  // namespace tapevit
