// Row-wise transformer operations; see elementwise.h.
#include "kernels/cpu/elementwise.h"

#include <cmath>

namespace rattn::kernels::cpu {
namespace {

float InverseRms(const float* x, int width, float eps) {
  float sum_squares = 0.0f;
#pragma omp simd reduction(+ : sum_squares)
  for (int i = 0; i < width; ++i) sum_squares += x[i] * x[i];
  return 1.0f / std::sqrt(sum_squares / static_cast<float>(width) + eps);
}

void Rotate(float* x, int heads, int head_dim, const float* cos, const float* sin, float sign) {
  const int half = head_dim / 2;
  for (int h = 0; h < heads; ++h) {
    float* head = x + static_cast<int64_t>(h) * head_dim;
#pragma omp simd
    for (int i = 0; i < half; ++i) {
      float a = head[i];
      float b = head[i + half];
      float s = sign * sin[i];
      head[i] = a * cos[i] - b * s;
      head[i + half] = b * cos[i] + a * s;
    }
  }
}

}  // namespace

void RmsNormRows(const float* x, const float* weight, int rows, int width, float eps, float* out) {
  for (int r = 0; r < rows; ++r) {
    const float* row = x + static_cast<int64_t>(r) * width;
    float* dst = out + static_cast<int64_t>(r) * width;
    float scale = InverseRms(row, width, eps);
#pragma omp simd
    for (int i = 0; i < width; ++i) dst[i] = row[i] * scale * weight[i];
  }
}

void RmsNormHeads(float* x, const float* weight, int heads, int head_dim, float eps) {
  for (int h = 0; h < heads; ++h) {
    int64_t offset = static_cast<int64_t>(h) * head_dim;
    RmsNormRows(x + offset, weight + offset, 1, head_dim, eps, x + offset);
  }
}

void SiluMulRows(const float* gate_up, int rows, int inter, float* out) {
  for (int r = 0; r < rows; ++r) {
    const float* gate = gate_up + static_cast<int64_t>(r) * 2 * inter;
    const float* up = gate + inter;
    float* dst = out + static_cast<int64_t>(r) * inter;
    for (int i = 0; i < inter; ++i) {
      float g = gate[i];
      dst[i] = g / (1.0f + std::exp(-g)) * up[i];
    }
  }
}

void RopeCosSin(int64_t position, double theta, int head_dim, float* cos, float* sin) {
  const int half = head_dim / 2;
  for (int i = 0; i < half; ++i) {
    double inverse_frequency = std::pow(theta, -2.0 * i / head_dim);
    double angle = static_cast<double>(position) * inverse_frequency;
    cos[i] = static_cast<float>(std::cos(angle));
    sin[i] = static_cast<float>(std::sin(angle));
  }
}

void ApplyRope(float* x, int heads, int head_dim, const float* cos, const float* sin) {
  Rotate(x, heads, head_dim, cos, sin, 1.0f);
}

void ApplyInverseRope(float* x, int heads, int head_dim, const float* cos, const float* sin) {
  Rotate(x, heads, head_dim, cos, sin, -1.0f);
}

}  // namespace rattn::kernels::cpu
