// src/io/h5.cpp: see tapevit/io/h5.h.
#include "tapevit/io/h5.h"

#include <hdf5.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <array>
#include <filesystem>
#include <vector>
#include <cerrno>
#include <chrono>
#include <mutex>
#include <set>

#include <cstdio>
#include <cstring>
#include <ctime>
#include <sstream>

#include <algorithm>
#include <type_traits>
#include <utility>

namespace tapevit {

namespace {

struct Silence {  // HDF5 prints an error stack on every failure; we throw instead.
  Silence() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }
};
const Silence silence_once;

struct Handle {  // closes any hid_t with the given close function
  hid_t id;
  herr_t (*close)(hid_t);
  ~Handle() {
    if (id >= 0) close(id);
  }
};

template <class T>
hid_t native_type() {
  if constexpr (std::is_same_v<T, float>) return H5T_NATIVE_FLOAT;
  else if constexpr (std::is_same_v<T, double>) return H5T_NATIVE_DOUBLE;
  else if constexpr (std::is_same_v<T, int32_t>) return H5T_NATIVE_INT32;
  else if constexpr (std::is_same_v<T, int64_t>) return H5T_NATIVE_INT64;
  else if constexpr (std::is_same_v<T, uint64_t>) return H5T_NATIVE_UINT64;
  else if constexpr (std::is_same_v<T, uint8_t>) return H5T_NATIVE_UINT8;
  else static_assert(sizeof(T) == 0, "unsupported HDF5 element type");
}

}  // namespace

namespace {

// The most bytes of data dataset ds can hold in file: the file's size, or 1100 times it when the dataset is compressed
// (zlib's largest ratio). Checked before allocating for it: a damaged or crafted header decides nothing.
double max_data_bytes(hid_t file, hid_t ds) {
  hsize_t file_bytes = 0;
  H5Fget_filesize(file, &file_bytes);
  Handle dcpl{H5Dget_create_plist(ds), H5Pclose};
  return double(file_bytes) * (H5Pget_nfilters(dcpl.id) > 0 ? 1100.0 : 1.0);
}

}  // namespace

