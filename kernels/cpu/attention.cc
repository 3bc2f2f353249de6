// CPU attention kernels; see attention.h.
#include "kernels/cpu/attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace rattn::kernels::cpu {
namespace {

float Dot(const float* a, const float* b, int n) {
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (int i = 0; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

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

void AttendKvGroup(const float* query, const PagedKv<float>& kv, int kv_head, int group_size,
                   int head_dim, int64_t first, int64_t last, float scale, float* scores,
                   float* out) {
  const int64_t n = last - first + 1;
  const int64_t head_offset = static_cast<int64_t>(kv_head) * head_dim;
  for (int64_t j = 0; j < n; ++j) {
    const float* key = kv.KeyRow(first + j) + head_offset;
    for (int g = 0; g < group_size; ++g) {
      scores[g * n + j] = scale * Dot(query + static_cast<int64_t>(g) * head_dim, key, head_dim);
    }
  }
  for (int g = 0; g < group_size; ++g) Softmax(scores + g * n, n);

  std::memset(out, 0, sizeof(float) * group_size * head_dim);
  for (int64_t j = 0; j < n; ++j) {
    const float* value = kv.ValueRow(first + j) + head_offset;
    for (int g = 0; g < group_size; ++g) {
      float p = scores[g * n + j];
      float* dst = out + static_cast<int64_t>(g) * head_dim;
#pragma omp simd
      for (int i = 0; i < head_dim; ++i) dst[i] += p * value[i];
    }
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
