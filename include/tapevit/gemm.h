// tapevit/gemm.h: the one matrix-multiply entry point every layer uses.
//
// C (M, N) = alpha * op(A) (M, K) * op(B) (K, N) + beta * C, all row-major with leading dimensions
// (row strides), so strided views such as q, k, v inside a fused qkv buffer multiply without copies.
// ta: A is stored (K, M) and used transposed; tb likewise for B. Called from inside an OpenMP region the
// product runs on the calling thread only; from outside, it uses the OpenMP threads.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace tapevit {

// bias (N), optional, needs beta == 0: C = alpha op(A) op(B) + bias on every row (a Linear's forward without
// a separate pass over C).
template <class T>
void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda, const T* B,
          int64_t ldb, T beta, T* C, int64_t ldc, const T* bias = nullptr);

// An elementwise map that gemm_map applies where it reads an operand or writes C: y[c] = f(x[c]) for the stored
// matrix's element (row, col + c), c < n, on the calling thread. The position lets a map read per-row and per-column
// data from ctx (LayerNorm's statistics and affine, GELU's input at the same element); y may equal x. A map must
// give an element the same result wherever it sits in a call: the kernels apply it to slices of rows.
template <class T>
struct ElementMap {
  using Fn = void (*)(const void* ctx, T* y, const T* x, int64_t row, int64_t col, int64_t n);
  Fn fn = nullptr;
  const void* ctx = nullptr;
  ElementMap() = default;
  ElementMap(std::nullptr_t) {}
  ElementMap(Fn f, const void* c = nullptr) : fn(f), ctx(c) {}
  explicit operator bool() const { return fn != nullptr; }
  void operator()(T* y, const T* x, int64_t row, int64_t col, int64_t n) const { fn(ctx, y, x, row, col, n); }
};

// gemm with elementwise maps fused into the reading of the operands and the writing of C:
//   C = fc(alpha op(fa(A)) op(fb(B)) + beta C + bias),
// each map null (none) or applied to the stored values (fa to A as stored, fb to B, fc to C's final values). The
// AVX-512 kernels map a row-major A's rows and B's rows of K as they pack them, and C's rows once a block of them
// is final, so fa(A), fb(B) and the unmapped C are never stored. Other cases (double, transposed mapped operands,
// small products) map into temporaries, and C after the product.
// sum_a (M), optional, needs fa null: sum_a[i] += the sum over k of op(A)(i, k), summed as add_column_sums sums (bit
// for bit add_column_sums(sum_a, A, K, M) for a transposed A). A Linear's weight gradient dW = dy^T x has A = dy
// transposed, and its bias gradient is these sums: the kernels add them up as they pack dy, so db costs no pass over dy.
template <class T>
void gemm_map(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda, ElementMap<T> fa,
              const T* B, int64_t ldb, ElementMap<T> fb, T beta, T* C, int64_t ldc, const T* bias = nullptr,
              ElementMap<T> fc = nullptr, T* sum_a = nullptr);

}  // namespace tapevit

namespace tapevit {

// Mixed precision (timm's --amp --amp-dtype bfloat16): while a Bf16Scope is alive (set by the training loop, seen by
// every thread), gemm<float> rounds op(A) and op(B) to bfloat16 (to nearest even, as torch) and accumulates in
// float32 with AVX512_BF16, as torch.autocast('cpu', dtype=torch.bfloat16) does for matmuls and linears. Inputs and
// outputs stay float32 in memory: the rounding happens while the operands are packed. Products of fewer than
// kBf16MinMacs multiply-adds stay float32: packing both operands costs more there than the bfloat16 products save
// (vit-fmnist's amp step with attention's per-head products in bfloat16: 332 img/s, 376 without;
// experiments/2026-11-30_amp). Attention's per-head products do not come here in AVX-512 builds: layers/attention.cpp
// runs them in register tiles of its own, on bfloat16 pairs inside a Bf16Scope. gemm<double> is unaffected.
inline constexpr int64_t kBf16MinMacs = int64_t(1) << 18;
class Bf16Scope {
 public:
  explicit Bf16Scope(bool on = true);  // on without bf16_available(): an Error naming the missing instruction set
  ~Bf16Scope();
  Bf16Scope(const Bf16Scope&) = delete;
  Bf16Scope& operator=(const Bf16Scope&) = delete;

 private:
  bool previous_;
};
bool gemm_bf16();         // inside a Bf16Scope
bool bf16_available();    // built with AVX512_BF16 and this CPU has it
std::string bf16_unavailable_reason();  // why not ("" when available)
// torch's float -> bfloat16 rounding (round to nearest, ties to even; NaN stays NaN), and back.
uint16_t round_to_bf16(float x);
float bf16_to_float(uint16_t b);

// out (C) += column sums of x (R, C): each column's rows in blocks of kSumBlockRows, summed in order, and the block
// sums added pairwise (src/core/column_sums.h), so the rounding error grows with kSumBlockRows + log2(R / kSumBlockRows), not
// with R (a bias gradient sums B*N rows). The blocks are fixed by R alone: the result does not depend on the thread
// count, and gemm_map's fused sum_a gives the same bits.
inline constexpr int64_t kSumBlockRows = 64;
template <class T>
void add_column_sums(T* out, const T* x, int64_t R, int64_t C);


}  // namespace tapevit