namespace {

// A file without a digest cannot be checked before libhdf5 parses it, and libhdf5 can hang or crash on a damaged
// one (its fuzzing found both within a minute: a read of a variable-length string looping in its global heap cache,
// tests/fuzz/regressions/checkpoint/). So such a file is first read in a child process: every group (at most 32
// deep), every attribute and every dataset, as tapevit's readers would. Only if the child finishes cleanly does this
// process open the file; a child that hangs (past the time limit), crashes or fails makes an Error naming the file.

// What the child reads: the objects below group, depth-first. Returns what it could not read ("" when all).
std::string probe_group(hid_t file, const std::string& group, int depth, int64_t& objects) {
  if (depth > 32) return "groups nest deeper than 32 levels at '" + group + "' (a link cycle?)";
  if (++objects > 100000) return "more than 100000 objects";
  Handle gr{H5Gopen2(file, group.c_str(), H5P_DEFAULT), H5Gclose};
  if (gr.id < 0) return "cannot open group '" + group + "'";
  std::vector<std::string> names;
  if (H5Literate(gr.id, H5_INDEX_NAME, H5_ITER_INC, nullptr,
                 [](hid_t, const char* name, const H5L_info_t*, void* out) -> herr_t {
                   static_cast<std::vector<std::string>*>(out)->push_back(name);
                   return 0;
                 },
                 &names) < 0)
    return "cannot list group '" + group + "'";
  auto read_attrs = [&](hid_t obj, const std::string& where) -> std::string {
    const int n = H5Aget_num_attrs(obj);
    for (int i = 0; i < n; ++i) {
      const std::string what = "cannot read attribute " + std::to_string(i) + " of '" + where + "'";
      Handle at{H5Aopen_by_idx(obj, ".", H5_INDEX_NAME, H5_ITER_INC, hsize_t(i), H5P_DEFAULT, H5P_DEFAULT), H5Aclose};
      if (at.id < 0) return what;
      Handle ty{H5Aget_type(at.id), H5Tclose};
      Handle sp{H5Aget_space(at.id), H5Sclose};
      const hssize_t npoints = H5Sget_simple_extent_npoints(sp.id);
      if (npoints < 0 || npoints > (1 << 20)) return what;
      const size_t count = size_t(std::max<hssize_t>(npoints, 1));
      if (H5Tget_class(ty.id) == H5T_STRING) {
        if (H5Tis_variable_str(ty.id) > 0) {
          std::vector<char*> v(count, nullptr);
          Handle mt{H5Tcopy(H5T_C_S1), H5Tclose};
          H5Tset_size(mt.id, H5T_VARIABLE);
          H5Tset_cset(mt.id, H5Tget_cset(ty.id));
          if (H5Aread(at.id, mt.id, v.data()) < 0) return what;
          for (char* c : v) H5free_memory(c);
        } else {
          if (H5Tget_size(ty.id) > (1 << 24)) return what;
          std::vector<char> v(count * H5Tget_size(ty.id) + 1);
          if (H5Aread(at.id, ty.id, v.data()) < 0) return what;
        }
      } else if (H5Tget_class(ty.id) == H5T_INTEGER || H5Tget_class(ty.id) == H5T_FLOAT) {
        std::vector<double> v(count);
        if (H5Aread(at.id, H5T_NATIVE_DOUBLE, v.data()) < 0) return what;
      }
    }
    return "";
  };
  if (std::string e = read_attrs(gr.id, group); !e.empty()) return e;
  for (const std::string& name : names) {
    const std::string path = group == "/" ? "/" + name : group + "/" + name;
    H5O_info_t info{};
    if (H5Oget_info_by_name(file, path.c_str(), &info, H5P_DEFAULT) < 0) return "cannot read object '" + path + "'";
    if (info.type == H5O_TYPE_GROUP) {
      if (std::string e = probe_group(file, path, depth + 1, objects); !e.empty()) return e;
    } else if (info.type == H5O_TYPE_DATASET) {
      if (++objects > 100000) return "more than 100000 objects";
      Handle ds{H5Dopen2(file, path.c_str(), H5P_DEFAULT), H5Dclose};
      if (ds.id < 0) return "cannot open dataset '" + path + "'";
      if (std::string e = read_attrs(ds.id, path); !e.empty()) return e;
      Handle ty{H5Dget_type(ds.id), H5Tclose};
      const H5T_class_t cls = H5Tget_class(ty.id);
      if (cls != H5T_INTEGER && cls != H5T_FLOAT) continue;  // tapevit reads numbers only
      Handle sp{H5Dget_space(ds.id), H5Sclose};
      const hssize_t npoints = H5Sget_simple_extent_npoints(sp.id);
      if (npoints < 0 || double(npoints) * double(H5Tget_size(ty.id)) > max_data_bytes(file, ds.id))
        return "dataset '" + path + "' claims " + std::to_string(npoints) + " values, more than the file holds";
      std::vector<double> v(size_t(std::max<hssize_t>(npoints, 1)));
      if (npoints > 0 && H5Dread(ds.id, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()) < 0)
        return "cannot read dataset '" + path + "'";
    }
  }
  return "";
}

// The child's verdict on a file without a digest; throws an Error naming the file unless it read cleanly.
void probe_in_child(const std::string& path) {
  std::fflush(nullptr);
  int fds[2];
  if (::pipe(fds) != 0) fail(path, ": cannot check a file without a digest: ", std::strerror(errno));
  const pid_t pid = ::fork();
  if (pid < 0) fail(path, ": cannot start the process that checks a file without a digest: ", std::strerror(errno));
  if (pid == 0) {  // the child: libhdf5 only, its verdict on the pipe, then _exit (no destructors, no atexit handlers)
    ::close(fds[0]);
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    if (H5Fis_hdf5(path.c_str()) <= 0) ::_exit(3);
    const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) ::_exit(3);
    int64_t objects = 0;
    const std::string why = probe_group(f, "/", 0, objects);
    if (!why.empty() && ::write(fds[1], why.data(), std::min<size_t>(why.size(), 4000)) < 0) ::_exit(5);
    ::_exit(why.empty() ? 0 : 4);
  }
  ::close(fds[1]);
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fds[0]};
  struct stat st {};
  ::stat(path.c_str(), &st);
  // 10 s, and 1 s more per 100 MB: libhdf5 reads a healthy file at hundreds of MB/s
  const double limit = 10.0 + double(st.st_size) / 100e6;
  const auto start = std::chrono::steady_clock::now();
  int status = 0;
  for (;;) {
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) fail(path, ": lost the process that checks it: ", std::strerror(errno));
    if (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() > limit) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      fail(path, ": damaged: libhdf5 did not finish reading this file (it has no digest) in ", int(limit),
           " s; a file cut short or changed on disk? Restore it from a copy");
    }
    ::usleep(2000);
  }
  if (WIFSIGNALED(status))
    fail(path, ": damaged: libhdf5 crashed reading this file (it has no digest; signal ", WTERMSIG(status),
         "); restore it from a copy");
  if (!WIFEXITED(status) || WEXITSTATUS(status) == 3)
    fail(path, ": not an HDF5 file (missing, unreadable or corrupt)");
  if (WEXITSTATUS(status) != 0) {
    char why[4001] = {0};
    const ssize_t n = ::read(fds[0], why, 4000);
    fail(path, ": damaged (it has no digest, and libhdf5 cannot read all of it): ",
         n > 0 ? std::string(why, size_t(n)) : std::string("no reason given"));
  }
}

