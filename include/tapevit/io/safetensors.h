// tapevit/io/safetensors.h: the .safetensors format (Hugging Face; what timm publishes as model.safetensors).
//
// Layout: 8-byte little-endian header length N, N bytes of JSON header, then the byte buffer. The header maps
// each tensor name to {"dtype": "F32" | "F16" | "BF16" | ..., "shape": [...], "data_offsets": [begin, end]}
// (offsets relative to the byte buffer, row-major little-endian data) and may hold "__metadata__" (string to
// string). Reading maps the file (mmap, read-only: a large file is never copied) and validates everything before
// any tensor is used: header length within the file, valid JSON, no duplicate names, known dtypes, offsets in
// bounds and equal to numel * itemsize, no overlapping tensors and no unindexed bytes. Every failure is an Error
// naming the file and, where there is one, the tensor.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "tapevit/tensor.h"

namespace tapevit {

struct SafeTensor {
  std::string name, dtype;  // dtype as the file spells it: "F32", "F16", "BF16", ...
  Shape shape;
  const uint8_t* data = nullptr;  // into the mapping
  size_t nbytes = 0;
};

class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  const std::vector<SafeTensor>& tensors() const { return tensors_; }  // sorted by name
  const SafeTensor* find(const std::string& name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // The tensor converted to float32 (F32, F16 and BF16; any other dtype is an Error naming the tensor).
  void read_f32(const SafeTensor& t, float* out) const;
  std::vector<float> read_f32(const SafeTensor& t) const;

 private:
  std::string path_;
  void* map_ = nullptr;
  size_t size_ = 0;
  std::vector<SafeTensor> tensors_;
  std::map<std::string, std::string> metadata_;
};

// A float32 tensor to write: name, shape, data (numel floats).
struct SafeTensorOut {
  std::string name;
  Shape shape;
  const float* data = nullptr;
};
// Writes F32 tensors (in the given order) and the metadata; to a temporary file that is synced and renamed over
// path, so an existing file is never left half-written.
void write_safetensors(const std::string& path, const std::vector<SafeTensorOut>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace tapevit
