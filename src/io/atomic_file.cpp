// src/io/atomic_file.cpp: see tapevit/io/atomic_file.h.
#include "tapevit/io/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "tapevit/error.h"

namespace tapevit {

namespace fs = std::filesystem;

namespace {
// errno in words a user can act on
std::string cause(int err) {
  switch (err) {
    case ENOSPC: return "no space left on the device (disk full)";
    case EDQUOT: return "disk quota exceeded";
    case EFBIG: return "file too large (over the file-size limit, ulimit -f)";
    case EROFS: return "read-only file system";
    case EACCES:
    case EPERM: return "permission denied";
    default: return std::strerror(err);
  }
}

void fsync_path(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) fail(path, ": cannot open for sync: ", cause(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) fail(path, ": fsync failed: ", cause(err));
}

// POSIX writes, so that every failure has its errno (an ofstream only says that something failed)
void write_bytes(const std::string& path, const void* data, size_t size) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail(path, ": cannot create: ", cause(errno));
  const char* p = static_cast<const char*>(data);
  size_t done = 0;
  while (done < size) {
    const ssize_t w = ::write(fd, p + done, std::min<size_t>(size - done, size_t(1) << 30));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      const int err = w < 0 ? errno : ENOSPC;
      ::close(fd);
      fail(path, ": write failed after ", done, " of ", size, " bytes: ", cause(err));
    }
    done += size_t(w);
  }
  if (::close(fd) != 0) fail(path, ": close failed: ", cause(errno));
}

}  // namespace

void replace_file_atomically(const std::string& path, const std::function<void(const std::string&)>& write_tmp) {
  const fs::path target(path);
  const fs::path tmp = target.parent_path() / ("." + target.filename().string() + ".tmp-" + std::to_string(::getpid()));
  try {
    write_tmp(tmp.string());
    fsync_path(tmp.string());
    std::error_code ec;
    fs::rename(tmp, target, ec);
    if (ec) fail(path, ": cannot rename ", tmp.string(), " over it: ", ec.message());
  } catch (...) {
    std::error_code ignore;
    fs::remove(tmp, ignore);
    throw;
  }
}

void write_file_atomic(const std::string& path, const std::string& text) { write_file_atomic(path, text.data(), text.size()); }

void write_file_atomic(const std::string& path, const void* data, size_t size) {
  replace_file_atomically(path, [&](const std::string& tmp) { write_bytes(tmp, data, size); });
}

}  // namespace tapevit
