// Conversion of stored weights to fp32; see weights.h.
#include "kernels/cpu/weights.h"

#include <cstring>

#include "engine/util/float16.h"

namespace rattn::kernels::cpu {

void WeightsToFloat(WeightMatrix w, int64_t offset, int64_t count, float* out) {
  switch (w.type) {
    case WeightType::kF32:
      std::memcpy(out, static_cast<const float*>(w.data) + offset, sizeof(float) * count);
      return;
    case WeightType::kBF16: {
      const uint16_t* in = static_cast<const uint16_t*>(w.data) + offset;
#pragma omp simd
      for (int64_t i = 0; i < count; ++i) out[i] = Bf16ToFloat(in[i]);
      return;
    }
    case WeightType::kF16: {
      const uint16_t* in = static_cast<const uint16_t*>(w.data) + offset;
      for (int64_t i = 0; i < count; ++i) out[i] = F16ToFloat(in[i]);
      return;
    }
  }
}

}  // namespace rattn::kernels::cpu
