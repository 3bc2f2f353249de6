// Softmax attention kernels of a step, and the fused decode of rattention layers; see
// attention.h. Three kernels share one building block, AttendSpan: a CTA's warps split a range of
// key positions between them, each group of D / 8 lanes taking one key at a time (every lane 8
// elements of the head, loaded as 16 bytes), keep an online softmax per query head in registers,
// and merge their partial results through shared memory at the end.
//
// - DecodeAttention: one CTA per (row, kv head, pass of up to kMaxPassHeads query heads of the
//   group, split of kDecodeSplitKeys keys). Rows whose keys span several splits leave partial
//   results (max, sum, unnormalized output) in the workspace, merged by CombineSplitsKernel.
// - RAttentionDecode: one CTA per (sequence, kv head), rows in order; the kv head's rla state is
//   staged in shared memory, each row folds its leaving key into it, attends over its window,
//   reads the state and writes the normalized sum of the two branches.
// - PrefillAttention: flash attention on tensor cores (WMMA, bf16 in, fp32 accumulators), one CTA
//   per (tile of up to 64 rows, query head); each warp owns 16 rows of the tile from the scores
//   through the softmax to the output, so only the staging of key and value tiles is CTA-wide.
//
// Softmax runs in base 2: scores are multiplied by scale * log2(e) and exponentiated with exp2f.
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <mma.h>

#include <cmath>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "engine/util/status_macros.h"
#include "kernels/cuda/attention.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_util.cuh"

