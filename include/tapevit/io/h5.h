// tapevit/io/h5.h: a thin RAII layer over the HDF5 C API: datasets by path ("grads/blocks.0.attn.qkv.weight"),
// attributes, listing. Every failure throws an Error naming the file and the object; HDF5's own error
// printing is silenced. Files are plain HDF5, readable by h5py with no tapevit code.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tapevit/tensor.h"

namespace tapevit {

// The user-block digest of a file written by image_with_digest: "" when the file has none (older files, h5py's),
// else throws an Error naming the file (and the damaged datasets) when it does not match. Returns a one-line summary.
std::string verify_h5_digest(const std::string& path);
// The file starts with a digest (it is verified whenever it is read); false for older files, h5py's, or no file.
bool h5_has_digest(const std::string& path);
// The user-block size to reserve for a file of `datasets` datasets with names of up to name_bytes bytes.
int64_t digest_userblock(int64_t datasets, int64_t name_bytes);

class H5File {
 public:
  // Create truncates. Memory: a new file held in memory (HDF5's core driver, nothing touches the disk) whose bytes
  // image() returns, for writing them with tapevit's own checked I/O (write_file_atomic).
  enum Mode { Read, Create, Memory };
  // Read: a file written with a digest (write_with_digest) is verified before libhdf5 parses any of it; a damaged
  // one is an Error naming the file and, where the damage is inside a tensor's bytes, the tensor. Memory: userblock
  // reserves that many bytes (0, or a power of two >= 512) before the HDF5 data, for the digest.
  H5File(const std::string& path, Mode mode, int64_t userblock = 0);
  ~H5File();
  H5File(const H5File&) = delete;
  H5File& operator=(const H5File&) = delete;

  const std::string& path() const { return path_; }
  bool exists(const std::string& name) const;  // a dataset or group at this path
  bool is_group(const std::string& name) const;
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
  // Memory files: the bytes with a digest in the user block: the size, a CRC-32 of everything after the user block,
  // and per dataset its byte range and CRC-32 (so that damage can be pinned to a tensor without libhdf5).
  std::vector<uint8_t> image_with_digest();

 private:
  bool exists_or_root(const std::string& name) const;
  std::string path_;
  int64_t file_ = -1;  // hid_t
  int64_t userblock_ = 0;
};

}  // namespace tapevit
