// tapevit/io/atomic_file.h: replacing a file so that a crash at any moment leaves the old file or the new one, never
// a partial one (checkpoints, summary.csv, config.ini, exported weights, predictions).
#pragma once
#include <functional>
#include <string>

namespace tapevit {

// Write the file at path through write_tmp(temporary path beside it), fsync it and rename it over path. On any
// error the temporary is removed and path is untouched.
void replace_file_atomically(const std::string& path, const std::function<void(const std::string&)>& write_tmp);
// Write `text` (or `size` bytes) to path that way. A failure names the path and its cause: no space left on the
// device, disk quota exceeded, the file-size limit (ulimit -f), a read-only file system, permission denied.
void write_file_atomic(const std::string& path, const std::string& text);
void write_file_atomic(const std::string& path, const void* data, size_t size);

}  // namespace tapevit
