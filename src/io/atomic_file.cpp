// src/io/atomic_file.cpp: see tapevit/io/atomic_file.h.
#include "tapevit/io/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "tapevit/error.h"

namespace tapevit {

namespace fs = std::filesystem;

namespace {
void fsync_path(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) fail(path, ": cannot open for sync");
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) fail(path, ": fsync failed");
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

void write_file_atomic(const std::string& path, const std::string& text) {
  replace_file_atomically(path, [&](const std::string& tmp) {
    std::ofstream f(tmp, std::ios::binary);
    f << text;
    f.close();
    if (!f) fail(tmp, ": write failed (disk full?)");
  });
}

}  // namespace tapevit
