// One forward step as the CUDA kernels see it: the step's rows (one per new token), the
// sequences they belong to, and where each sequence's earlier keys and values live. The CUDA
// backend builds this on the host and copies it to the device once per step; every attention
// kernel reads positions through KeyRow / ValueRow below, so paging and the split between the
// cache and the step's own rows are handled in one place.
//
// Positions of a sequence below `start` come from the layer's pool blocks through the
// sequence's block table; positions from `start` on are this step's new rows, which reach the
// cache only after the step (as on the CPU backend: a local layer's cache never holds more than
// its window, however long the chunk). Local layers hold [start - w - 1, start) in the cache.
#ifndef RATTN_KERNELS_CUDA_STEP_VIEW_H_
#define RATTN_KERNELS_CUDA_STEP_VIEW_H_

#include <cuda_bf16.h>

#include <cstdint>

namespace rattn::kernels::cuda {

using bf16 = __nv_bfloat16;

// Head sizes the CUDA kernels are compiled for.
inline constexpr int kHeadDims[] = {32, 64, 128};

// One sequence's chunk of the step: rows first_row .. first_row + num_rows - 1 hold positions
// start .. start + num_rows - 1.
struct StepSequence {
  int32_t first_row = 0;
  int32_t num_rows = 0;
  int32_t start = 0;         // positions in the cache before this step
  int32_t global_table = 0;  // offset of its global_kv block table in StepView::block_tables
  int32_t window_table = 0;  // offset of its window block table (released blocks hold -1)
  int32_t rla_slot = -1;     // its rla_state slot; -1 when the model has no rattention layer
};

// Device pointers and sizes shared by every kernel of a step.
struct StepView {
  const StepSequence* sequences = nullptr;  // (num_sequences)
  const int32_t* row_sequence = nullptr;    // (num_rows): the sequence of each row
  const int32_t* row_position = nullptr;    // (num_rows): the position of each row
  const int32_t* block_tables = nullptr;    // every sequence's tables, concatenated
  int32_t num_sequences = 0;
  int32_t num_rows = 0;
  int32_t block_size = 0;
  int32_t num_heads = 0;
  int32_t num_kv_heads = 0;
  int32_t head_dim = 0;
};

// One layer's keys and values: the pool of its kind, and this step's new rows. Keys are stored
// after RoPE. Rows are (num_kv_heads, head_dim) bf16.
struct LayerKv {
  const bf16* keys = nullptr;         // (pool blocks, block_size, num_kv_heads, head_dim)
  const bf16* values = nullptr;       // same
  const bf16* step_keys = nullptr;    // (step rows, num_kv_heads, head_dim)
  const bf16* step_values = nullptr;  // same
  bool local = false;                 // reads the window tables, else the global ones
};

// rla_state of one rattention layer: slot s, kv head g at states + s * slot_stride + g * 2d * d,
// (2 * head_dim, head_dim) fp32 row-major.
struct RlaStates {
  float* states = nullptr;
  int64_t slot_stride = 0;  // floats from one slot to the next
};

#ifdef __CUDACC__
// Index of the row holding `position` of `s`: among the pool's rows (below s.start) or among
// the step's rows (from s.start on), per `*in_step`.
__device__ __forceinline__ int64_t RowOf(const StepView& step, const LayerKv& kv,
                                         const StepSequence& s, int position, bool* in_step) {
  if (position >= s.start) {
    *in_step = true;
    return s.first_row + (position - s.start);
  }
  *in_step = false;
  const int32_t* table = step.block_tables + (kv.local ? s.window_table : s.global_table);
  return static_cast<int64_t>(table[position / step.block_size]) * step.block_size +
         position % step.block_size;
}

// The key row of `position` of sequence `s`: num_kv_heads * head_dim values.
__device__ __forceinline__ const bf16* KeyRow(const StepView& step, const LayerKv& kv,
                                              const StepSequence& s, int position) {
  bool in_step;
  const int64_t row = RowOf(step, kv, s, position, &in_step);
  const int64_t width = static_cast<int64_t>(step.num_kv_heads) * step.head_dim;
  return (in_step ? kv.step_keys : kv.keys) + row * width;
}

__device__ __forceinline__ const bf16* ValueRow(const StepView& step, const LayerKv& kv,
                                                const StepSequence& s, int position) {
  bool in_step;
  const int64_t row = RowOf(step, kv, s, position, &in_step);
  const int64_t width = static_cast<int64_t>(step.num_kv_heads) * step.head_dim;
  return (in_step ? kv.step_values : kv.values) + row * width;
}

// cos and sin of RoPE's angle for pair i of a head at `position`: position * theta^(-2i/d),
// in double as the CPU backend computes it.
__device__ __forceinline__ void RopeAngle(int position, int i, int head_dim, double theta,
                                          float* cos_out, float* sin_out) {
  const double angle = position * pow(theta, -2.0 * i / head_dim);
  double s, c;
  sincos(angle, &s, &c);
  *cos_out = static_cast<float>(c);
  *sin_out = static_cast<float>(s);
}
#endif  // __CUDACC__

}  // namespace rattn::kernels::cuda

#endif  // RATTN_KERNELS_CUDA_STEP_VIEW_H_