// Before libhdf5 opens a file in this process: its digest verified, or, without one, a child's reading of it
// (probe_in_child). Once per version of a file: a resume opens its checkpoint several times (meta, state, tensors),
// and a large one takes a second or more to read through. A version is its device, inode, size and modification and
// change times; any write to the file changes the times, but only to the kernel's clock tick (milliseconds), so a
// file changed within the last 2 seconds is checked every time.
void check_once(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return;  // H5Fis_hdf5 says what is wrong
  using Version = std::array<int64_t, 7>;
  const Version v = {int64_t(st.st_dev), int64_t(st.st_ino), int64_t(st.st_size), int64_t(st.st_mtim.tv_sec),
                     int64_t(st.st_mtim.tv_nsec), int64_t(st.st_ctim.tv_sec), int64_t(st.st_ctim.tv_nsec)};
  static std::mutex mu;
  static std::set<Version> checked;
  {
    std::lock_guard<std::mutex> lock(mu);
    if (checked.count(v)) return;
  }
  if (verify_h5_digest(path).empty()) probe_in_child(path);
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  if (now.tv_sec - std::max(st.st_mtim.tv_sec, st.st_ctim.tv_sec) < 2) return;
  std::lock_guard<std::mutex> lock(mu);
  checked.insert(v);
}

// A path to read that is not a file says so, and names the checkpoints that are there: a run directory given for its
// checkpoint, or a mistyped name (runs/r2/bset.h5): which one was meant (best.h5 to evaluate, last.h5 to resume) the
// caller knows, so all are named.
void require_file(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path p(path);
  const bool dir = fs::is_directory(p, ec);
  if (!dir && fs::exists(p, ec)) return;
  const fs::path folder = dir ? p : (p.has_parent_path() ? p.parent_path() : fs::path("."));
  std::vector<std::string> h5;  // the .h5 files of the folder, best.h5 and last.h5 first
  for (const auto& e : fs::directory_iterator(folder, ec))
    if (e.path().extension() == ".h5" && e.is_regular_file(ec)) h5.push_back(e.path().filename().string());
  std::sort(h5.begin(), h5.end(), [](const std::string& a, const std::string& b) {
    auto rank = [](const std::string& n) { return n == "best.h5" ? 0 : n == "last.h5" ? 1 : 2; };
    return std::make_pair(rank(a), a) < std::make_pair(rank(b), b);
  });
  std::string hint = h5.empty() ? "" : "; " + folder.string() + " holds";
  for (size_t i = 0; i < h5.size() && i < 6; ++i) hint += (i ? ", " : " ") + (folder / h5[i]).string();
  if (h5.size() > 6) hint += ", ...";
  fail(path, dir ? ": is a directory, not a file" : ": no such file", hint);
}

}  // namespace

H5File::H5File(const std::string& path, Mode mode, int64_t userblock) : path_(path), userblock_(userblock) {
  if (mode == Read) {
    require_file(path);
    check_once(path);  // before libhdf5 reads a byte of it here: a damaged file can neither hang nor crash this process
    if (H5Fis_hdf5(path.c_str()) <= 0) fail(path, ": not an HDF5 file (missing, unreadable or corrupt)");
    file_ = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  } else if (mode == Memory) {
    Handle fapl{H5Pcreate(H5P_FILE_ACCESS), H5Pclose};
    H5Pset_fapl_core(fapl.id, 1 << 20, /*backing_store=*/0);
    Handle fcpl{H5Pcreate(H5P_FILE_CREATE), H5Pclose};
    if (userblock > 0 && H5Pset_userblock(fcpl.id, hsize_t(userblock)) < 0) fail(path, ": bad user block size ", userblock);
    file_ = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, fcpl.id, fapl.id);
  } else {
    file_ = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  }
  if (file_ < 0) fail(path, ": cannot ", mode == Read ? "open" : "create", " HDF5 file");
}

