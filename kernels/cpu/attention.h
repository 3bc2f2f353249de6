// Softmax attention and residual linear attention for the CPU backend, one query position at a
// time over a sequence's paged key/value rows. fp32 throughout; callers own all buffers.
#ifndef RATTN_KERNELS_CPU_ATTENTION_H_
#define RATTN_KERNELS_CPU_ATTENTION_H_

#include <cstdint>

#include "kernels/feature_map.h"
#include "kernels/paged_kv.h"

namespace rattn::kernels::cpu {

// Softmax attention for one query position over the keys at positions [first, last] of `kv`,
// for the query heads of kv heads [kv_begin, kv_end): query head h reads kv head h / group_size,
//   out_h = sum_j softmax_j(scale * q_h . k_j) v_j.
// query and out: one row of (num_heads, head_dim), indexed by absolute head;
// scores: workspace of (kv_end - kv_begin) * group_size * (last - first + 1) floats.
// Key and value rows are read whole and in order, block by block.
void AttendKvHeads(const float* query, const SplitKv<float>& kv, int kv_begin, int kv_end,
                   int group_size, int head_dim, int64_t first, int64_t last, float scale,
                   float* scores, float* out);

// Softmax attention for a tile of consecutive query positions of one sequence and one kv head,
// as two GEMMs (scores, then probabilities times values): the prefill path, where rows share
// their keys.
struct QueryTileParams {
  const float* queries = nullptr;  // row i at queries + i * query_stride: (num_heads, head_dim)
  int64_t query_stride = 0;
  float* out = nullptr;  // row i at out + i * out_stride: (num_heads, head_dim)
  int64_t out_stride = 0;
  int num_rows = 0;  // positions first_position .. first_position + num_rows - 1
  int64_t first_position = 0;
  int kv_head = 0;  // query heads kv_head * group_size .. + group_size - 1
  int group_size = 1;
  int head_dim = 0;
  int window = -1;  // sliding window w; -1 for full causal attention
  float scale = 1.0f;
};

// Floats of workspace AttendQueryTile needs for `params`.
int64_t QueryTileWorkspaceFloats(const QueryTileParams& params);

void AttendQueryTile(const QueryTileParams& params, const SplitKv<float>& kv, float* workspace);

// phi(x) for one head: x (head_dim) -> phi (2 * head_dim).
void ApplyFeatureMap(const float* x, int head_dim, FeatureMap map, float* phi);

// state (2 * head_dim, head_dim) += phi_k (2 * head_dim) outer v (head_dim).
void FoldIntoState(const float* phi_k, const float* v, int head_dim, float* state);

// out (head_dim) = phi_q (2 * head_dim) . state (2 * head_dim, head_dim).
void ReadState(const float* phi_q, const float* state, int head_dim, float* out);

}  // namespace rattn::kernels::cpu

#endif  // RATTN_KERNELS_CPU_ATTENTION_H_
