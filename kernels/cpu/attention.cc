// CPU attention kernels; see attention.h.
#include "kernels/cpu/attention.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>

#include "kernels/cpu/internal/vector_math.h"

namespace rattn::kernels::cpu {
namespace {

using internal::Dot;
using internal::Prefetch;
#if RATTN_KERNELS_AVX2
using internal::HorizontalSum;
#endif

// In place: x (n) -> softmax(x).
void Softmax(float* x, int64_t n) {
  float max_value = *std::max_element(x, x + n);
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - max_value);
    sum += x[i];
  }
  float inverse = 1.0f / sum;
  for (int64_t i = 0; i < n; ++i) x[i] *= inverse;
}

}  // namespace

namespace {

// The portable path: any head_dim.
void AttendKvHeadsScalar(const float* query, const SplitKv<float>& kv, int kv_begin, int kv_end,
                         int group_size, int head_dim, int64_t first, int64_t last, float scale,
                         float* scores, float* out) {
  const int64_t n = last - first + 1;
  const int heads = (kv_end - kv_begin) * group_size;
  const int first_head = kv_begin * group_size;
  const int64_t width = kv.cache.row_width;
  const int64_t kv_offset = static_cast<int64_t>(kv_begin) * head_dim;
  const float* q = query + static_cast<int64_t>(first_head) * head_dim;
  float* o = out + static_cast<int64_t>(first_head) * head_dim;

  kv.ForEachRun(first, last, [&](int64_t start, int64_t count, const float* keys, const float*) {
    for (int64_t i = 0; i < count; ++i) {
      const float* key = keys + i * width + kv_offset;
      const int64_t j = start - first + i;
      for (int h = 0; h < heads; ++h) {
        scores[h * n + j] =
            scale * Dot(q + static_cast<int64_t>(h) * head_dim,
                        key + static_cast<int64_t>(h / group_size) * head_dim, head_dim);
      }
    }
  });
  for (int h = 0; h < heads; ++h) Softmax(scores + h * n, n);

  std::memset(o, 0, sizeof(float) * heads * head_dim);
  kv.ForEachRun(first, last, [&](int64_t start, int64_t count, const float*, const float* values) {
    for (int64_t i = 0; i < count; ++i) {
      const float* value = values + i * width + kv_offset;
      const int64_t j = start - first + i;
      for (int h = 0; h < heads; ++h) {
        const float p = scores[h * n + j];
        const float* v = value + static_cast<int64_t>(h / group_size) * head_dim;
        float* dst = o + static_cast<int64_t>(h) * head_dim;
#pragma omp simd
        for (int e = 0; e < head_dim; ++e) dst[e] += p * v[e];
      }
    }
  });
}

#if RATTN_KERNELS_AVX2
// e^x for x <= 0 (scores minus their maximum): Cody-Waite reduction to r in [-ln2/2, ln2/2]
// and a degree-6 polynomial, relative error about 2e-7; below -87 the result is tiny, not 0.
__m256 ExpNonPositive(__m256 x) {
  x = _mm256_max_ps(x, _mm256_set1_ps(-87.0f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693145752f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.42860677e-6f), r);
  __m256 p = _mm256_set1_ps(1.0f / 720);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  const __m256i scale =
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(scale));
}

// In place: x (n) -> softmax(x), eight at a time.
void SoftmaxVector(float* x, int64_t n) {
  __m256 max8 = _mm256_set1_ps(-INFINITY);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) max8 = _mm256_max_ps(max8, _mm256_loadu_ps(x + i));
  float max_value = -INFINITY;
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, max8);
  for (float lane : lanes) max_value = std::max(max_value, lane);
  for (int64_t t = i; t < n; ++t) max_value = std::max(max_value, x[t]);

  const __m256 max_v = _mm256_set1_ps(max_value);
  __m256 sum8 = _mm256_setzero_ps();
  for (i = 0; i + 8 <= n; i += 8) {
    const __m256 e = ExpNonPositive(_mm256_sub_ps(_mm256_loadu_ps(x + i), max_v));
    _mm256_storeu_ps(x + i, e);
    sum8 = _mm256_add_ps(sum8, e);
  }
  float sum = HorizontalSum(sum8);
  for (int64_t t = i; t < n; ++t) {
    x[t] = std::exp(x[t] - max_value);
    sum += x[t];
  }
  const __m256 inverse = _mm256_set1_ps(1.0f / sum);
  for (i = 0; i + 8 <= n; i += 8)
    _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), inverse));
  for (int64_t t = i; t < n; ++t) x[t] *= 1.0f / sum;
}

// The cache rows the next run reads, from position `next` to the end of its block or `last`:
// {first row, row count}, or {null, 0} when they are the step's own rows (already in cache).
std::pair<const float*, int64_t> NextCacheRun(const SplitKv<float>& kv, int64_t next, int64_t last,
                                              bool keys) {
  if (next > last || next >= kv.split) return {nullptr, 0};
  const int64_t rows = std::min<int64_t>(
      {kv.cache.block_size - next % kv.cache.block_size, last - next + 1, kv.split - next});
  return {keys ? kv.cache.KeyRow(next) : kv.cache.ValueRow(next), rows};
}

