// Device helpers shared by the kernels of kernels/cuda: warp reductions and the feature map of
// residual linear attention over a head held across a warp's lanes.
#ifndef RATTN_KERNELS_CUDA_DEVICE_UTIL_CUH_
#define RATTN_KERNELS_CUDA_DEVICE_UTIL_CUH_

#include <cuda_runtime.h>

#include "kernels/cuda/step_view.h"
#include "kernels/feature_map.h"

namespace rattn::kernels::cuda {

__device__ __forceinline__ float WarpSum(float x) {
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) x += __shfl_xor_sync(0xffffffffu, x, offset);
  return x;
}

__device__ __forceinline__ float WarpMax(float x) {
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) {
    x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, offset));
  }
  return x;
}

// phi of one head of D values spread over a warp, element lane + 32 t in x[t]: positive[t]
// receives phi's first half at that element, negative[t] its second half (map(x), map(-x)).
// Called by all 32 lanes.
template <int D>
__device__ __forceinline__ void FeatureMapLanes(const float (&x)[D / 32], FeatureMap map,
                                                float (&positive)[D / 32],
                                                float (&negative)[D / 32]) {
  constexpr int kPerLane = D / 32;
  if (map == FeatureMap::kRelu) {
#pragma unroll
    for (int t = 0; t < kPerLane; ++t) {
      positive[t] = fmaxf(x[t], 0.0f);
      negative[t] = fmaxf(-x[t], 0.0f);
    }
    return;
  }
  float positive_max = -INFINITY, negative_max = -INFINITY;
#pragma unroll
  for (int t = 0; t < kPerLane; ++t) {
    positive_max = fmaxf(positive_max, x[t]);
    negative_max = fmaxf(negative_max, -x[t]);
  }
  positive_max = WarpMax(positive_max);
  negative_max = WarpMax(negative_max);
  float positive_sum = 0.0f, negative_sum = 0.0f;
#pragma unroll
  for (int t = 0; t < kPerLane; ++t) {
    positive[t] = expf(x[t] - positive_max);
    negative[t] = expf(-x[t] - negative_max);
    positive_sum += positive[t];
    negative_sum += negative[t];
  }
  const float positive_inverse = 1.0f / WarpSum(positive_sum);
  const float negative_inverse = 1.0f / WarpSum(negative_sum);
#pragma unroll
  for (int t = 0; t < kPerLane; ++t) {
    positive[t] *= positive_inverse;
    negative[t] *= negative_inverse;
  }
}

// phi (2D floats to `phi`) of the key row `key_row` (bf16, after RoPE at `position`) with the
// rotation undone first, by one warp; `key` is D floats of scratch. Called by all 32 lanes.
template <int D>
__device__ __forceinline__ void UnrotatedKeyPhi(const bf16* key_row, int position, double theta,
                                                FeatureMap map, float* key, float* phi) {
  constexpr int kPerLane = D / 32;
  const int lane = threadIdx.x % 32;
  for (int i = lane; i < D / 2; i += 32) {
    float cos_angle, sin_angle;
    RopeAngle(position, i, D, theta, &cos_angle, &sin_angle);
    const float a = __bfloat162float(key_row[i]);
    const float b = __bfloat162float(key_row[i + D / 2]);
    key[i] = a * cos_angle + b * sin_angle;
    key[i + D / 2] = b * cos_angle - a * sin_angle;
  }
  __syncwarp();
  float x[kPerLane], positive[kPerLane], negative[kPerLane];
#pragma unroll
  for (int t = 0; t < kPerLane; ++t) x[t] = key[lane + 32 * t];
  FeatureMapLanes<D>(x, map, positive, negative);
#pragma unroll
  for (int t = 0; t < kPerLane; ++t) {
    phi[lane + 32 * t] = positive[t];
    phi[D + lane + 32 * t] = negative[t];
  }
  __syncwarp();  // `key` may be rewritten by the warp's next call
}

}  // namespace rattn::kernels::cuda

#endif  // RATTN_KERNELS_CUDA_DEVICE_UTIL_CUH_