namespace rattn::kernels::cuda {
namespace {

constexpr float kLog2e = 1.4426950408889634f;
// Query heads of one kv group a CTA serves together (sharing each key and value load); larger
// groups take several passes (decode: several CTAs).
constexpr int kMaxPassHeads = 4;
// Keys each lane group loads before using them (loads in flight per lane).
constexpr int kKeysPerLoad = 2;
// Decode: keys per split-KV chunk, and warps per CTA.
constexpr int kDecodeSplitKeys = 512;
constexpr int kDecodeWarps = 4;
// Fused rattention decode: warps per CTA (the fold and the state read use every thread).
constexpr int kRAttentionWarps = 8;
// Prefill: keys per key tile, warps per CTA (16 query rows each).
constexpr int kPrefillKeyTile = 64;
constexpr int kPrefillWarps = kPrefillTileRows / 16;
constexpr int kWmma = 16;  // WMMA fragment edge
static_assert(kPrefillTileRows % kWmma == 0 && kPrefillKeyTile % kWmma == 0);
static_assert(kPrefillKeyTile == 64, "the softmax gives each lane two key columns");

// ---------------------------------------------------------------------------------------------
// Device helpers.

// Weight of a partial result whose running max is `from` in a merge whose max is `to` (>= from):
// 0 for a partial that has seen no key (from = -inf), also when every partial is empty.
__device__ __forceinline__ float MergeWeight(float from, float to) {
  return from == -INFINITY ? 0.0f : exp2f(from - to);
}

// 8 consecutive bf16 (16 bytes, 16-byte aligned) as floats.
__device__ __forceinline__ void Bf16x8ToFloat(const uint4& raw, float* out) {
  const __nv_bfloat162* pairs = reinterpret_cast<const __nv_bfloat162*>(&raw);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float2 pair = __bfloat1622float2(pairs[i]);
    out[2 * i] = pair.x;
    out[2 * i + 1] = pair.y;
  }
}

__device__ __forceinline__ uint4 Load16(const bf16* source) {
  return *reinterpret_cast<const uint4*>(source);
}

// Softmax attention of one query row over a range of keys, in shared memory once merged.
// merged_acc is unnormalized: the output is merged_acc[g] / merged_sum[g].
template <int D, int kWarps>
struct SpanScratch {
  float max[kWarps][kMaxPassHeads];
  float sum[kWarps][kMaxPassHeads];
  float acc[kWarps][kMaxPassHeads][D];
  float merged_max[kMaxPassHeads];  // in units of log2: scores times scale * log2(e)
  float merged_sum[kMaxPassHeads];
  float merged_acc[kMaxPassHeads][D];
};

// For query heads q (heads <= kMaxPassHeads consecutive heads of one row, (heads, D), after
// RoPE) of kv head `kv_head`: the softmax attention over positions [first, last] of `seq`,
// left in scratch.merged_*. Called by every thread of a CTA of kWarps warps (uniformly: it
// synchronizes the CTA), returns once scratch is ready to read. score_scale is scale * log2(e).
template <int D, int kWarps>
__device__ void AttendSpan(const StepView& step, const LayerKv& kv, const StepSequence& seq,
                           int kv_head, const bf16* q, int heads, float score_scale, int first,
                           int last, SpanScratch<D, kWarps>& scratch) {
  constexpr int kLanesPerKey = D / 8;
  constexpr int kKeysPerWarp = 32 / kLanesPerKey;
  constexpr int kSlots = kWarps * kKeysPerWarp;  // keys the CTA reads side by side
  constexpr int kKeysPerRound = kSlots * kKeysPerLoad;
  const int lane = threadIdx.x % 32;
  const int warp = threadIdx.x / 32;
  const int slot = warp * kKeysPerWarp + lane / kLanesPerKey;
  const int part = (lane % kLanesPerKey) * 8;  // this lane's 8 elements of a head
  const int64_t head_offset = static_cast<int64_t>(kv_head) * D + part;

  float query[kMaxPassHeads][8];
  float row_max[kMaxPassHeads], row_sum[kMaxPassHeads], acc[kMaxPassHeads][8];
#pragma unroll
  for (int g = 0; g < kMaxPassHeads; ++g) {
    if (g < heads) {
      Bf16x8ToFloat(Load16(q + g * D + part), query[g]);
#pragma unroll
      for (int i = 0; i < 8; ++i) query[g][i] *= score_scale;
    }
    row_max[g] = -INFINITY;
    row_sum[g] = 0.0f;
#pragma unroll
    for (int i = 0; i < 8; ++i) acc[g][i] = 0.0f;
  }

  // Rounds are uniform over the CTA (shuffles need whole warps); a lane group whose key lies
  // past `last` computes with zeros and masks its score.
  for (int round = first; round <= last; round += kKeysPerRound) {
    uint4 key_raw[kKeysPerLoad], value_raw[kKeysPerLoad];
    bool valid[kKeysPerLoad];
#pragma unroll
    for (int b = 0; b < kKeysPerLoad; ++b) {
      const int position = round + b * kSlots + slot;
      valid[b] = position <= last;
      key_raw[b] = make_uint4(0, 0, 0, 0);
      value_raw[b] = make_uint4(0, 0, 0, 0);
      if (valid[b]) {
        key_raw[b] = Load16(KeyRow(step, kv, seq, position) + head_offset);
        value_raw[b] = Load16(ValueRow(step, kv, seq, position) + head_offset);
      }
    }
    float score[kMaxPassHeads][kKeysPerLoad];
#pragma unroll
    for (int b = 0; b < kKeysPerLoad; ++b) {
      float key[8];
      Bf16x8ToFloat(key_raw[b], key);
#pragma unroll
      for (int g = 0; g < kMaxPassHeads; ++g) {
        float dot = 0.0f;
#pragma unroll
        for (int i = 0; i < 8; ++i) dot = fmaf(query[g][i], key[i], dot);
        score[g][b] = dot;
      }
    }
#pragma unroll
    for (int offset = kLanesPerKey / 2; offset > 0; offset /= 2) {
#pragma unroll
      for (int g = 0; g < kMaxPassHeads; ++g) {
        if (g >= heads) continue;
#pragma unroll
        for (int b = 0; b < kKeysPerLoad; ++b) {
          score[g][b] += __shfl_xor_sync(0xffffffffu, score[g][b], offset);
        }
      }
    }
    float value[kKeysPerLoad][8];
#pragma unroll
    for (int b = 0; b < kKeysPerLoad; ++b) Bf16x8ToFloat(value_raw[b], value[b]);
#pragma unroll
    for (int g = 0; g < kMaxPassHeads; ++g) {
      if (g >= heads) continue;
      float new_max = row_max[g];
#pragma unroll
      for (int b = 0; b < kKeysPerLoad; ++b) {
        if (!valid[b]) score[g][b] = -INFINITY;
        new_max = fmaxf(new_max, score[g][b]);
      }
      if (new_max == -INFINITY) continue;  // this lane group has no key yet
      const float correction = exp2f(row_max[g] - new_max);
      row_sum[g] *= correction;
#pragma unroll
      for (int i = 0; i < 8; ++i) acc[g][i] *= correction;
#pragma unroll
      for (int b = 0; b < kKeysPerLoad; ++b) {
        const float p = exp2f(score[g][b] - new_max);
        row_sum[g] += p;
#pragma unroll
        for (int i = 0; i < 8; ++i) acc[g][i] = fmaf(p, value[b][i], acc[g][i]);
      }
      row_max[g] = new_max;
    }
  }

  // Merge the lane groups of each warp (partners differ in the key-slot bits of the lane).
#pragma unroll
  for (int offset = kLanesPerKey; offset < 32; offset *= 2) {
#pragma unroll
    for (int g = 0; g < kMaxPassHeads; ++g) {
      if (g >= heads) continue;
      const float other_max = __shfl_xor_sync(0xffffffffu, row_max[g], offset);
      const float other_sum = __shfl_xor_sync(0xffffffffu, row_sum[g], offset);
      const float merged = fmaxf(row_max[g], other_max);
      const float mine = MergeWeight(row_max[g], merged);
      const float theirs = MergeWeight(other_max, merged);
      row_sum[g] = row_sum[g] * mine + other_sum * theirs;
#pragma unroll
      for (int i = 0; i < 8; ++i) {
        const float other = __shfl_xor_sync(0xffffffffu, acc[g][i], offset);
        acc[g][i] = acc[g][i] * mine + other * theirs;
      }
      row_max[g] = merged;
    }
  }
  if (lane < kLanesPerKey) {
#pragma unroll
    for (int g = 0; g < kMaxPassHeads; ++g) {
      if (g >= heads) continue;
      if (lane == 0) {
        scratch.max[warp][g] = row_max[g];
        scratch.sum[warp][g] = row_sum[g];
      }
#pragma unroll
      for (int i = 0; i < 8; ++i) scratch.acc[warp][g][part + i] = acc[g][i];
    }
  }
  __syncthreads();

  // Merge the warps.
  for (int index = threadIdx.x; index < heads * D; index += blockDim.x) {
    const int g = index / D;
    const int e = index % D;
    float merged = -INFINITY;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) merged = fmaxf(merged, scratch.max[w][g]);
    float total_sum = 0.0f, total_acc = 0.0f;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) {
      const float weight = MergeWeight(scratch.max[w][g], merged);
      total_sum += scratch.sum[w][g] * weight;
      total_acc += scratch.acc[w][g][e] * weight;
    }
    scratch.merged_acc[g][e] = total_acc;
    if (e == 0) {
      scratch.merged_max[g] = merged;
      scratch.merged_sum[g] = total_sum;
    }
  }
  __syncthreads();
}

// First key position a query at `position` sees.
__device__ __forceinline__ int FirstKey(int position, int window) {
  return window < 0 ? 0 : max(0, position - window);
}

// ---------------------------------------------------------------------------------------------
// DecodeAttention.