H5File::~H5File() {
  if (file_ >= 0) H5Fclose(file_);
}

std::vector<uint8_t> H5File::image() {
  flush();
  const ssize_t n = H5Fget_file_image(file_, nullptr, 0);
  if (n < 0) fail(path_, ": cannot take the in-memory file's image");
  std::vector<uint8_t> bytes(static_cast<size_t>(n));
  if (H5Fget_file_image(file_, bytes.data(), bytes.size()) != n) fail(path_, ": cannot copy the in-memory file's image");
  return bytes;
}

std::vector<uint8_t> H5File::image_with_digest() {
  const auto ub = size_t(userblock_);
  if (ub < 512) fail(path_, ": a digest needs a user block (H5File(path, Memory, userblock))");
  // the core driver's image starts at the superblock: the file on disk is the user block, then the image
  const std::vector<uint8_t> hdf5 = image();
  std::vector<uint8_t> bytes(ub + hdf5.size(), 0);
  std::copy(hdf5.begin(), hdf5.end(), bytes.begin() + std::ptrdiff_t(ub));
  std::ostringstream os;
  os << "TAPEVIT-DIGEST 1\nuserblock " << ub << "\nsize " << bytes.size() << "\ncrc32 "
     << crc32_z(0, bytes.data() + ub, bytes.size() - ub) << "\n";
  // every dataset's bytes (contiguous layout: one range each)
  std::vector<std::string> names;
  H5Ovisit2(
      file_, H5_INDEX_NAME, H5_ITER_INC,
      [](hid_t, const char* name, const H5O_info_t* info, void* out) -> herr_t {
        if (info->type == H5O_TYPE_DATASET) static_cast<std::vector<std::string>*>(out)->push_back(name);
        return 0;
      },
      &names, H5O_INFO_BASIC);
  for (const auto& n : names) {
    Handle ds{H5Dopen2(file_, n.c_str(), H5P_DEFAULT), H5Dclose};
    const haddr_t off = H5Dget_offset(ds.id);
    const hsize_t len = H5Dget_storage_size(ds.id);
    if (off == HADDR_UNDEF || len == 0) continue;  // empty datasets hold no bytes
    const uint64_t at = uint64_t(off);  // from the start of the file, user block included
    if (at + len > bytes.size()) fail(path_, ": dataset '", n, "' lies outside the file image");
    os << "tensor " << at << " " << len << " " << crc32_z(0, bytes.data() + at, len) << " " << n << "\n";
  }
  const std::string text = os.str();
  if (text.size() + 1 > ub) fail(path_, ": the digest (", text.size(), " bytes) does not fit the ", ub, "-byte user block");
  std::copy(text.begin(), text.end(), bytes.begin());
  std::fill(bytes.begin() + std::ptrdiff_t(text.size()), bytes.begin() + std::ptrdiff_t(ub), uint8_t(0));
  return bytes;
}

int64_t digest_userblock(int64_t datasets, int64_t name_bytes) {
  const int64_t need = 128 + datasets * (name_bytes + 48);
  int64_t ub = 512;
  while (ub < need) ub *= 2;
  return ub;
}

bool h5_has_digest(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return false;
  char head[16] = {0};
  const bool yes = std::fread(head, 1, 16, f) == 16 && std::memcmp(head, "TAPEVIT-DIGEST 1", 16) == 0;
  std::fclose(f);
  return yes;
}

