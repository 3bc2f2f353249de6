// Products split over OpenMP threads; see gemm.h.
#include "kernels/cpu/gemm.h"

#include <cblas.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "kernels/cpu/small_batch_gemm.h"

namespace rattn::kernels::cpu {
namespace {

// Column slices are multiples of this, so each slice keeps the vector kernels busy.
constexpr int kColumnAlignment = 16;
// Below this many multiply-adds a product runs on one thread: forking costs more.
constexpr int64_t kMinParallelWork = int64_t{1} << 18;
// 16-bit weights are converted to fp32 this many columns at a time before sgemm: enough that
// sgemm's packing of the activations is amortized, few enough that the block stays a few MiB.
constexpr int kConvertColumns = 1024;

void MatMulSlice(const float* x, WeightMatrix w, int rows, int in, int out, int first, int count,
                 float* y, float beta) {
  if (count <= 0) return;
  if (rows <= kSmallBatchMaxRows) {
    // Decode-sized: stream the weights once instead of packing them.
    SmallBatchMatMul(x, w, rows, in, out, first, count, y, beta);
    return;
  }
  if (w.type == WeightType::kF32) {
    const float* w_slice = static_cast<const float*>(w.data) + static_cast<int64_t>(first) * in;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, count, in, 1.0f, x, in, w_slice, in,
                beta, y + first, out);
    return;
  }
  // Many rows use each converted weight many times: convert a block, then sgemm on it.
  thread_local std::vector<float> block;
  for (int start = first; start < first + count; start += kConvertColumns) {
    const int columns = std::min(kConvertColumns, first + count - start);
    block.resize(static_cast<size_t>(columns) * in);
    WeightsToFloat(w, static_cast<int64_t>(start) * in, static_cast<int64_t>(columns) * in,
                   block.data());
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, columns, in, 1.0f, x, in,
                block.data(), in, beta, y + start, out);
  }
}

}  // namespace

void MatMulTransposedWeights(const float* x, WeightMatrix w, int rows, int in, int out, float* y,
                             float beta, int threads) {
  if (rows == 0 || out == 0) return;
  const int64_t work = static_cast<int64_t>(rows) * in * out;
  if (threads <= 1 || work < kMinParallelWork) {
    MatMulSlice(x, w, rows, in, out, 0, out, y, beta);
    return;
  }
  const int slices = threads;
  const int per_slice =
      ((out + slices - 1) / slices + kColumnAlignment - 1) / kColumnAlignment * kColumnAlignment;
#pragma omp parallel for num_threads(threads) schedule(static, 1)
  for (int s = 0; s < slices; ++s) {
    const int first = s * per_slice;
    MatMulSlice(x, w, rows, in, out, first, std::min(per_slice, out - first), y, beta);
  }
}

void UseCallerThreadsForBlas() { openblas_set_num_threads(1); }

}  // namespace rattn::kernels::cpu
