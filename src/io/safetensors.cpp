// src/io/safetensors.cpp: see tapevit/io/safetensors.h. Format: https://github.com/huggingface/safetensors (README).
#include "tapevit/io/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "tapevit/io/atomic_file.h"
#include "tapevit/error.h"

namespace tapevit {

namespace {

constexpr uint64_t kMaxHeader = uint64_t(100) << 20;  // the reference implementation's limit (100 MB)

size_t itemsize(const std::string& dtype) {
  static const std::map<std::string, size_t> sizes = {
      {"BOOL", 1}, {"U8", 1}, {"I8", 1}, {"F8_E5M2", 1}, {"F8_E4M3", 1}, {"I16", 2}, {"U16", 2}, {"F16", 2},
      {"BF16", 2}, {"I32", 4}, {"U32", 4}, {"F32", 4}, {"F64", 8}, {"I64", 8}, {"U64", 8}};
  auto it = sizes.find(dtype);
  return it == sizes.end() ? 0 : it->second;
}

float half_to_float(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: renormalise
      int e = -1;
      uint32_t m = mant;
      do {
        ++e;
        m <<= 1;
      } while (!(m & 0x400));
      bits = sign | uint32_t(127 - 15 - e) << 23 | (m & 0x3ff) << 13;
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | mant << 13;  // inf / nan
  } else {
    bits = sign | (exp + 127 - 15) << 23 | mant << 13;
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// The header, parsed with duplicate names refused (nlohmann's parser would keep the last silently).
nlohmann::json parse_header(const std::string& path, const char* begin, size_t n) {
  std::string dup;
  int depth = 0;
  std::set<std::string> keys;
  auto cb = [&](int d, nlohmann::json::parse_event_t ev, nlohmann::json& parsed) {
    (void)d;
    if (ev == nlohmann::json::parse_event_t::object_start) ++depth;
    if (ev == nlohmann::json::parse_event_t::object_end) --depth;
    if (ev == nlohmann::json::parse_event_t::key && depth == 1) {
      const std::string k = parsed.get<std::string>();
      if (!keys.insert(k).second && dup.empty()) dup = k;
    }
    return true;
  };
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(begin, begin + n, cb);
  } catch (const nlohmann::json::exception& e) {
    fail(path, ": the safetensors header is not valid JSON (", e.what(), ")");
  }
  if (!dup.empty()) fail(path, ": tensor '", dup, "' appears twice in the safetensors header");
  if (!j.is_object()) fail(path, ": the safetensors header is not a JSON object");
  return j;
}

}  // namespace

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) fail(path, ": cannot open (", std::strerror(errno), ")");
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(path, ": not a regular file");
  }
  size_ = size_t(st.st_size);
  if (size_ < 8) {
    ::close(fd);
    fail(path, ": ", size_, " bytes is too short for a safetensors file (8-byte header length, then the header)");
  }
  map_ = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (map_ == MAP_FAILED) {
    map_ = nullptr;
    fail(path, ": cannot map the file (", std::strerror(errno), ")");
  }
  try {
    const auto* bytes = static_cast<const uint8_t*>(map_);
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = n << 8 | bytes[i];  // little-endian
    // Another kind of file (an HDF5 checkpoint, a .pth, a .npy) gives an absurd length or no JSON object after it.
    const bool json_follows = n >= 2 && n <= size_ - 8 && bytes[8] == '{';
    if (n > kMaxHeader || (n <= size_ - 8 && !json_follows))
      fail(path, ": not a safetensors file (it should start with an 8-byte header length, then a JSON header; here "
                 "the length reads ", n, n > kMaxHeader ? ", which exceeds the format's limit of " + std::to_string(kMaxHeader) + " bytes)" : std::string(" and no '{' follows)"));
    if (n > size_ - 8)
      fail(path, ": header length ", n, " runs past the end of the file (", size_, " bytes): truncated or not safetensors");
    const nlohmann::json header = parse_header(path, reinterpret_cast<const char*>(bytes + 8), size_t(n));
    const uint8_t* buffer = bytes + 8 + n;
    const uint64_t buffer_size = size_ - 8 - n;

    for (const auto& entry : header.items()) {
      const std::string name = entry.key();
      const nlohmann::json& v = entry.value();
      if (name == "__metadata__") {
        if (!v.is_object()) fail(path, ": __metadata__ is not an object");
        for (const auto& [k, x] : v.items()) {
          if (!x.is_string()) fail(path, ": __metadata__ entry '", k, "' is not a string");
          metadata_[k] = x.get<std::string>();
        }
        continue;
      }
      auto bad = [&](const std::string& what) { fail(path, ": tensor '", name, "': ", what); };
      if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") || !v.contains("data_offsets"))
        bad("expected an object with dtype, shape and data_offsets");
      if (!v["dtype"].is_string()) bad("dtype is not a string");
      SafeTensor t;
      t.name = name;
      t.dtype = v["dtype"].get<std::string>();
      const size_t item = itemsize(t.dtype);
      if (!item) bad("unknown dtype '" + t.dtype + "'");
      const auto& shape = v["shape"];
      if (!shape.is_array() || shape.size() > size_t(Shape::kMaxRank))
        bad("shape must be an array of at most " + std::to_string(Shape::kMaxRank) + " dimensions");
      uint64_t numel = 1;
      bool overflow = false;
      for (const auto& d : shape) {
        if (!d.is_number_unsigned()) bad("shape entries must be non-negative integers");
        const uint64_t x = d.get<uint64_t>();
        if (x > (uint64_t(1) << 40) || (x && numel > (uint64_t(1) << 62) / x)) overflow = true;
        numel *= overflow ? 1 : x;
        t.shape.dims[t.shape.rank++] = int64_t(x);
      }
      if (overflow) bad("shape " + shape.dump() + " is implausibly large");
      const auto& off = v["data_offsets"];
      if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
        bad("data_offsets must be two non-negative integers");
      const uint64_t begin = off[0].get<uint64_t>(), end = off[1].get<uint64_t>();
      if (begin > end || end > buffer_size)
        bad("data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) + "] outside the data buffer of " +
            std::to_string(buffer_size) + " bytes (truncated file?)");
      if (end - begin != numel * item)
        bad("data_offsets span " + std::to_string(end - begin) + " bytes but shape " + t.shape.str() + " of " + t.dtype +
            " needs " + std::to_string(numel * item));
      t.data = buffer + begin;
      t.nbytes = size_t(end - begin);
      tensors_.push_back(std::move(t));
    }
    // No two tensors share bytes, and every byte of the buffer belongs to a tensor (as the format requires).
    std::vector<const SafeTensor*> by_offset;
    for (const auto& t : tensors_) by_offset.push_back(&t);
    std::sort(by_offset.begin(), by_offset.end(), [](auto* a, auto* b) { return a->data < b->data || (a->data == b->data && a->nbytes < b->nbytes); });
    const uint8_t* at = buffer;
    for (const SafeTensor* t : by_offset) {
      if (t->data < at) fail(path, ": tensor '", t->name, "' overlaps the tensor before it in the data buffer");
      if (t->data > at) fail(path, ": ", t->data - at, " bytes before tensor '", t->name, "' belong to no tensor");
      at = t->data + t->nbytes;
    }
    if (at != buffer + buffer_size)
      fail(path, ": ", (buffer + buffer_size) - at, " bytes at the end of the data buffer belong to no tensor");
    std::sort(tensors_.begin(), tensors_.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  } catch (...) {
    ::munmap(map_, size_);
    map_ = nullptr;
    throw;
  }
}