std::string verify_h5_digest(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return "";  // H5Fis_hdf5 says what is wrong
  struct Closer {
    std::FILE* f;
    ~Closer() { std::fclose(f); }
  } closer{f};
  char head[17] = {0};
  if (std::fread(head, 1, 16, f) != 16 || std::memcmp(head, "TAPEVIT-DIGEST 1", 16) != 0) return "";
  // the digest text: up to the user block's first NUL, at most 1 MiB
  std::string text = head;
  for (int c; (c = std::fgetc(f)) != EOF && c != 0 && text.size() < (1u << 20);) text += char(c);
  std::istringstream is(text);
  std::string line, key;
  uint64_t ub = 0, size = 0;
  uint32_t crc = 0;
  struct Range {
    uint64_t at, len;
    uint32_t crc;
    std::string name;
  };
  std::vector<Range> ranges;
  std::getline(is, line);  // the magic
  while (std::getline(is, line)) {
    std::istringstream ls(line);
    ls >> key;
    if (key == "userblock") ls >> ub;
    else if (key == "size") ls >> size;
    else if (key == "crc32") ls >> crc;
    else if (key == "tensor") {
      Range r;
      ls >> r.at >> r.len >> r.crc >> std::ws;
      std::getline(ls, r.name);
      if (!ls.fail() || !r.name.empty()) ranges.push_back(r);
    }
  }
  std::fseek(f, 0, SEEK_END);
  const auto actual = uint64_t(std::ftell(f));
  if (ub < 512 || size == 0) fail(path, ": damaged: its integrity header is unreadable");
  if (actual != size)
    fail(path, ": damaged: ", actual < size ? "truncated" : "longer than written", " (", actual, " bytes, ", size,
         " when written); a copy cut short or changed on disk");
  // the whole file after the user block, in 4 MiB reads
  std::vector<uint8_t> buf(size_t(4) << 20);
  auto crc_of = [&](uint64_t at, uint64_t len) {
    uLong c = crc32_z(0, nullptr, 0);
    std::fseek(f, long(at), SEEK_SET);
    while (len > 0) {
      const size_t n = std::fread(buf.data(), 1, size_t(std::min<uint64_t>(len, buf.size())), f);
      if (n == 0) fail(path, ": read error while verifying it");
      c = crc32_z(c, buf.data(), n);
      len -= n;
    }
    return uint32_t(c);
  };
  if (crc_of(ub, size - ub) == crc) return "digest ok: " + std::to_string(size) + " bytes, " + std::to_string(ranges.size()) + " tensors";
  std::string damaged;
  for (const auto& r : ranges)
    if (r.at + r.len > size || crc_of(r.at, r.len) != r.crc) damaged += (damaged.empty() ? "" : ", ") + r.name;
  fail(path, ": damaged: its bytes do not match the digest written with it (",
       damaged.empty() ? std::string("in the file's structure, not in a tensor's data") : "in tensor " + damaged,
       "); restore it from a copy");
}

void H5File::flush() {
  if (H5Fflush(file_, H5F_SCOPE_GLOBAL) < 0) fail(path_, ": flush failed");
}

bool H5File::exists_or_root(const std::string& name) const { return name.empty() || name == "/" || exists(name); }

