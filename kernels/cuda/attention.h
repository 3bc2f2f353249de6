// Softmax attention of a step on the GPU, and the fused decode of rattention layers. Inputs and
// outputs are (step rows, num_heads, head_dim); keys and values are read through StepView
// (step_view.h), so paged pool blocks and the step's new rows look alike. Query head h reads kv
// head h / (num_heads / num_kv_heads). Every launcher checks its parameters (head_dim one of
// kHeadDims, pointers set, sizes positive) and returns INVALID_ARGUMENT instead of launching,
// and returns the launch's status; none allocates.
#ifndef RATTN_KERNELS_CUDA_ATTENTION_H_
#define RATTN_KERNELS_CUDA_ATTENTION_H_

#include <cuda_runtime_api.h>

#include <cstdint>

#include "absl/status/status.h"
#include "kernels/cuda/step_view.h"
#include "kernels/feature_map.h"

namespace rattn::kernels::cuda {

// Decode: every row of the listed sequences (one row each in a plain decode step; a few for
// short chunks), one query against the keys [max(0, p - window), p] of its position p (window
// -1: [0, p]). Rows of a sequence are independent here.
struct DecodeAttentionParams {
  StepView step;
  LayerKv kv;
  const int32_t* sequences = nullptr;  // (num_sequences) indices into step.sequences
  int32_t num_sequences = 0;
  int32_t max_rows_per_sequence = 1;  // the most rows any listed sequence has
  int32_t max_keys = 0;               // the most keys any row attends to (host-known bound)
  const bf16* q = nullptr;            // (step rows, num_heads, head_dim), after RoPE
  int32_t window = -1;
  float scale = 1.0f;
  bf16* out = nullptr;  // (step rows, num_heads, head_dim)
  // Long key ranges are split into chunks computed apart and then combined (split-KV), so a
  // few long sequences still fill the GPU. The workspace holds the partial results.
  float* workspace = nullptr;
  int64_t workspace_floats = 0;
};

// Floats of workspace DecodeAttention needs for these sizes (0 when it never splits).
int64_t DecodeAttentionWorkspaceFloats(int32_t max_step_rows, int32_t num_heads, int32_t head_dim,
                                       int32_t max_keys);

absl::Status DecodeAttention(const DecodeAttentionParams& params, cudaStream_t stream);

// The whole attention of a rattention layer for decode rows, in one kernel per (sequence, kv
// head), rows of a sequence in order: for row p, fold position p - w - 1 (when >= 0) into S,
//   S += phi(inverse_rope(k_{p-w-1})) v_{p-w-1}^T,
// then for each query head of the group
//   out = rmsnorm(softmax attention over [max(0, p - w), p]) * swa_norm
//       + rmsnorm(phi(q_p)^T S) * rla_norm            (per head, epsilon norm_eps).
struct RAttentionDecodeParams {
  DecodeAttentionParams attention;  // attention.window >= 0; out receives the sum
  const float* phi_q = nullptr;     // (step rows, num_heads, 2 * head_dim), from q before RoPE
  RlaStates states;
  FeatureMap feature_map = FeatureMap::kSoftmax;
  double rope_theta = 10000.0;
  const float* swa_norm = nullptr;  // (num_heads, head_dim)
  const float* rla_norm = nullptr;  // (num_heads, head_dim)
  float norm_eps = 1e-6f;
};

absl::Status RAttentionDecode(const RAttentionDecodeParams& params, cudaStream_t stream);

// Prefill: a tile of up to kPrefillTileRows consecutive rows of one sequence.
inline constexpr int kPrefillTileRows = 64;
struct PrefillTile {
  int32_t sequence = 0;
  int32_t first_row = 0;
  int32_t num_rows = 0;
};

// Causal (window -1) or sliding-window flash attention on tensor cores (bf16 inputs, fp32
// accumulation and softmax) for tiles of prefill rows.
struct PrefillAttentionParams {
  StepView step;
  LayerKv kv;
  const PrefillTile* tiles = nullptr;  // (num_tiles)
  int32_t num_tiles = 0;
  const bf16* q = nullptr;  // (step rows, num_heads, head_dim), after RoPE
  int32_t window = -1;
  float scale = 1.0f;
  // Exactly one is set: bf16 for a layer whose attention goes straight to o_proj, fp32 for a
  // rattention layer, whose branch is normalized first (NormAndSumHeads).
  bf16* out_bf16 = nullptr;
  float* out_f32 = nullptr;
};

absl::Status PrefillAttention(const PrefillAttentionParams& params, cudaStream_t stream);

}  // namespace rattn::kernels::cuda

#endif  // RATTN_KERNELS_CUDA_ATTENTION_H_
