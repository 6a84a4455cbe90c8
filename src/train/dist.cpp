// src/train/dist.cpp: see tapevit/train/dist.h. Plain MPI-3.1 C calls (OpenMPI and MPICH), all in this file.
#include "tapevit/train/dist.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "tapevit/error.h"

#if TAPEVIT_HAVE_MPI
#include <mpi.h>
#endif

namespace tapevit::dist {

namespace {

int g_rank = 0, g_size = 1, g_local = 1;
bool g_initialized = false;
double g_timeout = 1800, g_waiting = 0;

int env_int(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return 0;
  char* end = nullptr;
  const long x = std::strtol(v, &end, 10);
  return *end == '\0' && x > 0 && x < (1 << 24) ? int(x) : 0;
}

bool launched() {
  return env_int("OMPI_COMM_WORLD_SIZE") > 0 || env_int("PMI_SIZE") > 0 || std::getenv("PMIX_RANK") != nullptr;
}

}  // namespace

int launched_size() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"})
    if (const int n = env_int(v)) return n;
  if (std::getenv("PMIX_RANK"))  // srun --mpi=pmix
    for (const char* v : {"SLURM_STEP_NUM_TASKS", "SLURM_NTASKS"})
      if (const int n = env_int(v)) return n;
  return 1;
}

std::string host() {
  char name[256] = {0};
  if (gethostname(name, sizeof name - 1) != 0) return "unknown host";
  return name;
}

std::string where() { return "rank " + std::to_string(g_rank) + "/" + std::to_string(g_size) + " (" + host() + ")"; }

int rank() { return g_rank; }
int size() { return g_size; }
int local_size() { return g_local; }
void set_timeout(double seconds) { g_timeout = seconds; }
double seconds_waiting() { return g_waiting; }

#if TAPEVIT_HAVE_MPI

namespace {

void check(int rc, const char* call, const std::string& what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING] = {0};
  int n = 0;
  MPI_Error_string(rc, text, &n);
  fail(call, " failed on ", what, ": ", std::string(text, size_t(std::max(0, n))));
}

// Polls a non-blocking collective to its end, or throws when it takes longer than the timeout.
void wait(MPI_Request& req, const std::string& what) {
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  for (int done = 0;;) {
    check(MPI_Test(&req, &done, MPI_STATUS_IGNORE), "MPI_Test", what);
    if (done) break;
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    if (s > g_timeout)
      fail(what, " did not complete within ", g_timeout,
           " s (dist_timeout): another rank has stopped, hangs or is far slower");
    // MPI progresses a non-blocking collective only inside MPI calls: poll without pause for the first 10 s (a
    // whole transfer: ViT-B's 346 MB of gradients take well under that over shared memory or a network), then
    // every millisecond (a rank late or gone: do not burn the core while waiting for the timeout)
    if (s > 10) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  g_waiting += std::chrono::duration<double>(Clock::now() - t0).count();
}

template <class T>
void allreduce(T* x, int64_t n, MPI_Datatype type, const std::string& what) {
  if (g_size == 1) return;
  // Pieces of 16 MB (MPI counts are int, too): an MPI library's temporary buffer for a bigger one comes from mmap
  // and its pages are faulted in anew at every call (glibc's malloc maps anything above 32 MB), which made the
  // allreduce of ViT-S's 88 MB of gradients 30x slower than ViT-Ti's 23 MB per byte (experiments/2026-11-30_mpi).
  constexpr int64_t kChunk = (int64_t(16) << 20) / int64_t(sizeof(T));
  for (int64_t i = 0; i < n; i += kChunk) {
    MPI_Request req;
    check(MPI_Iallreduce(MPI_IN_PLACE, x + i, int(std::min(kChunk, n - i)), type, MPI_SUM, MPI_COMM_WORLD, &req),
          "MPI_Iallreduce", what);
    wait(req, what);
  }
}

}  // namespace

bool built_with_mpi() { return true; }

