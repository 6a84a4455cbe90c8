// src/data/folder_check.cpp: passes over every file of image-folder data sets, on all OpenMP threads: the check
// before training (check_images) and the cache's decoding (decode_all). Both report every file that fails, not the
// first one a thread met; see tapevit/data/dataset.h.
#include <omp.h>

#include <atomic>
#include <chrono>
#include <exception>
#include <functional>
#include <new>
#include <sstream>

#include "tapevit/data/dataset.h"
#include "tapevit/error.h"

namespace tapevit {

namespace {

// fn(set, i) for every file i of every set, in parallel; progress(done, total) from one thread every ~0.1 s and
// once at the end. An Error lists the files fn threw for, in order, with what each threw.
void for_each_file(const std::vector<const Dataset*>& sets, const std::function<void(const Dataset&, int64_t)>& fn,
                   const FileProgress& progress) {
  std::vector<std::pair<const Dataset*, int64_t>> items;
  for (const Dataset* d : sets)
    for (int64_t i = 0; i < int64_t(d->files.size()); ++i) items.emplace_back(d, i);
  const int64_t total = int64_t(items.size());
  std::vector<std::string> errors(items.size());
  std::atomic<int64_t> done{0};
  using Clock = std::chrono::steady_clock;
  Clock::time_point shown = Clock::now();
#pragma omp parallel for schedule(dynamic, 8)
  for (int64_t k = 0; k < total; ++k) {
    try {
      fn(*items[size_t(k)].first, items[size_t(k)].second);
    } catch (const std::bad_alloc&) {
      errors[size_t(k)] = "image '" + items[size_t(k)].first->files[size_t(items[size_t(k)].second)] + "': out of memory";
    } catch (const std::exception& e) {  // tapevit's Errors name the file; anything else gets its name here
      const std::string& path = items[size_t(k)].first->files[size_t(items[size_t(k)].second)];
      const std::string what = e.what();
      errors[size_t(k)] = what.find(path) != std::string::npos ? what : "image '" + path + "': " + what;
    }
    const int64_t now_done = ++done;
    if (progress && omp_get_thread_num() == 0 && Clock::now() - shown > std::chrono::milliseconds(100)) {
      progress(now_done, total);
      shown = Clock::now();
    }
  }
  if (progress && total > 0) progress(total, total);
  std::vector<std::string> bad;
  for (const auto& e : errors)
    if (!e.empty()) bad.push_back(e);
  if (bad.empty()) return;
  std::string dirs;
  for (const Dataset* d : sets)
    if (dirs.find(d->dir) == std::string::npos) dirs += (dirs.empty() ? "" : " and ") + d->dir;
  std::ostringstream os;
  os << bad.size() << " of the " << total << " images of " << dirs << (bad.size() == 1 ? " is" : " are")
     << " unreadable (remove or replace " << (bad.size() == 1 ? "it" : "them") << "):";
  const size_t shown_max = 100;
  for (size_t i = 0; i < bad.size() && i < shown_max; ++i) os << "\n  " << bad[i];
  if (bad.size() > shown_max) os << "\n  ... and " << bad.size() - shown_max << " more";
  fail(os.str());
}

}  // namespace

void check_images(const std::vector<const Dataset*>& sets, const FileProgress& progress) {
  for_each_file(sets, [](const Dataset& d, int64_t i) {
    const std::string& path = d.files[size_t(i)];
    if (!read_image_header(path).ends_whole) read_image(path, int(d.channels));  // cut short, or bytes after the end
  }, progress);
}

void decode_all(Dataset& d, const FileProgress& progress) {
  d.decoded.assign(size_t(d.n), Image{});
  try {
    for_each_file({&d}, [&d](const Dataset&, int64_t i) { d.decoded[size_t(i)] = read_image(d.files[size_t(i)], int(d.channels)); },
                  progress);
  } catch (...) {
    d.decoded.clear();
    throw;
  }
}

}  // namespace tapevit
