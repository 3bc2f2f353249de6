// Dense matrix products for the CPU backend. OpenMP threads split the output columns; each
// slice runs the weight-streaming kernel for a few rows (decode) or OpenBLAS sgemm, on the
// calling thread, for many (prefill). One thread pool (OpenMP's) serves products and attention
// alike; a second (OpenBLAS's own) would spin against it on every switch.
#ifndef RATTN_KERNELS_CPU_GEMM_H_
#define RATTN_KERNELS_CPU_GEMM_H_

#include "kernels/cpu/weights.h"

namespace rattn::kernels::cpu {

// y = x * w^T + beta * y, where x is (rows, in) fp32, w is (out, in) as stored in checkpoints
// (nn.Linear weights; fp32, bf16 or f16), and y is (rows, out) fp32. All row-major and dense.
// Uses up to `threads` OpenMP threads.
void MatMulTransposedWeights(const float* x, WeightMatrix w, int rows, int in, int out, float* y,
                             float beta = 0.0f, int threads = 1);

// Makes OpenBLAS run every call on the calling thread; call once before the first product.
void UseCallerThreadsForBlas();

}  // namespace rattn::kernels::cpu

#endif  // RATTN_KERNELS_CPU_GEMM_H_