// The query heads of kv heads [kv_begin, kv_end), head_dim = 8 * kChunks. Keys and values are
// read block by block (a run of rows at a time, from memory once); within a block every head
// works on rows already in L1, with its dot products and output chunk in registers.
template <int kChunks>
void AttendKvHeadsVector(const float* query, const SplitKv<float>& kv, int kv_begin, int kv_end,
                         int group_size, int64_t first, int64_t last, float scale, float* scores,
                         float* out) {
  constexpr int d = 8 * kChunks;
  constexpr int kMaxGroup = 8;
  const int64_t n = last - first + 1;
  const int64_t width = kv.cache.row_width;
  const int heads = (kv_end - kv_begin) * group_size;
  const int first_head = kv_begin * group_size;
  const float* q = query + static_cast<int64_t>(first_head) * d;  // (heads, d)
  float* o = out + static_cast<int64_t>(first_head) * d;          // (heads, d)

  // Bytes of each row this call reads: its kv heads' slice.
  const int64_t slice_offset = static_cast<int64_t>(kv_begin) * d;
  const int64_t slice_bytes = static_cast<int64_t>(kv_end - kv_begin) * d * sizeof(float);
  kv.ForEachRun(first, last, [&](int64_t start, int64_t count, const float* keys, const float*) {
    // The next block's rows are fetched while this one computes, a row per row of this one.
    const auto [next_keys, next_count] = NextCacheRun(kv, start + count, last, true);
    for (int kv_head = kv_begin; kv_head < kv_end; ++kv_head) {
      const int64_t offset = static_cast<int64_t>(kv_head) * d;
      const int head0 = (kv_head - kv_begin) * group_size;
      for (int g0 = 0; g0 < group_size; g0 += kMaxGroup) {
        const int group = std::min(kMaxGroup, group_size - g0);
        for (int64_t i = 0; i < count; ++i) {
          if (kv_head == kv_begin && g0 == 0 && i < next_count) {
            Prefetch(next_keys + i * width + slice_offset, slice_bytes);
          }
          const float* key = keys + i * width + offset;
          __m256 acc[kMaxGroup];
          for (int g = 0; g < group; ++g) acc[g] = _mm256_setzero_ps();
          for (int c = 0; c < kChunks; ++c) {
            const __m256 k = _mm256_loadu_ps(key + 8 * c);
            for (int g = 0; g < group; ++g) {
              acc[g] =
                  _mm256_fmadd_ps(_mm256_loadu_ps(q + (head0 + g0 + g) * d + 8 * c), k, acc[g]);
            }
          }
          const int64_t j = start - first + i;
          for (int g = 0; g < group; ++g) {
            scores[(head0 + g0 + g) * n + j] = scale * HorizontalSum(acc[g]);
          }
        }
      }
    }
  });
  for (int h = 0; h < heads; ++h) SoftmaxVector(scores + h * n, n);

  std::memset(o, 0, sizeof(float) * heads * d);
  kv.ForEachRun(first, last, [&](int64_t start, int64_t count, const float*, const float* values) {
    const auto [next_values, next_count] = NextCacheRun(kv, start + count, last, false);
    for (int h = 0; h < heads; ++h) {
      const float* value = values + static_cast<int64_t>(kv_begin + h / group_size) * d;
      const float* p = scores + h * n + (start - first);
      float* dst = o + static_cast<int64_t>(h) * d;
      __m256 acc[kChunks];
      for (int c = 0; c < kChunks; ++c) acc[c] = _mm256_loadu_ps(dst + 8 * c);
      for (int64_t i = 0; i < count; ++i) {
        if (h == 0 && i < next_count) {
          Prefetch(next_values + i * width + slice_offset, slice_bytes);
        }
        const __m256 weight = _mm256_broadcast_ss(p + i);
        for (int c = 0; c < kChunks; ++c) {
          acc[c] = _mm256_fmadd_ps(weight, _mm256_loadu_ps(value + i * width + 8 * c), acc[c]);
        }
      }
      for (int c = 0; c < kChunks; ++c) _mm256_storeu_ps(dst + 8 * c, acc[c]);
    }
  });
}
#endif

}  // namespace

void AttendKvHeads(const float* query, const SplitKv<float>& kv, int kv_begin, int kv_end,
                   int group_size, int head_dim, int64_t first, int64_t last, float scale,
                   float* scores, float* out) {
#if RATTN_KERNELS_AVX2
  switch (head_dim) {
    case 16:
      return AttendKvHeadsVector<2>(query, kv, kv_begin, kv_end, group_size, first, last, scale,
                                    scores, out);
    case 32:
      return AttendKvHeadsVector<4>(query, kv, kv_begin, kv_end, group_size, first, last, scale,
                                    scores, out);
    case 64:
      return AttendKvHeadsVector<8>(query, kv, kv_begin, kv_end, group_size, first, last, scale,
                                    scores, out);
    case 128:
      return AttendKvHeadsVector<16>(query, kv, kv_begin, kv_end, group_size, first, last, scale,
                                     scores, out);
    default:
      break;
  }
#endif
  AttendKvHeadsScalar(query, kv, kv_begin, kv_end, group_size, head_dim, first, last, scale, scores,
                      out);
}

