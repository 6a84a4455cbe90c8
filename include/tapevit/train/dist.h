// tapevit/train/dist.h: the processes of a data-parallel run (`mpirun -np N tapevit train`), over MPI.
//
// Every rank holds the whole model and optimizer; rank r computes rows [r B/N, (r+1) B/N) of each global batch
// (B = batch_size) and the gradients are summed by one allreduce, so every rank takes the same optimizer step and
// the weights stay bitwise equal across ranks. Rank 0 alone reads --init/--resume (the others receive what it read)
// and writes the run directory. Without a launcher (or in a build without MPI) there is one rank and every call
// below is a no-op.
//
// Collectives are non-blocking calls polled with MPI_Test, so that one that does not complete within the timeout
// (a rank died or hangs) throws an Error naming what it was waiting for, instead of waiting forever. Errors are
// thrown like any other; the command's main() prints "rank r/N (host): ..." and calls abort(), which ends every
// rank (MPI_Abort).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace tapevit::dist {

// Whether this build has MPI (CMake's TAPEVIT_MPI).
bool built_with_mpi();
// The number of processes a launcher (mpirun, srun, mpiexec) says it started, from its environment
// (OMPI_COMM_WORLD_SIZE, PMI_SIZE, PMIX_SIZE / SLURM_NTASKS with PMIX_RANK); 1 without one.
int launched_size();

// Joins the launcher's processes (MPI_Init_thread, MPI_THREAD_FUNNELED: OpenMP threads never call MPI). Does
// nothing without a launcher. Throws in a build without MPI when the launcher started several processes: they
// would all train and write one run directory.
void init();
// MPI_Finalize, at a normal end (every rank).
void finalize();
// Ends every rank with `code` (MPI_Abort), or this process alone (std::exit) with one rank.
[[noreturn]] void abort(int code);

int rank();
int size();
inline bool is_root() { return rank() == 0; }
// This node's host name, and the rank's description for messages: "rank 1/4 (node07)".
std::string host();
std::string where();
// The ranks on this machine (MPI_COMM_TYPE_SHARED); 1 with one rank.
int local_size();

// Seconds a collective may take before it throws (the run's dist_timeout).
void set_timeout(double seconds);
// Seconds spent in collectives so far (communication, and waiting for the slowest rank).
double seconds_waiting();

// Sums over the ranks, in place. `what` names the data for a timeout's message ("the gradients of step 12").
void allreduce_sum(float* x, int64_t n, const std::string& what);
void allreduce_sum(double* x, int64_t n, const std::string& what);
void allreduce_sum(int64_t* x, int64_t n, const std::string& what);
// Rank 0's bytes to every rank.
void broadcast(void* data, int64_t bytes, const std::string& what);
void broadcast(std::string& s, const std::string& what);
// One value from each rank, in rank order.
std::vector<uint64_t> allgather(uint64_t x, const std::string& what);
std::vector<std::string> allgather(const std::string& s, const std::string& what);

}  // namespace tapevit::dist