struct DecodeLaunch {
  DecodeAttentionParams params;
  int group;       // query heads per kv head
  int passes;      // CTAs per kv head along the group: ceil(group / kMaxPassHeads)
  int num_splits;  // CTAs per row along the keys; the last takes every key left
  float score_scale;
};

// Splits the keys [first, first + count) take: at least 1, at most num_splits.
__host__ __device__ __forceinline__ int SplitsOf(int count, int num_splits) {
  const int needed = (count + kDecodeSplitKeys - 1) / kDecodeSplitKeys;
  return needed < num_splits ? (needed < 1 ? 1 : needed) : num_splits;
}

// The step row of CTA row index `item` (blockIdx.x), or -1 past the sequence's rows.
__device__ __forceinline__ int DecodeRow(const DecodeAttentionParams& p, int item,
                                         StepSequence* seq) {
  const int listed = item / p.max_rows_per_sequence;
  const int offset = item % p.max_rows_per_sequence;
  *seq = p.step.sequences[p.sequences[listed]];
  return offset < seq->num_rows ? seq->first_row + offset : -1;
}

// grid (num_sequences * max_rows_per_sequence, num_kv_heads * passes, num_splits),
// kDecodeWarps * 32 threads. Writes out directly for rows with one split, else the partial
// ((row, head, split), D + 2 floats: D unnormalized outputs, max, sum) to the workspace.
template <int D>
__global__ void __launch_bounds__(kDecodeWarps * 32) DecodeAttentionKernel(DecodeLaunch launch) {
  __shared__ SpanScratch<D, kDecodeWarps> scratch;
  const DecodeAttentionParams& p = launch.params;
  StepSequence seq;
  const int row = DecodeRow(p, blockIdx.x, &seq);
  if (row < 0) return;
  const int position = p.step.row_position[row];
  const int first = FirstKey(position, p.window);
  const int row_splits = SplitsOf(position - first + 1, launch.num_splits);
  const int split = blockIdx.z;
  if (split >= row_splits) return;
  const int split_first = first + split * kDecodeSplitKeys;
  const int split_last = split == row_splits - 1 ? position : split_first + kDecodeSplitKeys - 1;

  const int kv_head = blockIdx.y / launch.passes;
  const int pass = blockIdx.y % launch.passes;
  const int head0 = kv_head * launch.group + pass * kMaxPassHeads;
  const int heads = min(kMaxPassHeads, launch.group - pass * kMaxPassHeads);
  const int64_t head_row = static_cast<int64_t>(row) * p.step.num_heads + head0;
  AttendSpan<D, kDecodeWarps>(p.step, p.kv, seq, kv_head, p.q + head_row * D, heads,
                              launch.score_scale, split_first, split_last, scratch);

  for (int index = threadIdx.x; index < heads * D; index += blockDim.x) {
    const int g = index / D;
    const int e = index % D;
    if (row_splits == 1) {
      p.out[(head_row + g) * D + e] =
          __float2bfloat16(scratch.merged_acc[g][e] / scratch.merged_sum[g]);
      continue;
    }
    float* partial = p.workspace + ((head_row + g) * launch.num_splits + split) * (D + 2);
    partial[e] = scratch.merged_acc[g][e];
    if (e == 0) {
      partial[D] = scratch.merged_max[g];
      partial[D + 1] = scratch.merged_sum[g];
    }
  }
}

// grid (num_sequences * max_rows_per_sequence, num_heads), D threads: merges the partial
// results of rows that took more than one split.
template <int D>
__global__ void __launch_bounds__(D) CombineSplitsKernel(DecodeLaunch launch) {
  const DecodeAttentionParams& p = launch.params;
  StepSequence seq;
  const int row = DecodeRow(p, blockIdx.x, &seq);
  if (row < 0) return;
  const int position = p.step.row_position[row];
  const int row_splits = SplitsOf(position - FirstKey(position, p.window) + 1, launch.num_splits);
  if (row_splits == 1) return;

  const int64_t head_row = static_cast<int64_t>(row) * p.step.num_heads + blockIdx.y;
  const float* partials = p.workspace + head_row * launch.num_splits * (D + 2);
  const int e = threadIdx.x;
  float merged = -INFINITY;
  for (int s = 0; s < row_splits; ++s) merged = fmaxf(merged, partials[s * (D + 2) + D]);
  float total_sum = 0.0f, total_acc = 0.0f;
  for (int s = 0; s < row_splits; ++s) {
    const float* partial = partials + s * (D + 2);
    const float weight = MergeWeight(partial[D], merged);
    total_sum += partial[D + 1] * weight;
    total_acc += partial[e] * weight;
  }
  p.out[head_row * D + e] = __float2bfloat16(total_acc / total_sum);
}

// ---------------------------------------------------------------------------------------------
// RAttentionDecode.

// Dynamic shared memory of RAttentionDecodeKernel<D>, in floats from the start.
template <int D>
struct RAttentionLayout {
  static constexpr int kState = 0;                              // (2D, D): the kv head's rla state
  static constexpr int kKey = kState + 2 * D * D;               // (D): the leaving key, RoPE undone
  static constexpr int kPhiKey = kKey + D;                      // (2D): phi of it
  static constexpr int kValue = kPhiKey + 2 * D;                // (D): the leaving value
  static constexpr int kLinear = kValue + D;                    // (kMaxPassHeads, D): phi(q) . S
  static constexpr int kScratch = kLinear + kMaxPassHeads * D;  // SpanScratch
  static constexpr size_t kBytes =
      kScratch * sizeof(float) + sizeof(SpanScratch<D, kRAttentionWarps>);
};

struct RAttentionLaunch {
  RAttentionDecodeParams params;
  int group;
  float score_scale;
};

