// src/io/atomic_file.cpp: see tapevit/io/atomic_file.h.
#include "tapevit/io/atomic_file.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

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

// The whole file, or nothing when it does not exist (an Error when it exists but cannot be read).
std::optional<std::string> read_if_exists(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return std::nullopt;
  std::ifstream f(path, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  if (!f) fail(path, ": cannot read it (its bytes are kept until the run has written a checkpoint)");
  return ss.str();
}

// The lock file's bytes (its holder's PID) replaced by `bytes`. Best effort: the lock holds without them.
void overwrite(const std::string& path, const std::string& bytes) {
  const int w = ::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (w < 0) return;
  if (::write(w, bytes.data(), bytes.size()) != ssize_t(bytes.size())) {
    // the lock holds without the PID in it
  }
  ::close(w);
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

RunDirLock::RunDirLock(const std::string& dir) : dir_(dir), lock_path_((fs::path(dir) / ".tapevit.lock").string()) {
  try {
    create_missing_dirs();
    take_lock();
  } catch (...) {
    undo();
    throw;
  }
}

RunDirLock::~RunDirLock() {
  if (!keep_) undo();
  if (fd_ >= 0) ::close(fd_);
}

void RunDirLock::create_missing_dirs() {
  std::vector<fs::path> missing;  // innermost first
  fs::path p = fs::path(dir_).lexically_normal();
  if (!p.has_filename()) p = p.parent_path();  // "runs/x/"
  std::error_code ec;
  for (; !p.empty() && !fs::exists(p, ec); p = p.parent_path()) missing.push_back(p);
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    if (fs::create_directory(*it, ec)) created_dirs_.push_back(it->string());  // (false: another process made it)
    if (ec) fail("cannot create the run directory ", it->string(), ": ", cause(ec.value()));
  }
}

void RunDirLock::take_lock() {
  // The lock is held through a read-only descriptor (flock does not need write access), so that the run keeps no
  // file open for writing between its writes: a directory remounted read-only mid-run then fails at the next write,
  // with its cause, instead of the remount being refused.
  for (int attempt = 0;; ++attempt) {
    bool created = true;
    int fd = ::open(lock_path_.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 && errno == EEXIST) created = false, fd = ::open(lock_path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && attempt < 100) continue;  // removed between the two opens: again
    if (fd < 0) fail(lock_path_, ": cannot create the run's lock file: ", cause(errno));
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      char pid[32] = {0};
      const ssize_t n = ::pread(fd, pid, sizeof pid - 1, 0);
      ::close(fd);  // (a lock file created here is the holder's now: it stays)
      if (err != EWOULDBLOCK) fail(lock_path_, ": cannot lock the run directory: ", cause(err));
      std::string holder = n > 0 ? std::string(pid, size_t(n)) : "";
      while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
      fail("run directory ", dir_, " is in use by another tapevit run (PID ", holder.empty() ? "unknown" : holder,
           "): wait for it to end, or write elsewhere with --output");
    }
    // A failed start removes the lock file it created, holding the lock: one opened before that removal and locked
    // after it is a file nobody else can find. Hold the lock only on the file the path names.
    struct stat held {}, named {};
    if (::fstat(fd, &held) == 0 && ::stat(lock_path_.c_str(), &named) == 0 && held.st_dev == named.st_dev &&
        held.st_ino == named.st_ino) {
      fd_ = fd;
      created_lock_file_ = created;
      break;
    }
    ::close(fd);
    if (attempt >= 100) fail(lock_path_, ": cannot lock the run directory: its lock file keeps being replaced");
  }
  if (!created_lock_file_) {
    char before[64];
    const ssize_t n = ::pread(fd_, before, sizeof before, 0);
    lock_file_before_ = std::string(before, size_t(std::max<ssize_t>(n, 0)));
  }
  overwrite(lock_path_, std::to_string(::getpid()) + "\n");
}

void RunDirLock::write_file(const std::string& name, const std::string& text) {
  const std::string path = (fs::path(dir_) / name).string();
  const bool first = std::none_of(written_.begin(), written_.end(), [&](const auto& w) { return w.first == path; });
  if (first) written_.emplace_back(path, read_if_exists(path));
  write_file_atomic(path, text);
}

void RunDirLock::undo() noexcept {
  std::error_code ec;
  for (auto it = written_.rbegin(); it != written_.rend(); ++it) try {
      if (it->second) write_file_atomic(it->first, *it->second);
      else fs::remove(it->first, ec);
    } catch (...) {  // (the run's own error is the one to report)
    }
  written_.clear();
  if (fd_ >= 0) {
    if (created_lock_file_) ::unlink(lock_path_.c_str());  // still locked: no other process holds this file
    else if (lock_file_before_) overwrite(lock_path_, *lock_file_before_);
    ::close(fd_);
    fd_ = -1;
  }
  for (auto it = created_dirs_.rbegin(); it != created_dirs_.rend(); ++it) fs::remove(*it, ec);  // only if empty
  created_dirs_.clear();
}

}  // namespace tapevit
