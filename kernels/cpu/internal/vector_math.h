// Small vector helpers shared by the CPU kernels' translation units (not part of their API).
#ifndef RATTN_KERNELS_CPU_INTERNAL_VECTOR_MATH_H_
#define RATTN_KERNELS_CPU_INTERNAL_VECTOR_MATH_H_

#include <cstdint>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define RATTN_KERNELS_AVX2 1
#endif

namespace rattn::kernels::cpu::internal {

// sum_i a[i] * b[i], vectorized by the compiler.
inline float Dot(const float* a, const float* b, int n) {
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (int i = 0; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

// Asks for [p, p + bytes) to be brought into the caches ahead of use: streaming kernels call it
// for the data after the block they are computing on, so memory and arithmetic overlap.
inline void Prefetch(const void* p, int64_t bytes) {
  const char* c = static_cast<const char*>(p);
  for (int64_t b = 0; b < bytes; b += 64) __builtin_prefetch(c + b, 0, 3);
}

#if RATTN_KERNELS_AVX2
// The sum of the eight lanes of `v`.
inline float HorizontalSum(__m256 v) {
  __m128 low = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  low = _mm_add_ps(low, _mm_movehl_ps(low, low));
  low = _mm_add_ss(low, _mm_movehdup_ps(low));
  return _mm_cvtss_f32(low);
}
#endif

}  // namespace rattn::kernels::cpu::internal

#endif  // RATTN_KERNELS_CPU_INTERNAL_VECTOR_MATH_H_
