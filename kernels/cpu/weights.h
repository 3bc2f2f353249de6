// A weight matrix as the CPU kernels read it: fp32, or 16-bit floats (bf16, f16) converted to
// fp32 as they are loaded. Keeping a 16-bit checkpoint's weights in 16 bits halves the bytes a
// decode step streams from memory, and computes exactly what converting them at load would.
#ifndef RATTN_KERNELS_CPU_WEIGHTS_H_
#define RATTN_KERNELS_CPU_WEIGHTS_H_

#include <cstdint>

namespace rattn::kernels::cpu {

enum class WeightType { kF32, kBF16, kF16 };

// A row-major (rows, cols) matrix; `data` holds floats or uint16_t bit patterns per `type`.
struct WeightMatrix {
  const void* data = nullptr;
  WeightType type = WeightType::kF32;

  static WeightMatrix Float(const float* values) { return {values, WeightType::kF32}; }
};

// Converts `count` consecutive weights starting at element `offset` to fp32.
void WeightsToFloat(WeightMatrix w, int64_t offset, int64_t count, float* out);

// Bytes of one weight.
inline int WeightBytes(WeightType type) { return type == WeightType::kF32 ? 4 : 2; }

}  // namespace rattn::kernels::cpu

#endif  // RATTN_KERNELS_CPU_WEIGHTS_H_
