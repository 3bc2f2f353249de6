// Weight-streaming products for a few rows; see small_batch_gemm.h.
#include "kernels/cpu/small_batch_gemm.h"

#include <cstdint>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

namespace rattn::kernels::cpu {
namespace {

// Tiles: this many weight rows (output columns) and activation rows at once. 4 x 2 keeps eight
// accumulators, four weight vectors and two activation vectors in the sixteen AVX registers.
constexpr int kColumnTile = 4;
constexpr int kRowTile = 2;

float Dot(const float* a, const float* b, int n) {
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (int i = 0; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

void Store(float* y, float value, float beta) { *y = beta == 0.0f ? value : value + beta * *y; }

#if defined(__AVX2__) && defined(__FMA__)
float HorizontalSum(__m256 v) {
  __m128 low = _mm256_castps256_ps128(v);
  __m128 high = _mm256_extractf128_ps(v, 1);
  low = _mm_add_ps(low, high);
  low = _mm_add_ps(low, _mm_movehl_ps(low, low));
  low = _mm_add_ss(low, _mm_movehdup_ps(low));
  return _mm_cvtss_f32(low);
}

// Computes a tile of R activation rows (1 or 2) by kColumnTile weight rows.
template <int R>
void Tile(const float* x, const float* w, int in, int out, int m, int o, float* y, float beta) {
  __m256 acc[R][kColumnTile];
  for (int r = 0; r < R; ++r) {
    for (int c = 0; c < kColumnTile; ++c) acc[r][c] = _mm256_setzero_ps();
  }
  const float* w_rows[kColumnTile];
  for (int c = 0; c < kColumnTile; ++c) w_rows[c] = w + static_cast<int64_t>(o + c) * in;
  const int vector_end = in - in % 8;
  for (int i = 0; i < vector_end; i += 8) {
    __m256 wv[kColumnTile];
    for (int c = 0; c < kColumnTile; ++c) wv[c] = _mm256_loadu_ps(w_rows[c] + i);
    for (int r = 0; r < R; ++r) {
      const __m256 xv = _mm256_loadu_ps(x + static_cast<int64_t>(m + r) * in + i);
      for (int c = 0; c < kColumnTile; ++c) acc[r][c] = _mm256_fmadd_ps(xv, wv[c], acc[r][c]);
    }
  }
  for (int r = 0; r < R; ++r) {
    const float* x_row = x + static_cast<int64_t>(m + r) * in;
    for (int c = 0; c < kColumnTile; ++c) {
      float value = HorizontalSum(acc[r][c]);
      for (int i = vector_end; i < in; ++i) value += x_row[i] * w_rows[c][i];
      Store(y + static_cast<int64_t>(m + r) * out + o + c, value, beta);
    }
  }
}
#endif

}  // namespace

void SmallBatchMatMul(const float* x, const float* w, int rows, int in, int out, int first,
                      int count, float* y, float beta) {
  int o = first;
  const int end = first + count;
#if defined(__AVX2__) && defined(__FMA__)
  for (; o + kColumnTile <= end; o += kColumnTile) {
    int m = 0;
    for (; m + kRowTile <= rows; m += kRowTile) Tile<kRowTile>(x, w, in, out, m, o, y, beta);
    for (; m < rows; ++m) Tile<1>(x, w, in, out, m, o, y, beta);
  }
#endif
  for (; o < end; ++o) {
    const float* w_row = w + static_cast<int64_t>(o) * in;
    for (int m = 0; m < rows; ++m) {
      Store(y + static_cast<int64_t>(m) * out + o, Dot(x + static_cast<int64_t>(m) * in, w_row, in),
            beta);
    }
  }
}

}  // namespace rattn::kernels::cpu
