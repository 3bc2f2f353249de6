// OpenBLAS-backed products; see gemm.h.
#include "kernels/cpu/gemm.h"

#include <cblas.h>

namespace rattn::kernels::cpu {

void MatMulTransposedWeights(const float* x, const float* w, int rows, int in, int out, float* y,
                             float beta) {
  if (rows == 0 || out == 0) return;
  if (rows == 1) {
    // One row: a matrix-vector product avoids GEMM's packing overhead.
    cblas_sgemv(CblasRowMajor, CblasNoTrans, out, in, 1.0f, w, in, x, 1, beta, y, 1);
    return;
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, out, in, 1.0f, x, in, w, in, beta, y,
              out);
}

void SetBlasThreads(int threads) {
  if (threads > 0) openblas_set_num_threads(threads);
}

}  // namespace rattn::kernels::cpu
