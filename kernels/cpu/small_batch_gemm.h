// Products of a few activation rows with a large weight matrix: the decode step's shape, where
// every weight is used by only a handful of rows. The weights are streamed from memory once,
// converted from 16 bits on the way in when so stored; each block of weight rows is multiplied
// with every activation row while it is in the core's cache. BLAS libraries pack the weights
// first for such shapes, which for decode means copying all of them every step.
#ifndef RATTN_KERNELS_CPU_SMALL_BATCH_GEMM_H_
#define RATTN_KERNELS_CPU_SMALL_BATCH_GEMM_H_

#include "kernels/cpu/weights.h"

namespace rattn::kernels::cpu {

// Rows up to which SmallBatchMatMul is the better choice.
inline constexpr int kSmallBatchMaxRows = 16;

// y[m][o] = sum_i x[m][i] * w[o][i] + beta * y[m][o] for output columns [first, first + count):
// x is (rows, in), w is (out, in), y is (rows, out), all row-major. Single-threaded; callers
// split the columns between threads.
void SmallBatchMatMul(const float* x, WeightMatrix w, int rows, int in, int out, int first,
                      int count, float* y, float beta);

}  // namespace rattn::kernels::cpu

#endif  // RATTN_KERNELS_CPU_SMALL_BATCH_GEMM_H_
