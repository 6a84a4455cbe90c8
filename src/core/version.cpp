// src/core/version.cpp: see tapevit/version.h. TAPEVIT_VERSION and TAPEVIT_NATIVE come from CMakeLists.txt.
#include "tapevit/version.h"

#include <omp.h>

#include <sstream>

namespace tapevit {

namespace detail {
bool sgemm_avx512_built();  // src/core/sgemm_avx512.cpp
}

const char* version() { return TAPEVIT_VERSION; }

std::string build_info() {
  std::ostringstream os;
#if defined(__clang__)
  const char* compiler = "clang ";
#elif defined(__GNUC__)
  const char* compiler = "g++ ";
#else
  const char* compiler = "";
#endif
  os << "compiler: " << compiler << __VERSION__ << ", C++" << __cplusplus / 100 % 100 << "\n"
     << "native (-march=native): " << (TAPEVIT_NATIVE ? "on" : "off") << "\n"
     << "AVX-512 float GEMM: "
     << (detail::sgemm_avx512_built() ? "on" : "off (Eigen's GEMM: built without AVX-512 or TAPEVIT_SGEMM_AVX512=OFF)")
     << "\n"
     << "OpenMP: " << _OPENMP << ", " << omp_get_max_threads() << " threads\n"
     << "MPI: off (not built)\n";
  return os.str();
}

}  // namespace tapevit