void init() {
  if (g_initialized || !launched()) return;
  int provided = 0;
  if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
    fail("MPI_Init_thread failed: this process was started by an MPI launcher that tapevit's MPI cannot join");
  g_initialized = true;
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_size);
  MPI_Comm local;
  if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local) == MPI_SUCCESS) {
    MPI_Comm_size(local, &g_local);
    MPI_Comm_free(&local);
  }
}

void finalize() {
  if (!g_initialized) return;
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
  g_initialized = false;
}

void abort(int code) {
  if (g_initialized && g_size > 1) MPI_Abort(MPI_COMM_WORLD, code);
  finalize();
  std::exit(code);
}

void allreduce_sum(float* x, int64_t n, const std::string& what) { allreduce(x, n, MPI_FLOAT, what); }
void allreduce_sum(double* x, int64_t n, const std::string& what) { allreduce(x, n, MPI_DOUBLE, what); }
void allreduce_sum(int64_t* x, int64_t n, const std::string& what) { allreduce(x, n, MPI_INT64_T, what); }

void broadcast(void* data, int64_t bytes, const std::string& what) {
  if (g_size == 1) return;
  constexpr int64_t kChunk = int64_t(1) << 30;
  for (int64_t i = 0; i < bytes; i += kChunk) {
    MPI_Request req;
    check(MPI_Ibcast(static_cast<char*>(data) + i, int(std::min(kChunk, bytes - i)), MPI_BYTE, 0, MPI_COMM_WORLD, &req),
          "MPI_Ibcast", what);
    wait(req, what);
  }
}

std::vector<uint64_t> allgather(uint64_t x, const std::string& what) {
  std::vector<uint64_t> all(size_t(g_size), x);
  if (g_size == 1) return all;
  MPI_Request req;
  check(MPI_Iallgather(&x, 1, MPI_UINT64_T, all.data(), 1, MPI_UINT64_T, MPI_COMM_WORLD, &req), "MPI_Iallgather", what);
  wait(req, what);
  return all;
}

#else  // a build without MPI: one rank

bool built_with_mpi() { return false; }

void init() {
  if (const int n = launched_size(); n > 1)
    fail("this tapevit was built without MPI, but a launcher started ", n,
         " processes of it: each would train alone and they would all write one run directory. Rebuild with MPI "
         "(apt install libopenmpi-dev, then cmake -DTAPEVIT_MPI=ON), or start a single process");
}
void finalize() {}
void abort(int code) { std::exit(code); }
void allreduce_sum(float*, int64_t, const std::string&) {}
void allreduce_sum(double*, int64_t, const std::string&) {}
void allreduce_sum(int64_t*, int64_t, const std::string&) {}
void broadcast(void*, int64_t, const std::string&) {}
std::vector<uint64_t> allgather(uint64_t x, const std::string&) { return {x}; }

#endif

void broadcast(std::string& s, const std::string& what) {
  if (g_size == 1) return;
  uint64_t n = s.size();
  broadcast(&n, sizeof n, what);
  s.resize(size_t(n));
  broadcast(s.data(), int64_t(n), what);
}

std::vector<std::string> allgather(const std::string& s, const std::string& what) {
  if (g_size == 1) return {s};
  const std::vector<uint64_t> lengths = allgather(uint64_t(s.size()), what);
  const uint64_t longest = *std::max_element(lengths.begin(), lengths.end());
  // one value at a time: strings here are short (host names, fingerprints)
  std::vector<std::string> out(static_cast<size_t>(g_size));
  for (uint64_t i = 0; i < longest; i += 8) {
    uint64_t word = 0;
    if (i < s.size()) std::memcpy(&word, s.data() + i, std::min<size_t>(8, s.size() - i));
    const std::vector<uint64_t> words = allgather(word, what);
    for (size_t r = 0; r < out.size(); ++r) {
      const size_t take = size_t(std::min<uint64_t>(8, lengths[r] > i ? lengths[r] - i : 0));
      out[r].append(reinterpret_cast<const char*>(&words[r]), take);
    }
  }
  return out;
}

}  // namespace tapevit::dist