SafetensorsFile::~SafetensorsFile() {
  if (map_) ::munmap(map_, size_);
}

const SafeTensor* SafetensorsFile::find(const std::string& name) const {
  auto it = std::lower_bound(tensors_.begin(), tensors_.end(), name, [](const SafeTensor& t, const std::string& n) { return t.name < n; });
  return it != tensors_.end() && it->name == name ? &*it : nullptr;
}

void SafetensorsFile::read_f32(const SafeTensor& t, float* out) const {
  const size_t n = size_t(t.shape.numel());
  if (t.dtype != "F32" && t.dtype != "F16" && t.dtype != "BF16")
    fail(path_, ": tensor '", t.name, "' has dtype ", t.dtype, "; tapevit reads F32, F16 and BF16");
  if (n == 0) return;  // an empty tensor (out may be null; found by the fuzzer)
  if (t.dtype == "F32") {
    std::memcpy(out, t.data, n * 4);  // little-endian hosts only (x86-64, arm64)
  } else {
    const bool bf = t.dtype == "BF16";
    for (size_t i = 0; i < n; ++i) {
      uint16_t h;
      std::memcpy(&h, t.data + 2 * i, 2);
      if (bf) {
        const uint32_t bits = uint32_t(h) << 16;
        std::memcpy(out + i, &bits, 4);
      } else {
        out[i] = half_to_float(h);
      }
    }
  }
}

std::vector<float> SafetensorsFile::read_f32(const SafeTensor& t) const {
  std::vector<float> out(size_t(t.shape.numel()));
  read_f32(t, out.data());
  return out;
}

void write_safetensors(const std::string& path, const std::vector<SafeTensorOut>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header;
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t at = 0;
  std::set<std::string> names;
  for (const auto& t : tensors) {
    if (!names.insert(t.name).second) fail(path, ": tensor '", t.name, "' given twice");
    const uint64_t bytes = uint64_t(t.shape.numel()) * 4;
    std::vector<int64_t> shape(t.shape.dims.begin(), t.shape.dims.begin() + t.shape.rank);
    header[t.name] = {{"dtype", "F32"}, {"shape", shape}, {"data_offsets", {at, at + bytes}}};
    at += bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // pad with spaces so the buffer starts 8-byte aligned
  uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = uint8_t(uint64_t(text.size()) >> (8 * i));
  std::vector<Bytes> pieces = {{len, 8}, {text.data(), text.size()}};
  for (const auto& t : tensors) pieces.push_back({t.data, size_t(t.shape.numel() * 4)});
  write_file_atomic(path, pieces);
}

}  // namespace tapevit
