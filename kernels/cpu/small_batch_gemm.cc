// Weight-streaming products for a few rows; see small_batch_gemm.h.
#include "kernels/cpu/small_batch_gemm.h"

#include <cstdint>
#include <vector>

#include "kernels/cpu/internal/vector_math.h"

#if RATTN_KERNELS_AVX2 && defined(__F16C__)
#define RATTN_SMALL_BATCH_AVX2 1
#endif

namespace rattn::kernels::cpu {
namespace {

using internal::Dot;
using internal::Prefetch;
#if RATTN_KERNELS_AVX2
using internal::HorizontalSum;
#endif

// Tiles: this many weight rows (output columns) and activation rows at once. 4 x 2 keeps eight
// accumulators, four weight vectors and two activation vectors in the sixteen AVX registers.
constexpr int kColumnTile = 4;
constexpr int kRowTile = 2;

void Store(float* y, float value, float beta) { *y = beta == 0.0f ? value : value + beta * *y; }

// Columns [o, end) one weight row at a time, the row converted to fp32 first.
void RowByRow(const float* x, WeightMatrix w, int rows, int in, int out, int o, int end, float* y,
              float beta) {
  thread_local std::vector<float> row;
  row.resize(in);
  for (; o < end; ++o) {
    WeightsToFloat(w, static_cast<int64_t>(o) * in, in, row.data());
    for (int m = 0; m < rows; ++m) {
      Store(y + static_cast<int64_t>(m) * out + o,
            Dot(x + static_cast<int64_t>(m) * in, row.data(), in), beta);
    }
  }
}

#if RATTN_SMALL_BATCH_AVX2
// Eight weights from element `index` of a weight row, as fp32.
template <WeightType T>
__m256 Load8(const void* row, int64_t index) {
  if constexpr (T == WeightType::kF32) {
    return _mm256_loadu_ps(static_cast<const float*>(row) + index);
  } else {
    const __m128i bits = _mm_loadu_si128(
        reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(row) + index));
    if constexpr (T == WeightType::kBF16) {
      return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(bits), 16));
    } else {
      return _mm256_cvtph_ps(bits);
    }
  }
}

// A tile of R activation rows (1 or 2) by kColumnTile weight rows, over the first `vector_end`
// inputs (a multiple of 8); the rest of each dot product is added by the caller.
template <WeightType T, int R>
void Tile(const float* x, const void* w, int in, int vector_end, int m, int o,
          float (&sums)[kRowTile][kColumnTile]) {
  __m256 acc[R][kColumnTile];
  for (int r = 0; r < R; ++r) {
    for (int c = 0; c < kColumnTile; ++c) acc[r][c] = _mm256_setzero_ps();
  }
  const int element_bytes = WeightBytes(T);
  const char* rows[kColumnTile];
  for (int c = 0; c < kColumnTile; ++c) {
    rows[c] = static_cast<const char*>(w) + static_cast<int64_t>(o + c) * in * element_bytes;
  }
  for (int i = 0; i < vector_end; i += 8) {
    __m256 wv[kColumnTile];
    for (int c = 0; c < kColumnTile; ++c) wv[c] = Load8<T>(rows[c], i);
    for (int r = 0; r < R; ++r) {
      const __m256 xv = _mm256_loadu_ps(x + static_cast<int64_t>(m + r) * in + i);
      for (int c = 0; c < kColumnTile; ++c) acc[r][c] = _mm256_fmadd_ps(xv, wv[c], acc[r][c]);
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int c = 0; c < kColumnTile; ++c) sums[r][c] = HorizontalSum(acc[r][c]);
  }
}

template <WeightType T>
void Tiled(const float* x, WeightMatrix w, int rows, int in, int out, int first, int end, float* y,
           float beta) {
  const int vector_end = in - in % 8;
  const int tail_width = in - vector_end;
  // With several activation-row tiles, 16-bit weight rows are converted once into this buffer
  // (kColumnTile rows, which stay in L1 or L2) instead of once per tile.
  const bool convert_once = T != WeightType::kF32 && rows > kRowTile;
  thread_local std::vector<float> converted;
  thread_local std::vector<float> tail;
  if (convert_once) converted.resize(static_cast<size_t>(kColumnTile) * in);
  tail.resize(static_cast<size_t>(kColumnTile) * tail_width);
  // With many activation rows a tile computes long enough for the next tile's weight rows to
  // arrive meanwhile; with one or two the hardware prefetcher keeps up on its own.
  const int ahead = rows > kRowTile ? kColumnTile : end;
  const int64_t tile_bytes = static_cast<int64_t>(kColumnTile) * in * WeightBytes(T);
  int o = first;
  for (; o + kColumnTile <= end; o += kColumnTile) {
    if (o + ahead + kColumnTile <= end) {
      Prefetch(
          static_cast<const char*>(w.data) + static_cast<int64_t>(o + ahead) * in * WeightBytes(T),
          tile_bytes);
    }
    for (int c = 0; c < kColumnTile && tail_width > 0; ++c) {
      WeightsToFloat(w, static_cast<int64_t>(o + c) * in + vector_end, tail_width,
                     tail.data() + c * tail_width);
    }
    // The kernel reads rows o .. o + kColumnTile - 1 of `source`, starting at row `source_row`.
    const void* source = w.data;
    int source_row = o;
    if (convert_once) {
      WeightsToFloat(w, static_cast<int64_t>(o) * in, static_cast<int64_t>(kColumnTile) * in,
                     converted.data());
      source = converted.data();
      source_row = 0;
    }
    float sums[kRowTile][kColumnTile];
    for (int m = 0; m < rows;) {
      const int r_count = rows - m >= kRowTile ? kRowTile : 1;
      if (convert_once) {
        if (r_count == kRowTile) {
          Tile<WeightType::kF32, kRowTile>(x, source, in, vector_end, m, source_row, sums);
        } else {
          Tile<WeightType::kF32, 1>(x, source, in, vector_end, m, source_row, sums);
        }
      } else if (r_count == kRowTile) {
        Tile<T, kRowTile>(x, source, in, vector_end, m, source_row, sums);
      } else {
        Tile<T, 1>(x, source, in, vector_end, m, source_row, sums);
      }
      for (int r = 0; r < r_count; ++r) {
        const float* x_row = x + static_cast<int64_t>(m + r) * in;
        for (int c = 0; c < kColumnTile; ++c) {
          float value = sums[r][c];
          for (int i = vector_end; i < in; ++i) {
            value += x_row[i] * tail[c * tail_width + (i - vector_end)];
          }
          Store(y + static_cast<int64_t>(m + r) * out + o + c, value, beta);
        }
      }
      m += r_count;
    }
  }
  RowByRow(x, w, rows, in, out, o, end, y, beta);
}
#endif

}  // namespace

void SmallBatchMatMul(const float* x, WeightMatrix w, int rows, int in, int out, int first,
                      int count, float* y, float beta) {
  const int end = first + count;
#if RATTN_SMALL_BATCH_AVX2
  switch (w.type) {
    case WeightType::kF32:
      return Tiled<WeightType::kF32>(x, w, rows, in, out, first, end, y, beta);
    case WeightType::kBF16:
      return Tiled<WeightType::kBF16>(x, w, rows, in, out, first, end, y, beta);
    case WeightType::kF16:
      return Tiled<WeightType::kF16>(x, w, rows, in, out, first, end, y, beta);
  }
#endif
  RowByRow(x, w, rows, in, out, first, end, y, beta);
}

}  // namespace rattn::kernels::cpu
