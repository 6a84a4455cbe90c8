// tests/dist_without_mpi.cpp: src/train/dist.cpp as a build without MPI compiles it (TAPEVIT_HAVE_MPI unset), so
// that its refusal is tested in every build: under a launcher that started several processes, init() throws
// naming the count; a single process (or a launcher of one) runs as one rank.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "tapevit/error.h"
#include "tapevit/train/dist.h"

using namespace tapevit;

namespace {

int failures = 0;

void check(bool ok, const std::string& what) {
  std::printf("%s: %s\n", ok ? "ok" : "FAIL", what.c_str());
  failures += !ok;
}

std::string init_error() {
  try {
    dist::init();
    return "";
  } catch (const Error& e) {
    return e.what();
  }
}

}  // namespace

int main() {
  check(!dist::built_with_mpi(), "built without MPI");
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "SLURM_NTASKS"}) unsetenv(v);
  check(init_error().empty() && dist::size() == 1 && dist::rank() == 0, "no launcher: one rank");
  setenv("OMPI_COMM_WORLD_SIZE", "1", 1);
  check(init_error().empty(), "a launcher of one process: runs");
  setenv("OMPI_COMM_WORLD_SIZE", "4", 1);
  const std::string e = init_error();
  check(e.find("built without MPI, but a launcher started 4 processes") != std::string::npos &&
            e.find("cmake -DTAPEVIT_MPI=ON") != std::string::npos,
        "mpirun -np 4: refused (" + e + ")");
  unsetenv("OMPI_COMM_WORLD_SIZE");
  setenv("PMI_SIZE", "2", 1);  // MPICH's hydra, Slurm's PMI2
  check(init_error().find("started 2 processes") != std::string::npos, "PMI_SIZE=2: refused");
  unsetenv("PMI_SIZE");
  setenv("PMIX_RANK", "0", 1);  // srun --mpi=pmix
  setenv("SLURM_NTASKS", "8", 1);
  check(init_error().find("started 8 processes") != std::string::npos, "srun --mpi=pmix, 8 tasks: refused");
  return failures ? 1 : 0;
}
