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

// Errors name the file being replaced (`target`), the step that failed and its cause; the temporary file is an
// implementation detail (it is removed on failure).
void fsync_path(const std::string& path, const std::string& target) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) fail(target, ": cannot write: ", cause(errno), " (opening the written file for sync)");
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) fail(target, ": cannot write: ", cause(err), " (fsync)");
}

// POSIX writes, so that every failure has its errno (an ofstream only says that something failed)
void write_bytes(const std::string& path, const std::string& target, const std::vector<Bytes>& pieces) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail(target, ": cannot write: ", cause(errno), " (creating ", fs::path(path).filename().string(), ")");
  size_t total = 0, done = 0;
  for (const Bytes& b : pieces) total += b.size;
  for (const Bytes& b : pieces) {
    const char* p = static_cast<const char*>(b.data);
    for (size_t at = 0; at < b.size;) {
      const ssize_t w = ::write(fd, p + at, std::min<size_t>(b.size - at, size_t(1) << 30));
      if (w < 0 && errno == EINTR) continue;  // a signal (the stop request's SIGTERM) arrived mid-write: go on
      if (w <= 0) {
        const int err = w < 0 ? errno : ENOSPC;
        ::close(fd);
        fail(target, ": cannot write: ", cause(err), " (after ", done, " of ", total, " bytes)");
      }
      at += size_t(w), done += size_t(w);
    }
  }
  if (::close(fd) != 0) fail(target, ": cannot write: ", cause(errno), " (close)");
}

}  // namespace

int64_t temporary_file_pid(const std::string& filename) {
  const size_t at = filename.rfind(".tmp-");
  if (filename.size() < 2 || filename[0] != '.' || at == std::string::npos || at + 5 == filename.size()) return 0;
  const std::string digits = filename.substr(at + 5);
  if (digits.find_first_not_of("0123456789") != std::string::npos || digits.size() > 9) return 0;
  return std::stoll(digits);
}

void write_file_atomic(const std::string& path, const std::vector<Bytes>& pieces) {
  const fs::path target(path);
  std::string name = ".";  // built by appends: GCC 12's -Wrestrict misfires on a chain of string operator+
  name.append(target.filename().string()).append(".tmp-").append(std::to_string(::getpid()));
  const fs::path tmp = target.parent_path() / name;  // temporary_file_pid reads the PID back
  try {
    write_bytes(tmp.string(), path, pieces);
    fsync_path(tmp.string(), path);
    std::error_code ec;
    fs::rename(tmp, target, ec);
    if (ec) fail(path, ": cannot write: ", cause(ec.value()), " (renaming ", tmp.filename().string(), " over it)");
  } catch (...) {
    std::error_code ignore;
    fs::remove(tmp, ignore);
    throw;
  }
}

void write_file_atomic(const std::string& path, const std::string& text) { write_file_atomic(path, text.data(), text.size()); }

void write_file_atomic(const std::string& path, const void* data, size_t size) {
  write_file_atomic(path, std::vector<Bytes>{{data, size}});
}

}  // namespace tapevit
