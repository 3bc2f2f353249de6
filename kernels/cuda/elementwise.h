// Row-wise operations of the transformer block on the GPU: embedding, RMSNorm, the preparation
// of q, k and v (RoPE, the feature map), SwiGLU, the norm and sum of rattention's two branches,
// and the write of a step's new rows into the cache pools. The residual stream is fp32; inputs
// of the GEMMs are written in bf16. Launchers check their parameters and return a Status.
#ifndef RATTN_KERNELS_CUDA_ELEMENTWISE_H_
#define RATTN_KERNELS_CUDA_ELEMENTWISE_H_

#include <cuda_runtime_api.h>

#include <cstdint>

#include "absl/status/status.h"
#include "kernels/cuda/step_view.h"
#include "kernels/feature_map.h"

namespace rattn::kernels::cuda {

// x[r] = table[tokens[r]] as fp32: table (vocab, hidden) bf16, x (rows, hidden).
absl::Status EmbedRows(const bf16* table, const int32_t* tokens, int32_t rows, int32_t hidden,
                       float* x, cudaStream_t stream);

// out[i] = rmsnorm(x[r]) * weight with r = rows_index[i] (or i when rows_index is null), for
// i < rows: x (*, width) fp32, weight (width) fp32, out (rows, width) bf16.
absl::Status RmsNormRows(const float* x, const int32_t* rows_index, const float* weight,
                         int32_t rows, int32_t width, float eps, bf16* out, cudaStream_t stream);

// From the qkv projection (step rows, (num_heads + 2 * num_kv_heads) * head_dim) fp32, for each
// row at its position (step.row_position): q after RoPE, k after RoPE and v, in bf16; and, when
// phi_q is set, phi(q) of q before RoPE (2 * head_dim per head, fp32).
struct PrepareQkvParams {
  StepView step;
  const float* qkv = nullptr;
  double rope_theta = 10000.0;
  bf16* q = nullptr;            // (step rows, num_heads, head_dim)
  bf16* step_keys = nullptr;    // (step rows, num_kv_heads, head_dim)
  bf16* step_values = nullptr;  // (step rows, num_kv_heads, head_dim)
  float* phi_q = nullptr;       // (step rows, num_heads, 2 * head_dim) or null
  FeatureMap feature_map = FeatureMap::kSoftmax;
};

absl::Status PrepareQkv(const PrepareQkvParams& params, cudaStream_t stream);

// out (rows, inter) = silu(gate) * up in bf16, from gate_up (rows, 2 * inter) fp32 holding the
// gate then the up projection.
absl::Status SiluMul(const float* gate_up, int32_t rows, int32_t inter, bf16* out,
                     cudaStream_t stream);

// For the listed rows: out = rmsnorm_heads(softmax_out) * swa_norm + rmsnorm_heads(linear_out)
// * rla_norm, each head of head_dim normalized apart: inputs (*, heads, head_dim) fp32, norms
// (heads, head_dim) fp32, out (*, heads, head_dim) bf16.
absl::Status NormAndSumHeads(const float* softmax_out, const float* linear_out, const int32_t* rows,
                             int32_t num_rows, const float* swa_norm, const float* rla_norm,
                             int32_t heads, int32_t head_dim, float eps, bf16* out,
                             cudaStream_t stream);

// Where one new row of the step goes in the pools after the step: its row index in the
// global_kv pool and in the window pool (block * block_size + offset), -1 where that kind of
// layer does not keep it.
struct CacheWrite {
  int32_t step_row = 0;
  int32_t global_row = -1;
  int32_t window_row = -1;
};

struct CacheWriteParams {
  const CacheWrite* writes = nullptr;  // (num_writes)
  int32_t num_writes = 0;
  bf16* const* layer_keys = nullptr;     // (num_layers) pool bases, on the device
  bf16* const* layer_values = nullptr;   // (num_layers)
  const uint8_t* layer_local = nullptr;  // (num_layers): 1 for local layers
  int32_t num_layers = 0;
  const bf16* step_keys =
      nullptr;  // layer l's row r at step_keys + l * step_layer_stride + r * kv_width
  const bf16* step_values = nullptr;
  int64_t step_layer_stride = 0;
  int32_t kv_width = 0;
};

absl::Status WriteCacheRows(const CacheWriteParams& params, cudaStream_t stream);

}  // namespace rattn::kernels::cuda

#endif  // RATTN_KERNELS_CUDA_ELEMENTWISE_H_
