// tapevit/io/h5.h: a thin RAII layer over the HDF5 C API: datasets by path ("grads/blocks.0.attn.qkv.weight"),
// attributes, listing. Every failure throws an Error naming the file and the object; HDF5's own error
// printing is silenced. Files are plain HDF5, readable by h5py with no tapevit code.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tapevit/tensor.h"

namespace tapevit {

class H5File {
 public:
  // Create truncates. Memory: a new file held in memory (HDF5's core driver, nothing touches the disk) whose bytes
  // image() returns, for writing them with tapevit's own checked I/O (write_file_atomic).
  enum Mode { Read, Create, Memory };
  H5File(const std::string& path, Mode mode);
  ~H5File();
  H5File(const H5File&) = delete;
  H5File& operator=(const H5File&) = delete;

  const std::string& path() const { return path_; }
  bool exists(const std::string& name) const;  // a dataset or group at this path
  Shape shape(const std::string& dataset) const;
  std::string dtype(const std::string& dataset) const;  // "float32", "float64", "int32", "uint8", ...
  // Names directly below a group ("" or "/" = root), sorted.
  std::vector<std::string> list(const std::string& group) const;

  // Read a dataset converting to T (HDF5 converts numeric types). Checks the element count against `expect`
  // when it is given (numel > 0 or rank > 0).
  template <class T>
  std::vector<T> read(const std::string& dataset, Shape* shape_out = nullptr) const;
  template <class T>
  void read_into(const std::string& dataset, T* out, const Shape& expect) const;  // exact shape required
  // Write a dataset (intermediate groups are created). Supported T: float, double, int32_t, int64_t, uint64_t, uint8_t.
  template <class T>
  void write(const std::string& dataset, const T* data, const Shape& shape);

  // Attributes on an object (a group or dataset path; "/" = the file's root group).
  void set_attr(const std::string& key, const std::string& value, const std::string& obj = "/");
  void set_attr(const std::string& key, double value, const std::string& obj = "/");
  void set_attr(const std::string& key, int64_t value, const std::string& obj = "/");
  bool has_attr(const std::string& key, const std::string& obj = "/") const;
  std::string attr_string(const std::string& key, const std::string& obj = "/") const;
  double attr_double(const std::string& key, const std::string& obj = "/") const;
  int64_t attr_int(const std::string& key, const std::string& obj = "/") const;

  void flush();
  std::vector<uint8_t> image();  // Memory files: the whole file's bytes

 private:
  bool exists_or_root(const std::string& name) const;
  std::string path_;
  int64_t file_ = -1;  // hid_t
};

}  // namespace tapevit
