// OpenBLAS-backed products split over OpenMP threads; see gemm.h.
#include "kernels/cpu/gemm.h"

#include <cblas.h>

#include <algorithm>

#include "kernels/cpu/small_batch_gemm.h"

namespace rattn::kernels::cpu {
namespace {

// Column slices are multiples of this, so each slice keeps OpenBLAS's vector kernels busy.
constexpr int kColumnAlignment = 16;
// Below this many multiply-adds a product runs on one thread: forking costs more.
constexpr long kMinParallelWork = 1l << 18;

void MatMulSlice(const float* x, const float* w, int rows, int in, int out, int first, int count,
                 float* y, float beta) {
  if (count <= 0) return;
  if (rows <= kSmallBatchMaxRows) {
    // Decode-sized: stream the weights once instead of packing them.
    SmallBatchMatMul(x, w, rows, in, out, first, count, y, beta);
    return;
  }
  const float* w_slice = w + static_cast<long>(first) * in;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, count, in, 1.0f, x, in, w_slice, in,
              beta, y + first, out);
}

}  // namespace

void MatMulTransposedWeights(const float* x, const float* w, int rows, int in, int out, float* y,
                             float beta, int threads) {
  if (rows == 0 || out == 0) return;
  const long work = static_cast<long>(rows) * in * out;
  if (threads <= 1 || work < kMinParallelWork) {
    MatMulSlice(x, w, rows, in, out, 0, out, y, beta);
    return;
  }
  const int slices = threads;
  const int per_slice = ((out + slices - 1) / slices + kColumnAlignment - 1) / kColumnAlignment *
                        kColumnAlignment;
#pragma omp parallel for num_threads(threads) schedule(static, 1)
  for (int s = 0; s < slices; ++s) {
    const int first = s * per_slice;
    MatMulSlice(x, w, rows, in, out, first, std::min(per_slice, out - first), y, beta);
  }
}

void UseCallerThreadsForBlas() { openblas_set_num_threads(1); }

}  // namespace rattn::kernels::cpu
