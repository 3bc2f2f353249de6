// Chunked residual linear attention for prefill; see linear_attention.h.
//
// For a chunk of kChunk consecutive rows at positions p0 .. p0 + kChunk - 1, the positions
// leaving the window are l0 = p0 - w - 1 .. l0 + kChunk - 1, one per row, so with S_in the
// state covering j < l0,
//   out = phi(Q) S_in + mask(phi(Q) phi(K_l)^T) V_l,   S_out = S_in + phi(K_l)^T V_l,
// where the mask keeps j <= i (row i sees the keys that left up to its own). Every product runs
// on tensor cores in TF32 (fp32 storage, 10-bit mantissa inputs, fp32 accumulation), so the
// state and phi stay fp32 end to end.
//
// Columns of S (value dimensions) are independent, so a CTA owns one (sequence, kv head, slice
// of kColumns value columns) and walks the sequence's rows chunk by chunk, its state slice in
// shared memory; phi(K) of the leaving keys is recomputed by each slice's CTA (it is small next
// to the products). Query heads of the kv head's group share the chunk's phi(K), V and S.
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <mma.h>

#include <cmath>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "engine/util/status_macros.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_util.cuh"
#include "kernels/cuda/linear_attention.h"

namespace rattn::kernels::cuda {
namespace {

namespace wmma = nvcuda::wmma;

constexpr int kChunk = 32;    // rows per chunk
constexpr int kColumns = 32;  // value columns per CTA
constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;
constexpr int kPad = 4;  // floats of padding per shared row (keeps fragment starts 32-byte aligned)

using TileA = wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::row_major>;
using TileACol = wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::col_major>;
using TileB = wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::row_major>;
using TileBCol = wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::col_major>;
using TileAcc = wmma::fragment<wmma::accumulator, 16, 16, 8, float>;

template <typename Fragment>
__device__ __forceinline__ void ToTf32(Fragment& fragment) {
#pragma unroll
  for (int t = 0; t < fragment.num_elements; ++t) {
    fragment.x[t] = wmma::__float_to_tf32(fragment.x[t]);
  }
}

// Shared memory of LinearPrefillKernel<D>, offsets in floats.
template <int D>
struct LinearLayout {
  static constexpr int kPhiStride = 2 * D + kPad;                  // phi(K), phi(Q): (kChunk, 2D)
  static constexpr int kSliceStride = kColumns + kPad;             // S, V, out: (*, kColumns)
  static constexpr int kScoreStride = kChunk + kPad;               // A: (kChunk, kChunk)
  static constexpr int kState = 0;                                 // (2D, kColumns)
  static constexpr int kPhiK = kState + 2 * D * kSliceStride;      // (kChunk, 2D)
  static constexpr int kPhiQ = kPhiK + kChunk * kPhiStride;        // (kChunk, 2D)
  static constexpr int kValues = kPhiQ + kChunk * kPhiStride;      // (kChunk, kColumns)
  static constexpr int kScores = kValues + kChunk * kSliceStride;  // (kChunk, kChunk)
  static constexpr int kOut = kScores + kChunk * kScoreStride;     // (kChunk, kColumns)
  static constexpr int kKey = kOut + kChunk * kSliceStride;        // (kWarps, D): RoPE undone
  static constexpr int kFloats = kKey + kWarps * D;
  static constexpr size_t kBytes = kFloats * sizeof(float);
  static_assert(kPhiK % 8 == 0 && kPhiQ % 8 == 0 && kValues % 8 == 0 && kScores % 8 == 0 &&
                    kOut % 8 == 0,
                "fragment bases must stay 32-byte aligned");
};

struct LinearLaunch {
  LinearAttentionPrefillParams params;
  int group;
};

// grid (num_sequences, num_kv_heads, D / kColumns), kThreads threads, LinearLayout<D>::kBytes
// of dynamic shared memory.
template <int D>
__global__ void __launch_bounds__(kThreads) LinearPrefillKernel(LinearLaunch launch) {
  using Layout = LinearLayout<D>;
  constexpr int kPhiStride = Layout::kPhiStride;
  constexpr int kSliceStride = Layout::kSliceStride;
  constexpr int kScoreStride = Layout::kScoreStride;
  extern __shared__ __align__(128) float shared[];
  float* state = shared + Layout::kState;
  float* phi_k = shared + Layout::kPhiK;
  float* phi_q = shared + Layout::kPhiQ;
  float* values = shared + Layout::kValues;
  float* scores = shared + Layout::kScores;
  float* out_tile = shared + Layout::kOut;

  const LinearAttentionPrefillParams& p = launch.params;
  const StepView& step = p.step;
  const StepSequence seq = step.sequences[p.sequences[blockIdx.x]];
  if (seq.rla_slot < 0 || seq.num_rows <= 0) return;
  const int kv_head = blockIdx.y;
  const int column0 = blockIdx.z * kColumns;
  const int lane = threadIdx.x % 32;
  const int warp = threadIdx.x / 32;
  float* key = shared + Layout::kKey + warp * D;
  const int num_heads = step.num_heads;

  float* global_state = p.states.states + seq.rla_slot * p.states.slot_stride +
                        static_cast<int64_t>(kv_head) * 2 * D * D;
  for (int i = threadIdx.x; i < 2 * D * kColumns; i += kThreads) {
    const int k = i / kColumns;
    const int c = i % kColumns;
    state[k * kSliceStride + c] = global_state[k * D + column0 + c];
  }

  for (int chunk0 = 0; chunk0 < seq.num_rows; chunk0 += kChunk) {
    const int rows = min(kChunk, seq.num_rows - chunk0);
    const int leaving0 = seq.start + chunk0 - p.window - 1;
    __syncthreads();  // the previous chunk's tiles are no longer read; the state is loaded

    // phi(K) and V of the positions leaving the window, zero where none leaves.
    for (int j = warp; j < kChunk; j += kWarps) {
      const int position = leaving0 + j;
      float* phi_row = phi_k + j * kPhiStride;
      if (j >= rows || position < 0) {
        for (int k = lane; k < 2 * D; k += 32) phi_row[k] = 0.0f;
        continue;
      }
      UnrotatedKeyPhi<D>(KeyRow(step, p.kv, seq, position) + kv_head * D, position, p.rope_theta,
                         p.feature_map, key, phi_row);
    }
    for (int i = threadIdx.x; i < kChunk * kColumns; i += kThreads) {
      const int j = i / kColumns;
      const int c = i % kColumns;
      const int position = leaving0 + j;
      float v = 0.0f;
      if (j < rows && position >= 0) {
        v = __bfloat162float(ValueRow(step, p.kv, seq, position)[kv_head * D + column0 + c]);
      }
      values[j * kSliceStride + c] = v;
    }

    // Each query head of the group: A = mask(phi(Q) phi(K)^T), out = phi(Q) S + A V.
    // Warp w owns the 16 x 16 tile (w / 2, w % 2) of both (kChunk = kColumns = 32).
    const int tile_row = (warp / 2) * 16;
    const int tile_col = (warp % 2) * 16;
    for (int g = 0; g < launch.group; ++g) {
      const int head = kv_head * launch.group + g;
      __syncthreads();  // phi(K) and V are staged; the previous head's tiles are consumed
      for (int i = threadIdx.x; i < kChunk * 2 * D; i += kThreads) {
        const int r = i / (2 * D);
        const int k = i % (2 * D);
        float value = 0.0f;
        if (r < rows) {
          const int64_t row = seq.first_row + chunk0 + r;
          value = p.phi_q[(row * num_heads + head) * 2 * D + k];
        }
        phi_q[r * kPhiStride + k] = value;
      }
      __syncthreads();
      {
        TileAcc acc;
        wmma::fill_fragment(acc, 0.0f);
        for (int k = 0; k < 2 * D; k += 8) {
          TileA a;
          TileBCol b;  // phi(K)^T: phi(K) row-major read as a column-major (2D, kChunk)
          wmma::load_matrix_sync(a, phi_q + tile_row * kPhiStride + k, kPhiStride);
          wmma::load_matrix_sync(b, phi_k + tile_col * kPhiStride + k, kPhiStride);
          ToTf32(a);
          ToTf32(b);
          wmma::mma_sync(acc, a, b, acc);
        }
        wmma::store_matrix_sync(scores + tile_row * kScoreStride + tile_col, acc, kScoreStride,
                                wmma::mem_row_major);
      }
      __syncthreads();
      for (int i = threadIdx.x; i < kChunk * kChunk; i += kThreads) {
        const int r = i / kChunk;
        const int j = i % kChunk;
        if (j > r) scores[r * kScoreStride + j] = 0.0f;
      }
      __syncthreads();
      {
        TileAcc acc;
        wmma::fill_fragment(acc, 0.0f);
        for (int k = 0; k < 2 * D; k += 8) {
          TileA a;
          TileB b;
          wmma::load_matrix_sync(a, phi_q + tile_row * kPhiStride + k, kPhiStride);
          wmma::load_matrix_sync(b, state + k * kSliceStride + tile_col, kSliceStride);
          ToTf32(a);
          ToTf32(b);
          wmma::mma_sync(acc, a, b, acc);
        }
        for (int k = 0; k < kChunk; k += 8) {
          TileA a;
          TileB b;
          wmma::load_matrix_sync(a, scores + tile_row * kScoreStride + k, kScoreStride);
          wmma::load_matrix_sync(b, values + k * kSliceStride + tile_col, kSliceStride);
          ToTf32(a);
          ToTf32(b);
          wmma::mma_sync(acc, a, b, acc);
        }
        wmma::store_matrix_sync(out_tile + tile_row * kSliceStride + tile_col, acc, kSliceStride,
                                wmma::mem_row_major);
      }
      __syncthreads();
      for (int i = threadIdx.x; i < rows * kColumns; i += kThreads) {
        const int r = i / kColumns;
        const int c = i % kColumns;
        const int64_t row = seq.first_row + chunk0 + r;
        p.out[(row * num_heads + head) * D + column0 + c] = out_tile[r * kSliceStride + c];
      }
    }

    // S += phi(K)^T V: (2D, kColumns) in 16 x 16 tiles shared out among the warps.
    __syncthreads();
    constexpr int kTiles = (2 * D / 16) * (kColumns / 16);
    for (int t = warp; t < kTiles; t += kWarps) {
      const int row0 = (t / (kColumns / 16)) * 16;
      const int col0 = (t % (kColumns / 16)) * 16;
      TileAcc acc;
      wmma::load_matrix_sync(acc, state + row0 * kSliceStride + col0, kSliceStride,
                             wmma::mem_row_major);
      for (int k = 0; k < kChunk; k += 8) {
        TileACol a;  // phi(K)^T: row-major phi(K) (kChunk, 2D) read as column-major (2D, kChunk)
        TileB b;
        wmma::load_matrix_sync(a, phi_k + k * kPhiStride + row0, kPhiStride);
        wmma::load_matrix_sync(b, values + k * kSliceStride + col0, kSliceStride);
        ToTf32(a);
        ToTf32(b);
        wmma::mma_sync(acc, a, b, acc);
      }
      wmma::store_matrix_sync(state + row0 * kSliceStride + col0, acc, kSliceStride,
                              wmma::mem_row_major);
    }
  }

  __syncthreads();
  for (int i = threadIdx.x; i < 2 * D * kColumns; i += kThreads) {
    const int k = i / kColumns;
    const int c = i % kColumns;
    global_state[k * D + column0 + c] = state[k * kSliceStride + c];
  }
}

template <int D>
absl::Status Launch(const LinearLaunch& launch, cudaStream_t stream) {
  constexpr size_t kBytes = LinearLayout<D>::kBytes;
  RATTN_CUDA_RETURN_IF_ERROR(cudaFuncSetAttribute(
      LinearPrefillKernel<D>, cudaFuncAttributeMaxDynamicSharedMemorySize, kBytes));
  const LinearAttentionPrefillParams& p = launch.params;
  const dim3 grid(p.num_sequences, p.step.num_kv_heads, D / kColumns);
  LinearPrefillKernel<D><<<grid, kThreads, kBytes, stream>>>(launch);
  return LaunchStatus("LinearPrefillKernel");
}

}  // namespace

absl::Status LinearAttentionPrefill(const LinearAttentionPrefillParams& p, cudaStream_t stream) {
  constexpr absl::string_view kKernel = "LinearAttentionPrefill";
  const StepView& step = p.step;
  RATTN_RETURN_IF_ERROR(CheckSet(kKernel, "step.sequences", step.sequences));
  RATTN_RETURN_IF_ERROR(CheckSet(kKernel, "step.block_tables", step.block_tables));
  RATTN_RETURN_IF_ERROR(CheckSet(kKernel, "kv.keys", p.kv.keys));
  RATTN_RETURN_IF_ERROR(CheckSet(kKernel, "kv.values", p.kv.values));
  RATTN_RETURN_IF_ERROR(CheckSet(kKernel, "kv.step_keys", p.kv.step_keys));
  RATTN_RETURN_IF_ERROR(CheckSet(kKernel, "kv.step_values", p.kv.step_values));
  RATTN_RETURN_IF_ERROR(CheckSet(kKernel, "sequences", p.sequences));
  RATTN_RETURN_IF_ERROR(CheckSet(kKernel, "phi_q", p.phi_q));
  RATTN_RETURN_IF_ERROR(CheckSet(kKernel, "states.states", p.states.states));
  RATTN_RETURN_IF_ERROR(CheckSet(kKernel, "out", p.out));
  RATTN_RETURN_IF_ERROR(CheckPositive(kKernel, "step.block_size", step.block_size));
  RATTN_RETURN_IF_ERROR(CheckPositive(kKernel, "step.num_heads", step.num_heads));
  RATTN_RETURN_IF_ERROR(CheckPositive(kKernel, "step.num_kv_heads", step.num_kv_heads));
  if (!p.kv.local) return InvalidParams(kKernel, "kv must be a local layer's (kv.local)");
  if (step.num_heads % step.num_kv_heads != 0) {
    return InvalidParams(kKernel, "step.num_heads is not a multiple of step.num_kv_heads");
  }
  if (p.num_sequences <= 0 || p.num_sequences > step.num_sequences) {
    return InvalidParams(kKernel, absl::StrCat("num_sequences ", p.num_sequences, " is not in [1, ",
                                               step.num_sequences, "]"));
  }
  if (p.window < 0) return InvalidParams(kKernel, "window must be >= 0");
  if (!(p.rope_theta > 1.0) || !std::isfinite(p.rope_theta)) {
    return InvalidParams(kKernel, "rope_theta must be finite and above 1");
  }
  if (p.feature_map != FeatureMap::kSoftmax && p.feature_map != FeatureMap::kRelu) {
    return InvalidParams(kKernel, "feature_map is not a known FeatureMap");
  }
  const int64_t head_floats = 2 * static_cast<int64_t>(step.head_dim) * step.head_dim;
  if (p.states.slot_stride < step.num_kv_heads * head_floats) {
    return InvalidParams(kKernel, absl::StrCat("states.slot_stride ", p.states.slot_stride,
                                               " is below num_kv_heads * 2 * head_dim^2 = ",
                                               step.num_kv_heads * head_floats));
  }
  if (step.num_kv_heads > 65535) return InvalidParams(kKernel, "too many kv heads for the grid");
  const LinearLaunch launch{p, step.num_heads / step.num_kv_heads};
  switch (step.head_dim) {
    case 32:
      return Launch<32>(launch, stream);
    case 64:
      return Launch<64>(launch, stream);
    case 128:
      return Launch<128>(launch, stream);
    default:
      return InvalidParams(kKernel,
                           absl::StrCat("step.head_dim ", step.head_dim,
                                        " is not one the kernels are built for (32, 64, 128)"));
  }
}

}  // namespace rattn::kernels::cuda