// grid (num_sequences, num_kv_heads), kRAttentionWarps * 32 threads,
// RAttentionLayout<D>::kBytes of dynamic shared memory.
template <int D>
__global__ void __launch_bounds__(kRAttentionWarps * 32)
    RAttentionDecodeKernel(RAttentionLaunch launch) {
  using Layout = RAttentionLayout<D>;
  extern __shared__ __align__(16) unsigned char shared_bytes[];
  float* shared = reinterpret_cast<float*>(shared_bytes);
  float* state = shared + Layout::kState;
  float* key = shared + Layout::kKey;
  float* phi_key = shared + Layout::kPhiKey;
  float* value = shared + Layout::kValue;
  float* linear = shared + Layout::kLinear;
  auto& scratch = *reinterpret_cast<SpanScratch<D, kRAttentionWarps>*>(shared + Layout::kScratch);

  const RAttentionDecodeParams& rp = launch.params;
  const DecodeAttentionParams& p = rp.attention;
  const StepView& step = p.step;
  const StepSequence seq = step.sequences[p.sequences[blockIdx.x]];
  if (seq.rla_slot < 0) return;
  const int kv_head = blockIdx.y;
  const int lane = threadIdx.x % 32;
  const int warp = threadIdx.x / 32;
  const int window = p.window;
  float* global_state = rp.states.states + seq.rla_slot * rp.states.slot_stride +
                        static_cast<int64_t>(kv_head) * 2 * D * D;
  for (int i = threadIdx.x; i < 2 * D * D; i += blockDim.x) state[i] = global_state[i];
  __syncthreads();

  for (int r = 0; r < seq.num_rows; ++r) {
    const int row = seq.first_row + r;
    const int position = step.row_position[row];

    // S += phi(inverse_rope(k_j)) v_j^T for the position j leaving the window.
    const int leaving = position - window - 1;
    if (leaving >= 0) {
      if (warp == 0) {
        UnrotatedKeyPhi<D>(KeyRow(step, p.kv, seq, leaving) + kv_head * D, leaving, rp.rope_theta,
                           rp.feature_map, key, phi_key);
      } else if (warp == 1) {
        const bf16* value_row = ValueRow(step, p.kv, seq, leaving) + kv_head * D;
        for (int e = lane; e < D; e += 32) value[e] = __bfloat162float(value_row[e]);
      }
      __syncthreads();
      for (int i = threadIdx.x; i < 2 * D * D; i += blockDim.x) {
        state[i] = fmaf(phi_key[i / D], value[i % D], state[i]);
      }
      // AttendSpan below synchronizes before the state is read.
    }

    for (int head_base = 0; head_base < launch.group; head_base += kMaxPassHeads) {
      const int head0 = kv_head * launch.group + head_base;
      const int heads = min(kMaxPassHeads, launch.group - head_base);
      const int64_t head_row = static_cast<int64_t>(row) * step.num_heads + head0;
      AttendSpan<D, kRAttentionWarps>(step, p.kv, seq, kv_head, p.q + head_row * D, heads,
                                      launch.score_scale, FirstKey(position, window), position,
                                      scratch);

      // linear[g] = phi(q_g) . S
      for (int index = threadIdx.x; index < heads * D; index += blockDim.x) {
        const int g = index / D;
        const int c = index % D;
        const float* phi_q = rp.phi_q + (head_row + g) * 2 * D;
        float total = 0.0f;
        for (int k = 0; k < 2 * D; ++k) total = fmaf(phi_q[k], state[k * D + c], total);
        linear[g * D + c] = total;
      }
      __syncthreads();

      // out = rmsnorm(softmax branch) * swa_norm + rmsnorm(linear branch) * rla_norm, a warp
      // per head.
      constexpr int kPerLane = D / 32;
      for (int g = warp; g < heads; g += kRAttentionWarps) {
        const float inverse_sum = 1.0f / scratch.merged_sum[g];
        float softmax_part[kPerLane], linear_part[kPerLane];
        float softmax_squares = 0.0f, linear_squares = 0.0f;
#pragma unroll
        for (int t = 0; t < kPerLane; ++t) {
          const int e = lane + 32 * t;
          softmax_part[t] = scratch.merged_acc[g][e] * inverse_sum;
          linear_part[t] = linear[g * D + e];
          softmax_squares += softmax_part[t] * softmax_part[t];
          linear_squares += linear_part[t] * linear_part[t];
        }
        const float softmax_scale = 1.0f / sqrtf(WarpSum(softmax_squares) / D + rp.norm_eps);
        const float linear_scale = 1.0f / sqrtf(WarpSum(linear_squares) / D + rp.norm_eps);
        const int64_t head = head0 + g;
        const float* swa = rp.swa_norm + head * D;
        const float* rla = rp.rla_norm + head * D;
        bf16* out = p.out + (head_row + g) * D;
#pragma unroll
        for (int t = 0; t < kPerLane; ++t) {
          const int e = lane + 32 * t;
          out[e] = __float2bfloat16(softmax_part[t] * softmax_scale * swa[e] +
                                    linear_part[t] * linear_scale * rla[e]);
        }
      }
      __syncthreads();
    }
  }

  for (int i = threadIdx.x; i < 2 * D * D; i += blockDim.x) global_state[i] = state[i];
}

// ---------------------------------------------------------------------------------------------
// PrefillAttention.

namespace wmma = nvcuda::wmma;
using RowFragmentA = wmma::fragment<wmma::matrix_a, kWmma, kWmma, kWmma, bf16, wmma::row_major>;
using ColFragmentB = wmma::fragment<wmma::matrix_b, kWmma, kWmma, kWmma, bf16, wmma::col_major>;
using RowFragmentB = wmma::fragment<wmma::matrix_b, kWmma, kWmma, kWmma, bf16, wmma::row_major>;
using AccumulatorFragment = wmma::fragment<wmma::accumulator, kWmma, kWmma, kWmma, float>;

