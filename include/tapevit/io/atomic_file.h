// tapevit/io/atomic_file.h: replacing a file so that a crash at any moment leaves the old file or the new one, never
// a partial one (checkpoints, summary.csv, config.ini, exported weights, predictions).
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
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

// One run per directory: an exclusive flock on <dir>/.tapevit.lock, held from before the run writes anything until
// it ends (released by the kernel when the process ends, however it ends); the file holds the holder's PID.
//
// A start that fails leaves the file system as it found it: unless keep() was called, releasing the lock undoes
// what taking it and write_file did. Files written through write_file get their earlier bytes back (or are removed
// when there were none); the lock file is removed if this lock created it (while still holding it, so no other
// process's lock file is ever removed), else given back its earlier bytes; then the directories the lock created
// are removed, innermost first, each only if nothing else is in it by then. A directory that existed stays.
class RunDirLock {
 public:
  // Creates dir (and its missing parents), then locks it. An Error names the holder's PID when another process
  // holds the lock (nothing created is left then).
  explicit RunDirLock(const std::string& dir);
  ~RunDirLock();  // undoes (above) unless keep() was called, then releases the lock
  RunDirLock(const RunDirLock&) = delete;
  RunDirLock& operator=(const RunDirLock&) = delete;

  // write_file_atomic(<dir>/name, text), remembering the file's earlier bytes (or that there was none) for the undo.
  void write_file(const std::string& name, const std::string& text);
  // The run has written its first checkpoint: what was created and written stays.
  void keep() { keep_ = true; }

 private:
  void create_missing_dirs();
  void take_lock();
  void undo() noexcept;

  std::string dir_, lock_path_;
  int fd_ = -1;
  bool keep_ = false;
  bool created_lock_file_ = false;
  std::optional<std::string> lock_file_before_;       // the lock file's bytes before the PID was written over them
  std::vector<std::string> created_dirs_;              // outermost first
  std::vector<std::pair<std::string, std::optional<std::string>>> written_;  // path, its earlier bytes (none: absent)
};

}  // namespace tapevit
