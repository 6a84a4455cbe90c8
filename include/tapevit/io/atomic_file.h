// tapevit/io/atomic_file.h: replacing a file so that a crash at any moment leaves the old file or the new one, never
// a partial one (checkpoints, summary.csv, config.ini, exported weights, predictions).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace tapevit {

// Write `text` (or `size` bytes, or the pieces in order) to a temporary file beside path (.NAME.tmp-PID), fsync it
// and rename it over path. A failure names the path and its cause: no space left on the device, disk quota exceeded,
// the file-size limit (ulimit -f), a read-only file system, permission denied; the temporary is removed and path is
// untouched.
void write_file_atomic(const std::string& path, const std::string& text);
void write_file_atomic(const std::string& path, const void* data, size_t size);
struct Bytes {
  const void* data;
  size_t size;
};
void write_file_atomic(const std::string& path, const std::vector<Bytes>& pieces);
// The writer's PID in the name of such a temporary file (".NAME.tmp-PID"); 0 when filename is not one.
int64_t temporary_file_pid(const std::string& filename);

}  // namespace tapevit
