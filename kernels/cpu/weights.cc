// Conversion of stored weights to fp32; see weights.h.
#include "kernels/cpu/weights.h"

#include <cstring>

#if defined(__F16C__)
#include <immintrin.h>
#endif

namespace rattn::kernels::cpu {
namespace {

float HalfToFloat(uint16_t bits) {
#if defined(__F16C__)
  return _cvtsh_ss(bits);
#else
  const uint32_t sign = static_cast<uint32_t>(bits & 0x8000u) << 16;
  const uint32_t exponent = (bits >> 10) & 0x1fu;
  const uint32_t mantissa = bits & 0x3ffu;
  if (exponent == 0x1f) return std::bit_cast<float>(sign | 0x7f800000u | (mantissa << 13));
  if (exponent == 0) {
    const float magnitude = static_cast<float>(mantissa) * 0x1p-24f;
    return sign ? -magnitude : magnitude;
  }
  return std::bit_cast<float>(sign | ((exponent + 112) << 23) | (mantissa << 13));
#endif
}

}  // namespace

void WeightsToFloat(WeightMatrix w, int64_t offset, int64_t count, float* out) {
  switch (w.type) {
    case WeightType::kF32:
      std::memcpy(out, static_cast<const float*>(w.data) + offset, sizeof(float) * count);
      return;
    case WeightType::kBF16: {
      const uint16_t* in = static_cast<const uint16_t*>(w.data) + offset;
#pragma omp simd
      for (int64_t i = 0; i < count; ++i) {
        out[i] = std::bit_cast<float>(static_cast<uint32_t>(in[i]) << 16);
      }
      return;
    }
    case WeightType::kF16: {
      const uint16_t* in = static_cast<const uint16_t*>(w.data) + offset;
      for (int64_t i = 0; i < count; ++i) out[i] = HalfToFloat(in[i]);
      return;
    }
  }
}

}  // namespace rattn::kernels::cpu
