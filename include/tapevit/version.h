// tapevit/version.h: the library's version and how it was built (what `tapevit --version` prints).
#pragma once
#include <string>

namespace tapevit {

const char* version();  // "0.4.0"
// One line per build option: compiler, -march=native, the AVX-512 float GEMM, OpenMP threads, MPI.
std::string build_info();

}  // namespace tapevit
