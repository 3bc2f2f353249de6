// Residual linear attention of rattention layers for prefill chunks on the GPU: for each row at
// position p of a chunk,
//   out_p = phi(q_p)^T S_p,   S_p = sum over j <= p - w - 1 of phi(k_j) v_j^T,
// where k_j is the key before RoPE (the cache holds it after RoPE, so it is turned back), and
// the state carried in and out is the sequence's rla_state slot (which on entry covers
// j <= start - w - 2). Computed in chunks of rows on tensor cores: within a chunk, masked
// phi(Q) phi(K)^T V over the positions leaving the window there; across chunks, the carried
// state. On return each listed sequence's state covers j <= start + num_rows - w - 2.
#ifndef RATTN_KERNELS_CUDA_LINEAR_ATTENTION_H_
#define RATTN_KERNELS_CUDA_LINEAR_ATTENTION_H_

#include <cuda_runtime_api.h>

#include <cstdint>

#include "absl/status/status.h"
#include "kernels/cuda/step_view.h"
#include "kernels/feature_map.h"

namespace rattn::kernels::cuda {

struct LinearAttentionPrefillParams {
  StepView step;
  LayerKv kv;                          // a local layer's keys and values
  const int32_t* sequences = nullptr;  // (num_sequences) indices into step.sequences
  int32_t num_sequences = 0;
  const float* phi_q = nullptr;  // (step rows, num_heads, 2 * head_dim)
  RlaStates states;
  FeatureMap feature_map = FeatureMap::kSoftmax;
  double rope_theta = 10000.0;
  int32_t window = 0;
  float* out = nullptr;  // (step rows, num_heads, head_dim) fp32, before the branch's norm
};

absl::Status LinearAttentionPrefill(const LinearAttentionPrefillParams& params,
                                    cudaStream_t stream);

}  // namespace rattn::kernels::cuda

#endif  // RATTN_KERNELS_CUDA_LINEAR_ATTENTION_H_
