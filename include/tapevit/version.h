// tapevit/version.h: the library's version and how it was built (what `tapevit --version` prints).
#pragma once
#include <string>

namespace tapevit {

const char* version();  // "0.4.0"
const char* commit();   // the git commit it was built from ("1a2b3c4d5e6f", "...-dirty", or "unknown")
// One line per build option: compiler, -march=native, the AVX-512 float GEMM, OpenMP threads, MPI.
std::string build_info();

}  // namespace tapevit