// Dynamic shared memory of PrefillAttentionKernel<D>, offsets in bytes. Rows are padded (by
// 16 bytes) against bank conflicts; every fragment start stays 32-byte aligned.
template <int D>
struct PrefillLayout {
  static constexpr int kHeadStride = D + 8;                 // bf16, q / key / value tiles
  static constexpr int kScoreStride = kPrefillKeyTile + 4;  // fp32 scores
  static constexpr int kProbStride = kPrefillKeyTile + 8;   // bf16 probabilities
  static constexpr int kOutStride = D + 4;                  // fp32 running output
  static constexpr size_t kQuery = 0;                       // (kPrefillTileRows, D) bf16
  static constexpr size_t kKeys = kQuery + kPrefillTileRows * kHeadStride * sizeof(bf16);
  static constexpr size_t kValues = kKeys + kPrefillKeyTile * kHeadStride * sizeof(bf16);
  static constexpr size_t kScores = kValues + kPrefillKeyTile * kHeadStride * sizeof(bf16);
  static constexpr size_t kProbs = kScores + kPrefillTileRows * kScoreStride * sizeof(float);
  static constexpr size_t kOut = kProbs + kPrefillTileRows * kProbStride * sizeof(bf16);
  static constexpr size_t kBytes = kOut + kPrefillTileRows * kOutStride * sizeof(float);
  static_assert(kKeys % 32 == 0 && kValues % 32 == 0 && kScores % 32 == 0 && kProbs % 32 == 0 &&
                kOut % 32 == 0);
};

// Copies `rows` head rows of D bf16 into a tile (row stride `stride`), zeros up to `capacity`
// rows; source(i) gives row i. Called by every thread of the CTA.
template <int D, typename Source>
__device__ __forceinline__ void StageRows(bf16* tile, int stride, int rows, int capacity,
                                          Source source) {
  constexpr int kChunks = D / 8;  // 16-byte pieces per row
  for (int index = threadIdx.x; index < capacity * kChunks; index += blockDim.x) {
    const int i = index / kChunks;
    const int chunk = (index % kChunks) * 8;
    const uint4 data = i < rows ? Load16(source(i) + chunk) : make_uint4(0, 0, 0, 0);
    *reinterpret_cast<uint4*>(tile + i * stride + chunk) = data;
  }
}

struct PrefillLaunch {
  PrefillAttentionParams params;
  int group;
  float score_scale;
};