bool H5File::exists(const std::string& name) const {
  // H5Lexists must be asked for each path component in turn.
  std::string prefix;
  size_t start = name[0] == '/' ? 1 : 0;
  while (start <= name.size()) {
    size_t slash = name.find('/', start);
    std::string part = name.substr(0, slash == std::string::npos ? name.size() : slash);
    if (H5Lexists(file_, part.c_str(), H5P_DEFAULT) <= 0) return false;
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return true;
}

bool H5File::is_group(const std::string& name) const {
  Handle gr{H5Gopen2(file_, name.c_str(), H5P_DEFAULT), H5Gclose};
  return gr.id >= 0;
}

Shape H5File::shape(const std::string& name) const {
  Handle ds{H5Dopen2(file_, name.c_str(), H5P_DEFAULT), H5Dclose};
  if (ds.id < 0) fail(path_, ": no dataset '", name, "'");
  Handle sp{H5Dget_space(ds.id), H5Sclose};
  int rank = H5Sget_simple_extent_ndims(sp.id);
  if (rank < 0 || rank > Shape::kMaxRank) fail(path_, ": dataset '", name, "' has unsupported rank ", rank);
  hsize_t dims[Shape::kMaxRank] = {};
  H5Sget_simple_extent_dims(sp.id, dims, nullptr);
  Shape s;
  s.rank = rank;
  int64_t n = 1;
  for (int i = 0; i < rank; ++i) {
    if (dims[i] > (hsize_t(1) << 48) || __builtin_mul_overflow(n, int64_t(dims[i]), &n) || n > (int64_t(1) << 48))
      fail(path_, ": dataset '", name, "' claims more than 2^48 elements (a damaged file?)");
    s.dims[i] = int64_t(dims[i]);
  }
  return s;
}

std::string H5File::dtype(const std::string& name) const {
  Handle ds{H5Dopen2(file_, name.c_str(), H5P_DEFAULT), H5Dclose};
  if (ds.id < 0) fail(path_, ": no dataset '", name, "'");
  Handle ty{H5Dget_type(ds.id), H5Tclose};
  const size_t size = H5Tget_size(ty.id);
  switch (H5Tget_class(ty.id)) {
    case H5T_FLOAT: return size == 2 ? "float16" : size == 4 ? "float32" : size == 8 ? "float64" : "float?";
    case H5T_INTEGER:
      return (H5Tget_sign(ty.id) == H5T_SGN_NONE ? "uint" : "int") + std::to_string(8 * size);
    case H5T_STRING: return "string";
    default: return "other";
  }
}

std::vector<std::string> H5File::list(const std::string& group) const {
  std::string g = group.empty() ? "/" : group;
  Handle gr{H5Gopen2(file_, g.c_str(), H5P_DEFAULT), H5Gclose};
  if (gr.id < 0) fail(path_, ": no group '", g, "'");
  std::vector<std::string> names;
  H5Literate(
      gr.id, H5_INDEX_NAME, H5_ITER_INC, nullptr,
      [](hid_t, const char* name, const H5L_info_t*, void* out) -> herr_t {
        static_cast<std::vector<std::string>*>(out)->push_back(name);
        return 0;
      },
      &names);
  std::sort(names.begin(), names.end());
  return names;
}

template <class T>
std::vector<T> H5File::read(const std::string& name, Shape* shape_out) const {
  Shape s = shape(name);
  {  // before allocating: the data must fit in the file
    Handle ds{H5Dopen2(file_, name.c_str(), H5P_DEFAULT), H5Dclose};
    Handle ty{H5Dget_type(ds.id), H5Tclose};
    const double bytes = double(s.numel()) * double(H5Tget_size(ty.id)), most = max_data_bytes(file_, ds.id);
    if (bytes > most)
      fail(path_, ": dataset '", name, "' claims ", int64_t(bytes), " bytes of data, more than the file's ",
           int64_t(most), " bytes can hold (a damaged file?)");
  }
  std::vector<T> out(size_t(s.numel()));
  read_into(name, out.data(), s);
  if (shape_out) *shape_out = s;
  return out;
}

template <class T>
void H5File::read_into(const std::string& name, T* out, const Shape& expect) const {
  Shape s = shape(name);
  if (!(s == expect)) fail(path_, ": dataset '", name, "' has shape ", s, ", expected ", expect);
  Handle ds{H5Dopen2(file_, name.c_str(), H5P_DEFAULT), H5Dclose};
  Handle ty{H5Dget_type(ds.id), H5Tclose};
  const H5T_class_t cls = H5Tget_class(ty.id);
  const bool want_float = std::is_floating_point_v<T>;
  if (cls != H5T_FLOAT && cls != H5T_INTEGER) fail(path_, ": dataset '", name, "' is not numeric");
  if (want_float != (cls == H5T_FLOAT))
    fail(path_, ": dataset '", name, "' is ", dtype(name), ", expected ", want_float ? "a float type" : "an integer type");
  if (H5Dread(ds.id, native_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0)
    fail(path_, ": cannot read dataset '", name, "' (truncated or corrupt file?)");
}

template <class T>
void H5File::write(const std::string& name, const T* data, const Shape& s) {
  Handle lcpl{H5Pcreate(H5P_LINK_CREATE), H5Pclose};
  H5Pset_create_intermediate_group(lcpl.id, 1);
  hsize_t dims[Shape::kMaxRank];
  for (int i = 0; i < s.rank; ++i) dims[i] = hsize_t(s.dims[i]);
  Handle sp{s.rank == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(s.rank, dims, nullptr), H5Sclose};
  Handle ds{H5Dcreate2(file_, name.c_str(), native_type<T>(), sp.id, lcpl.id, H5P_DEFAULT, H5P_DEFAULT), H5Dclose};
  if (ds.id < 0) fail(path_, ": cannot create dataset '", name, "'");
  if (H5Dwrite(ds.id, native_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
    fail(path_, ": cannot write dataset '", name, "' (disk full?)");
}

namespace {
void write_attr(hid_t file, const std::string& path, const std::string& obj, const std::string& key, hid_t type,
                const void* value) {
  if (H5Aexists_by_name(file, obj.c_str(), key.c_str(), H5P_DEFAULT) > 0)
    H5Adelete_by_name(file, obj.c_str(), key.c_str(), H5P_DEFAULT);
  Handle sp{H5Screate(H5S_SCALAR), H5Sclose};
  Handle at{H5Acreate_by_name(file, obj.c_str(), key.c_str(), type, sp.id, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
            H5Aclose};
  if (at.id < 0 || H5Awrite(at.id, type, value) < 0) fail(path, ": cannot write attribute '", key, "' on '", obj, "'");
}

Handle open_attr(hid_t file, const std::string& path, const std::string& obj, const std::string& key) {
  Handle at{H5Aopen_by_name(file, obj.c_str(), key.c_str(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose};
  if (at.id < 0) fail(path, ": no attribute '", key, "' on '", obj, "'");
  return Handle{std::exchange(at.id, -1), H5Aclose};
}
}  // namespace

void H5File::set_attr(const std::string& key, const std::string& value, const std::string& obj) {
  Handle ty{H5Tcopy(H5T_C_S1), H5Tclose};  // variable-length UTF-8: h5py reads it as str
  H5Tset_size(ty.id, H5T_VARIABLE);
  H5Tset_cset(ty.id, H5T_CSET_UTF8);
  const char* p = value.c_str();
  write_attr(file_, path_, obj, key, ty.id, &p);
}
void H5File::set_attr(const std::string& key, double value, const std::string& obj) {
  write_attr(file_, path_, obj, key, H5T_NATIVE_DOUBLE, &value);
}
void H5File::set_attr(const std::string& key, int64_t value, const std::string& obj) {
  write_attr(file_, path_, obj, key, H5T_NATIVE_INT64, &value);
}

bool H5File::has_attr(const std::string& key, const std::string& obj) const {
  return exists_or_root(obj) && H5Aexists_by_name(file_, obj.c_str(), key.c_str(), H5P_DEFAULT) > 0;
}

std::string H5File::attr_string(const std::string& key, const std::string& obj) const {
  Handle at = open_attr(file_, path_, obj, key);
  Handle ty{H5Aget_type(at.id), H5Tclose};
  if (H5Tget_class(ty.id) != H5T_STRING) fail(path_, ": attribute '", key, "' on '", obj, "' is not a string");
  if (H5Tis_variable_str(ty.id) > 0) {
    Handle mt{H5Tcopy(H5T_C_S1), H5Tclose};
    H5Tset_size(mt.id, H5T_VARIABLE);
    H5Tset_cset(mt.id, H5Tget_cset(ty.id));
    char* s = nullptr;
    if (H5Aread(at.id, mt.id, &s) < 0) fail(path_, ": cannot read attribute '", key, "' on '", obj, "'");
    std::string out = s ? s : "";
    H5free_memory(s);
    return out;
  }
  std::string out(H5Tget_size(ty.id), '\0');
  if (H5Aread(at.id, ty.id, out.data()) < 0) fail(path_, ": cannot read attribute '", key, "' on '", obj, "'");
  return out.substr(0, out.find('\0'));
}

double H5File::attr_double(const std::string& key, const std::string& obj) const {
  Handle at = open_attr(file_, path_, obj, key);
  double v = 0;
  if (H5Aread(at.id, H5T_NATIVE_DOUBLE, &v) < 0) fail(path_, ": attribute '", key, "' on '", obj, "' is not numeric");
  return v;
}

int64_t H5File::attr_int(const std::string& key, const std::string& obj) const {
  Handle at = open_attr(file_, path_, obj, key);
  int64_t v = 0;
  if (H5Aread(at.id, H5T_NATIVE_INT64, &v) < 0) fail(path_, ": attribute '", key, "' on '", obj, "' is not an integer");
  return v;
}

#define TAPEVIT_INSTANTIATE(T)                                                           \
  template std::vector<T> H5File::read<T>(const std::string&, Shape*) const;             \
  template void H5File::read_into<T>(const std::string&, T*, const Shape&) const;        \
  template void H5File::write<T>(const std::string&, const T*, const Shape&);
TAPEVIT_INSTANTIATE(float)
TAPEVIT_INSTANTIATE(double)
TAPEVIT_INSTANTIATE(int32_t)
TAPEVIT_INSTANTIATE(int64_t)
TAPEVIT_INSTANTIATE(uint64_t)
TAPEVIT_INSTANTIATE(uint8_t)

}  // namespace tapevit