namespace {

// Keys a tile reads: [first, last].
std::pair<int64_t, int64_t> TileKeyRange(const QueryTileParams& p) {
  const int64_t last = p.first_position + p.num_rows - 1;
  const int64_t first = p.window < 0 ? 0 : std::max<int64_t>(0, p.first_position - p.window);
  return {first, last};
}

}  // namespace

int64_t QueryTileWorkspaceFloats(const QueryTileParams& p) {
  auto [first, last] = TileKeyRange(p);
  const int64_t keys = last - first + 1;
  const int64_t queries = static_cast<int64_t>(p.num_rows) * p.group_size;
  // keys and values, gathered queries and outputs, scores
  return 2 * keys * p.head_dim + 2 * queries * p.head_dim + queries * keys;
}

void AttendQueryTile(const QueryTileParams& p, const SplitKv<float>& kv, float* workspace) {
  auto [first, last] = TileKeyRange(p);
  const int64_t keys = last - first + 1;
  const int d = p.head_dim;
  const int queries = p.num_rows * p.group_size;  // query (row i, head g) is row i * G + g
  float* key_rows = workspace;                    // (keys, d)
  float* value_rows = key_rows + keys * d;        // (keys, d)
  float* query_rows = value_rows + keys * d;      // (queries, d)
  float* out_rows = query_rows + static_cast<int64_t>(queries) * d;  // (queries, d)
  float* scores = out_rows + static_cast<int64_t>(queries) * d;      // (queries, keys)

  const int64_t head_offset = static_cast<int64_t>(p.kv_head) * d;
  for (int64_t j = 0; j < keys; ++j) {
    std::memcpy(key_rows + j * d, kv.KeyRow(first + j) + head_offset, sizeof(float) * d);
    std::memcpy(value_rows + j * d, kv.ValueRow(first + j) + head_offset, sizeof(float) * d);
  }
  const int64_t group_offset = static_cast<int64_t>(p.kv_head) * p.group_size * d;
  for (int i = 0; i < p.num_rows; ++i) {
    std::memcpy(query_rows + static_cast<int64_t>(i) * p.group_size * d,
                p.queries + i * p.query_stride + group_offset, sizeof(float) * p.group_size * d);
  }

  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, queries, keys, d, p.scale, query_rows, d,
              key_rows, d, 0.0f, scores, keys);
  for (int q = 0; q < queries; ++q) {
    const int64_t position = p.first_position + q / p.group_size;
    const int64_t lo = p.window < 0 ? 0 : std::max<int64_t>(0, position - p.window);
    float* row = scores + static_cast<int64_t>(q) * keys;
    // Keys outside [lo, position] get probability zero.
    const int64_t begin = lo - first;
    const int64_t end = position - first + 1;
    std::fill(row, row + begin, 0.0f);
    std::fill(row + end, row + keys, 0.0f);
    Softmax(row + begin, end - begin);
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, queries, d, keys, 1.0f, scores, keys,
              value_rows, d, 0.0f, out_rows, d);
  for (int i = 0; i < p.num_rows; ++i) {
    std::memcpy(p.out + i * p.out_stride + group_offset,
                out_rows + static_cast<int64_t>(i) * p.group_size * d,
                sizeof(float) * p.group_size * d);
  }
}

void ApplyFeatureMap(const float* x, int head_dim, FeatureMap map, float* phi) {
  float* positive = phi;
  float* negative = phi + head_dim;
  if (map == FeatureMap::kRelu) {
    for (int i = 0; i < head_dim; ++i) {
      positive[i] = std::max(x[i], 0.0f);
      negative[i] = std::max(-x[i], 0.0f);
    }
    return;
  }
  for (int i = 0; i < head_dim; ++i) {
    positive[i] = x[i];
    negative[i] = -x[i];
  }
  Softmax(positive, head_dim);
  Softmax(negative, head_dim);
}

void FoldIntoState(const float* phi_k, const float* v, int head_dim, float* state) {
  for (int r = 0; r < 2 * head_dim; ++r) {
    float coefficient = phi_k[r];
    if (coefficient == 0.0f) continue;  // common with the relu map
    float* row = state + static_cast<int64_t>(r) * head_dim;
#pragma omp simd
    for (int c = 0; c < head_dim; ++c) row[c] += coefficient * v[c];
  }
}

void ReadState(const float* phi_q, const float* state, int head_dim, float* out) {
  std::memset(out, 0, sizeof(float) * head_dim);
  for (int r = 0; r < 2 * head_dim; ++r) {
    float coefficient = phi_q[r];
    if (coefficient == 0.0f) continue;
    const float* row = state + static_cast<int64_t>(r) * head_dim;
#pragma omp simd
    for (int c = 0; c < head_dim; ++c) out[c] += coefficient * row[c];
  }
}

}  // namespace rattn::kernels::cpu