// grid (num_tiles, num_heads), kPrefillWarps * 32 threads, PrefillLayout<D>::kBytes of dynamic
// shared memory.
template <int D>
__global__ void __launch_bounds__(kPrefillWarps * 32) PrefillAttentionKernel(PrefillLaunch launch) {
  using Layout = PrefillLayout<D>;
  constexpr int kHeadStride = Layout::kHeadStride;
  constexpr int kScoreStride = Layout::kScoreStride;
  constexpr int kProbStride = Layout::kProbStride;
  constexpr int kOutStride = Layout::kOutStride;
  extern __shared__ __align__(128) unsigned char shared[];
  bf16* query_tile = reinterpret_cast<bf16*>(shared + Layout::kQuery);
  bf16* key_tile = reinterpret_cast<bf16*>(shared + Layout::kKeys);
  bf16* value_tile = reinterpret_cast<bf16*>(shared + Layout::kValues);
  float* scores = reinterpret_cast<float*>(shared + Layout::kScores);
  bf16* probs = reinterpret_cast<bf16*>(shared + Layout::kProbs);
  float* out_acc = reinterpret_cast<float*>(shared + Layout::kOut);

  const PrefillAttentionParams& p = launch.params;
  const StepView& step = p.step;
  const PrefillTile tile = p.tiles[blockIdx.x];
  const int rows = min(tile.num_rows, kPrefillTileRows);
  if (rows <= 0) return;
  const StepSequence seq = step.sequences[tile.sequence];
  const int head = blockIdx.y;
  const int kv_head = head / launch.group;
  const int first_position = step.row_position[tile.first_row];
  const int last_position = first_position + rows - 1;
  const int window = p.window;
  const int lane = threadIdx.x % 32;
  const int warp = threadIdx.x / 32;
  const int strip = warp * kWmma;  // this warp's first row of the tile

  StageRows<D>(query_tile, kHeadStride, rows, kPrefillTileRows, [&](int i) {
    return p.q + (static_cast<int64_t>(tile.first_row + i) * step.num_heads + head) * D;
  });
  for (int i = threadIdx.x; i < kPrefillTileRows * kOutStride; i += blockDim.x) out_acc[i] = 0.0f;
  // Running max (log2 units) and sum of this lane's warp's rows: the same in every lane.
  float row_max[kWmma], row_sum[kWmma];
#pragma unroll
  for (int rr = 0; rr < kWmma; ++rr) {
    row_max[rr] = -INFINITY;
    row_sum[rr] = 0.0f;
  }

  for (int tile_first = FirstKey(first_position, window); tile_first <= last_position;
       tile_first += kPrefillKeyTile) {
    const int tile_keys = min(kPrefillKeyTile, last_position - tile_first + 1);
    __syncthreads();  // the previous key tile is no longer read (and the query tile is staged)
    StageRows<D>(key_tile, kHeadStride, tile_keys, kPrefillKeyTile,
                 [&](int i) { return KeyRow(step, p.kv, seq, tile_first + i) + kv_head * D; });
    StageRows<D>(value_tile, kHeadStride, tile_keys, kPrefillKeyTile,
                 [&](int i) { return ValueRow(step, p.kv, seq, tile_first + i) + kv_head * D; });
    __syncthreads();

    // Scores of the strip: (16, kPrefillKeyTile) = Q_strip K^T.
    {
      AccumulatorFragment score_fragment[kPrefillKeyTile / kWmma];
#pragma unroll
      for (int n = 0; n < kPrefillKeyTile / kWmma; ++n) {
        wmma::fill_fragment(score_fragment[n], 0.0f);
      }
#pragma unroll
      for (int k = 0; k < D / kWmma; ++k) {
        RowFragmentA query_fragment;
        wmma::load_matrix_sync(query_fragment, query_tile + strip * kHeadStride + k * kWmma,
                               kHeadStride);
#pragma unroll
        for (int n = 0; n < kPrefillKeyTile / kWmma; ++n) {
          ColFragmentB key_fragment;
          wmma::load_matrix_sync(key_fragment, key_tile + n * kWmma * kHeadStride + k * kWmma,
                                 kHeadStride);
          wmma::mma_sync(score_fragment[n], query_fragment, key_fragment, score_fragment[n]);
        }
      }
#pragma unroll
      for (int n = 0; n < kPrefillKeyTile / kWmma; ++n) {
        wmma::store_matrix_sync(scores + strip * kScoreStride + n * kWmma, score_fragment[n],
                                kScoreStride, wmma::mem_row_major);
      }
    }
    __syncwarp();

    // Online softmax of the strip's rows; lane takes key columns lane and lane + 32.
#pragma unroll
    for (int rr = 0; rr < kWmma; ++rr) {
      const int r = strip + rr;
      const int position = first_position + r;
      float x[2];
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        const int column = lane + 32 * half;
        const int key_position = tile_first + column;
        const bool visible = r < rows && key_position <= position &&
                             (window < 0 || position - key_position <= window);
        x[half] = visible ? scores[r * kScoreStride + column] * launch.score_scale : -INFINITY;
      }
      const float new_max = fmaxf(row_max[rr], WarpMax(fmaxf(x[0], x[1])));
      const float base = new_max == -INFINITY ? 0.0f : new_max;  // a row with no key yet
      float tile_sum = 0.0f;
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        // The sum counts the probabilities as rounded for the tensor cores.
        const bf16 prob = __float2bfloat16(exp2f(x[half] - base));
        probs[r * kProbStride + lane + 32 * half] = prob;
        tile_sum += __bfloat162float(prob);
      }
      const float correction = exp2f(row_max[rr] - base);
      row_sum[rr] = row_sum[rr] * correction + WarpSum(tile_sum);
      row_max[rr] = new_max;
      for (int e = lane; e < D; e += 32) out_acc[r * kOutStride + e] *= correction;
    }
    __syncwarp();

    // out_strip += P_strip V.
    {
      RowFragmentA prob_fragment[kPrefillKeyTile / kWmma];
#pragma unroll
      for (int k = 0; k < kPrefillKeyTile / kWmma; ++k) {
        wmma::load_matrix_sync(prob_fragment[k], probs + strip * kProbStride + k * kWmma,
                               kProbStride);
      }
#pragma unroll
      for (int n = 0; n < D / kWmma; ++n) {
        AccumulatorFragment out_fragment;
        float* out_tile = out_acc + strip * kOutStride + n * kWmma;
        wmma::load_matrix_sync(out_fragment, out_tile, kOutStride, wmma::mem_row_major);
#pragma unroll
        for (int k = 0; k < kPrefillKeyTile / kWmma; ++k) {
          RowFragmentB value_fragment;
          wmma::load_matrix_sync(value_fragment, value_tile + k * kWmma * kHeadStride + n * kWmma,
                                 kHeadStride);
          wmma::mma_sync(out_fragment, prob_fragment[k], value_fragment, out_fragment);
        }
        wmma::store_matrix_sync(out_tile, out_fragment, kOutStride, wmma::mem_row_major);
      }
    }
    __syncwarp();
  }

