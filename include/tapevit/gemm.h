// tapevit/gemm.h: the one matrix-multiply entry point every layer uses.
//
// C (M, N) = alpha * op(A) (M, K) * op(B) (K, N) + beta * C, all row-major with leading dimensions
// (row strides), so strided views such as q, k, v inside a fused qkv buffer multiply without copies.
// ta: A is stored (K, M) and used transposed; tb likewise for B. Called from inside an OpenMP region the
// product runs on the calling thread only; from outside, it uses the OpenMP threads.
#pragma once
#include <cstdint>

namespace tapevit {

// bias (N), optional, needs beta == 0: C = alpha op(A) op(B) + bias on every row (a Linear's forward without
// a separate pass over C).
template <class T>
void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda, const T* B,
          int64_t ldb, T beta, T* C, int64_t ldc, const T* bias = nullptr);

}  // namespace tapevit

namespace tapevit {

// out (C) += column sums of x (R, C). Threads split the columns, so each sum runs over rows in order and
// the result does not depend on the thread count.
template <class T>
void add_column_sums(T* out, const T* x, int64_t R, int64_t C);


}  // namespace tapevit
