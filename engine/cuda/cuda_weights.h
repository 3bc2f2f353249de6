// A model's weights in device memory for the CUDA backend: every matrix in bf16 (fp32 and f16
// checkpoints are converted on the way), laid out as the CPU backend lays them out (q, k and v
// stacked; gate and up stacked), and the norm weights in fp32.
#ifndef RATTN_ENGINE_CUDA_CUDA_WEIGHTS_H_
#define RATTN_ENGINE_CUDA_CUDA_WEIGHTS_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/cpu/cpu_weights.h"
#include "engine/cuda/device_memory.h"
#include "engine/model/model_config.h"
#include "kernels/cuda/step_view.h"

namespace rattn::cuda {

struct CudaLayerWeights {
  DeviceMemory input_norm;  // (hidden) fp32
  DeviceMemory qkv;         // ((nh + 2 nkv) d, hidden) bf16
  DeviceMemory o;           // (hidden, nh d) bf16
  DeviceMemory swa_norm;    // (nh, d) fp32; rattention layers only
  DeviceMemory rla_norm;    // (nh, d) fp32; rattention layers only
  DeviceMemory post_norm;   // (hidden) fp32
  DeviceMemory gate_up;     // (2 I, hidden) bf16
  DeviceMemory down;        // (hidden, I) bf16
};

struct CudaWeights {
  DeviceMemory embed;  // (vocab, hidden) bf16
  std::vector<CudaLayerWeights> layers;
  DeviceMemory final_norm;  // (hidden) fp32
  DeviceMemory lm_head;     // (vocab, hidden) bf16; empty when tied to `embed`

  const kernels::cuda::bf16* output_projection() const {
    return (lm_head.get() != nullptr ? lm_head : embed).as<kernels::cuda::bf16>();
  }
  // Device bytes of all of them.
  int64_t TotalBytes() const;
  // Bytes every step reads whole (all but the embedding table).
  int64_t StreamedBytes() const;

  // Device bytes Upload will take for `host`.
  static int64_t BytesFor(const cpu::CpuWeights& host);
  // Copies `host` (as loaded for the CPU backend, matrices as stored) to the current device.
  static absl::StatusOr<CudaWeights> Upload(const cpu::CpuWeights& host);
};

}  // namespace rattn::cuda

#endif  // RATTN_ENGINE_CUDA_CUDA_WEIGHTS_H_