#pragma unroll
  for (int rr = 0; rr < kWmma; ++rr) {
    const int r = strip + rr;
    if (r >= rows) break;
    const float inverse_sum = 1.0f / row_sum[rr];
    const int64_t offset = (static_cast<int64_t>(tile.first_row + r) * step.num_heads + head) * D;
    for (int e = lane; e < D; e += 32) {
      const float value = out_acc[r * kOutStride + e] * inverse_sum;
      if (p.out_f32 != nullptr) {
        p.out_f32[offset + e] = value;
      } else {
        p.out_bf16[offset + e] = __float2bfloat16(value);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Host side: parameter checks and launches.

bool IsCompiledHeadDim(int head_dim) {
  for (int d : kHeadDims) {
    if (d == head_dim) return true;
  }
  return false;
}

bool Aligned16(const void* pointer) { return reinterpret_cast<uintptr_t>(pointer) % 16 == 0; }

// A device pointer the kernels read 16 bytes at a time: set and 16-byte aligned.
absl::Status CheckVectorPointer(absl::string_view kernel, absl::string_view name,
                                const void* pointer) {
  if (pointer == nullptr) return InvalidParams(kernel, absl::StrCat(name, " is null"));
  if (!Aligned16(pointer))
    return InvalidParams(kernel, absl::StrCat(name, " is not 16-byte aligned"));
  return absl::OkStatus();
}

absl::Status CheckStepAndKv(absl::string_view kernel, const StepView& step, const LayerKv& kv) {
  if (!IsCompiledHeadDim(step.head_dim)) {
    return InvalidParams(kernel,
                         absl::StrCat("step.head_dim ", step.head_dim,
                                      " is not one the kernels are built for (32, 64, 128)"));
  }
  if (step.num_heads <= 0) return InvalidParams(kernel, "step.num_heads must be positive");
  if (step.num_kv_heads <= 0) return InvalidParams(kernel, "step.num_kv_heads must be positive");
  if (step.num_heads % step.num_kv_heads != 0) {
    return InvalidParams(
        kernel, absl::StrCat("step.num_heads (", step.num_heads,
                             ") is not a multiple of step.num_kv_heads (", step.num_kv_heads, ")"));
  }
  if (step.num_sequences <= 0) return InvalidParams(kernel, "step.num_sequences must be positive");
  if (step.num_rows <= 0) return InvalidParams(kernel, "step.num_rows must be positive");
  if (step.block_size <= 0) return InvalidParams(kernel, "step.block_size must be positive");
  if (step.sequences == nullptr) return InvalidParams(kernel, "step.sequences is null");
  if (step.row_position == nullptr) return InvalidParams(kernel, "step.row_position is null");
  if (step.block_tables == nullptr) return InvalidParams(kernel, "step.block_tables is null");
  RATTN_RETURN_IF_ERROR(CheckVectorPointer(kernel, "kv.keys", kv.keys));
  RATTN_RETURN_IF_ERROR(CheckVectorPointer(kernel, "kv.values", kv.values));
  RATTN_RETURN_IF_ERROR(CheckVectorPointer(kernel, "kv.step_keys", kv.step_keys));
  RATTN_RETURN_IF_ERROR(CheckVectorPointer(kernel, "kv.step_values", kv.step_values));
  return absl::OkStatus();
}

constexpr int kMaxGridYZ = 65535;

int NumSplits(int32_t max_keys) {
  return max_keys <= kDecodeSplitKeys ? 1 : (max_keys + kDecodeSplitKeys - 1) / kDecodeSplitKeys;
}

int Passes(const StepView& step) {
  const int group = step.num_heads / step.num_kv_heads;
  return (group + kMaxPassHeads - 1) / kMaxPassHeads;
}

// Checks of DecodeAttentionParams common to both decode kernels (not the workspace).
absl::Status CheckDecode(absl::string_view kernel, const DecodeAttentionParams& p) {
  RATTN_RETURN_IF_ERROR(CheckStepAndKv(kernel, p.step, p.kv));
  if (p.sequences == nullptr) return InvalidParams(kernel, "sequences is null");
  if (p.num_sequences <= 0 || p.num_sequences > p.step.num_sequences) {
    return InvalidParams(kernel, absl::StrCat("num_sequences ", p.num_sequences, " is not in [1, ",
                                              p.step.num_sequences, "]"));
  }
  if (p.max_rows_per_sequence <= 0 || p.max_rows_per_sequence > p.step.num_rows) {
    return InvalidParams(kernel, absl::StrCat("max_rows_per_sequence ", p.max_rows_per_sequence,
                                              " is not in [1, ", p.step.num_rows, "]"));
  }
  RATTN_RETURN_IF_ERROR(CheckVectorPointer(kernel, "q", p.q));
  if (p.out == nullptr) return InvalidParams(kernel, "out is null");
  if (p.window < -1)
    return InvalidParams(kernel, absl::StrCat("window ", p.window, " is below -1"));
  if (!std::isfinite(p.scale)) return InvalidParams(kernel, "scale is not finite");
  return absl::OkStatus();
}

template <int D>
absl::Status LaunchDecode(const DecodeLaunch& launch, cudaStream_t stream) {
  const DecodeAttentionParams& p = launch.params;
  const dim3 grid(p.num_sequences * p.max_rows_per_sequence, p.step.num_kv_heads * launch.passes,
                  launch.num_splits);
  DecodeAttentionKernel<D><<<grid, kDecodeWarps * 32, 0, stream>>>(launch);
  RATTN_RETURN_IF_ERROR(LaunchStatus("DecodeAttentionKernel"));
  if (launch.num_splits == 1) return absl::OkStatus();
  const dim3 combine_grid(p.num_sequences * p.max_rows_per_sequence, p.step.num_heads);
  CombineSplitsKernel<D><<<combine_grid, D, 0, stream>>>(launch);
  return LaunchStatus("CombineSplitsKernel");
}

template <int D>
absl::Status LaunchRAttention(const RAttentionLaunch& launch, cudaStream_t stream) {
  constexpr size_t kBytes = RAttentionLayout<D>::kBytes;
  RATTN_CUDA_RETURN_IF_ERROR(cudaFuncSetAttribute(
      RAttentionDecodeKernel<D>, cudaFuncAttributeMaxDynamicSharedMemorySize, kBytes));
  const DecodeAttentionParams& p = launch.params.attention;
  const dim3 grid(p.num_sequences, p.step.num_kv_heads);
  RAttentionDecodeKernel<D><<<grid, kRAttentionWarps * 32, kBytes, stream>>>(launch);
  return LaunchStatus("RAttentionDecodeKernel");
}

template <int D>
absl::Status LaunchPrefill(const PrefillLaunch& launch, cudaStream_t stream) {
  constexpr size_t kBytes = PrefillLayout<D>::kBytes;
  RATTN_CUDA_RETURN_IF_ERROR(cudaFuncSetAttribute(
      PrefillAttentionKernel<D>, cudaFuncAttributeMaxDynamicSharedMemorySize, kBytes));
  const dim3 grid(launch.params.num_tiles, launch.params.step.num_heads);
  PrefillAttentionKernel<D><<<grid, kPrefillWarps * 32, kBytes, stream>>>(launch);
  return LaunchStatus("PrefillAttentionKernel");
}

}  // namespace

int64_t DecodeAttentionWorkspaceFloats(int32_t max_step_rows, int32_t num_heads, int32_t head_dim,
                                       int32_t max_keys) {
  const int splits = NumSplits(max_keys);
  if (splits == 1 || max_step_rows <= 0 || num_heads <= 0 || head_dim <= 0) return 0;
  return static_cast<int64_t>(max_step_rows) * num_heads * splits * (head_dim + 2);
}

absl::Status DecodeAttention(const DecodeAttentionParams& p, cudaStream_t stream) {
  constexpr absl::string_view kKernel = "DecodeAttention";
  RATTN_RETURN_IF_ERROR(CheckDecode(kKernel, p));
  if (p.max_keys <= 0) return InvalidParams(kKernel, "max_keys must be positive");
  DecodeLaunch launch{p, p.step.num_heads / p.step.num_kv_heads, Passes(p.step),
                      NumSplits(p.max_keys), p.scale * kLog2e};
  if (launch.num_splits > kMaxGridYZ) {
    return InvalidParams(
        kKernel, absl::StrCat("max_keys ", p.max_keys, " needs more than ", kMaxGridYZ, " splits"));
  }
  if (static_cast<int64_t>(p.step.num_kv_heads) * launch.passes > kMaxGridYZ) {
    return InvalidParams(kKernel, "step.num_kv_heads is too large for the grid");
  }
  const int64_t needed = DecodeAttentionWorkspaceFloats(p.step.num_rows, p.step.num_heads,
                                                        p.step.head_dim, p.max_keys);
  if (needed > 0 && p.workspace == nullptr) {
    return InvalidParams(kKernel,
                         absl::StrCat("workspace is null; max_keys ", p.max_keys, " needs ", needed,
                                      " floats (DecodeAttentionWorkspaceFloats)"));
  }
  if (p.workspace_floats < needed) {
    return InvalidParams(kKernel, absl::StrCat("workspace_floats ", p.workspace_floats,
                                               " is below the ", needed, " needed"));
  }
  if (static_cast<int64_t>(p.num_sequences) * p.max_rows_per_sequence > INT32_MAX) {
    return InvalidParams(kKernel,
                         "num_sequences * max_rows_per_sequence is too large for the grid");
  }
  switch (p.step.head_dim) {
    case 32:
      return LaunchDecode<32>(launch, stream);
    case 64:
      return LaunchDecode<64>(launch, stream);
    default:
      return LaunchDecode<128>(launch, stream);
  }
}

absl::Status RAttentionDecode(const RAttentionDecodeParams& p, cudaStream_t stream) {
  constexpr absl::string_view kKernel = "RAttentionDecode";
  RATTN_RETURN_IF_ERROR(CheckDecode(kKernel, p.attention));
  const StepView& step = p.attention.step;
  if (p.attention.window < 0) {
    return InvalidParams(kKernel, "attention.window must be >= 0 (rattention layers are local)");
  }
  if (p.phi_q == nullptr) return InvalidParams(kKernel, "phi_q is null");
  if (p.states.states == nullptr) return InvalidParams(kKernel, "states.states is null");
  const int64_t head_floats = 2 * static_cast<int64_t>(step.head_dim) * step.head_dim;
  if (p.states.slot_stride < step.num_kv_heads * head_floats) {
    return InvalidParams(kKernel, absl::StrCat("states.slot_stride ", p.states.slot_stride,
                                               " is below num_kv_heads * 2 * head_dim^2 = ",
                                               step.num_kv_heads * head_floats));
  }
  if (p.feature_map != FeatureMap::kSoftmax && p.feature_map != FeatureMap::kRelu) {
    return InvalidParams(kKernel, "feature_map is not a known FeatureMap");
  }
  if (!(p.rope_theta > 1.0) || !std::isfinite(p.rope_theta)) {
    return InvalidParams(kKernel, "rope_theta must be finite and above 1");
  }
  if (p.swa_norm == nullptr) return InvalidParams(kKernel, "swa_norm is null");
  if (p.rla_norm == nullptr) return InvalidParams(kKernel, "rla_norm is null");
  if (!(p.norm_eps > 0.0f) || !std::isfinite(p.norm_eps)) {
    return InvalidParams(kKernel, "norm_eps must be positive and finite");
  }
  if (step.num_kv_heads > kMaxGridYZ) {
    return InvalidParams(kKernel, "step.num_kv_heads is too large for the grid");
  }
  const RAttentionLaunch launch{p, step.num_heads / step.num_kv_heads, p.attention.scale * kLog2e};
  switch (step.head_dim) {
    case 32:
      return LaunchRAttention<32>(launch, stream);
    case 64:
      return LaunchRAttention<64>(launch, stream);
    default:
      return LaunchRAttention<128>(launch, stream);
  }
}

absl::Status PrefillAttention(const PrefillAttentionParams& p, cudaStream_t stream) {
  constexpr absl::string_view kKernel = "PrefillAttention";
  RATTN_RETURN_IF_ERROR(CheckStepAndKv(kKernel, p.step, p.kv));
  if (p.tiles == nullptr) return InvalidParams(kKernel, "tiles is null");
  if (p.num_tiles <= 0) return InvalidParams(kKernel, "num_tiles must be positive");
  RATTN_RETURN_IF_ERROR(CheckVectorPointer(kKernel, "q", p.q));
  if ((p.out_bf16 == nullptr) == (p.out_f32 == nullptr)) {
    return InvalidParams(kKernel, "exactly one of out_bf16 and out_f32 must be set");
  }
  if (p.window < -1)
    return InvalidParams(kKernel, absl::StrCat("window ", p.window, " is below -1"));
  if (!std::isfinite(p.scale)) return InvalidParams(kKernel, "scale is not finite");
  if (p.step.num_heads > kMaxGridYZ) {
    return InvalidParams(kKernel, "step.num_heads is too large for the grid");
  }
  const PrefillLaunch launch{p, p.step.num_heads / p.step.num_kv_heads, p.scale * kLog2e};
  switch (p.step.head_dim) {
    case 32:
      return LaunchPrefill<32>(launch, stream);
    case 64:
      return LaunchPrefill<64>(launch, stream);
    default:
      return LaunchPrefill<128>(launch, stream);
  }
}

}  // namespace rattn::kernels::cuda
