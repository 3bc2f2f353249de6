// Row-wise kernels of the transformer block; see elementwise.h. Each row (or head) is one CTA
// (or warp) so reductions stay in registers and shared memory; nothing here allocates.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "engine/util/status_macros.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_util.cuh"
#include "kernels/cuda/elementwise.h"

namespace rattn::kernels::cuda {
namespace {

constexpr int kRowThreads = 256;
constexpr int kMaxGridY = 65535;

// Sum of `x` over the CTA (kRowThreads threads), returned to every thread.
__device__ float BlockSum(float x) {
  __shared__ float partial[kRowThreads / 32];
  __shared__ float total;
  const int lane = threadIdx.x % 32;
  const int warp = threadIdx.x / 32;
  x = WarpSum(x);
  if (lane == 0) partial[warp] = x;
  __syncthreads();
  if (warp == 0) {
    float y = lane < kRowThreads / 32 ? partial[lane] : 0.0f;
    y = WarpSum(y);
    if (lane == 0) total = y;
  }
  __syncthreads();
  const float result = total;
  __syncthreads();  // `partial` and `total` may be reused by the caller's next call
  return result;
}

// ---------------------------------------------------------------------------------------------

__global__ void __launch_bounds__(kRowThreads)
    EmbedRowsKernel(const bf16* table, const int32_t* tokens, int32_t hidden, float* x) {
  const int64_t row = blockIdx.x;
  const bf16* source = table + static_cast<int64_t>(tokens[row]) * hidden;
  float* out = x + row * hidden;
  for (int i = threadIdx.x; i < hidden; i += blockDim.x) out[i] = __bfloat162float(source[i]);
}

__global__ void __launch_bounds__(kRowThreads)
    RmsNormRowsKernel(const float* x, const int32_t* rows_index, const float* weight, int32_t width,
                      float eps, bf16* out) {
  const int64_t i = blockIdx.x;
  const int64_t r = rows_index != nullptr ? rows_index[i] : i;
  const float* row = x + r * width;
  float squares = 0.0f;
  for (int e = threadIdx.x; e < width; e += blockDim.x) squares = fmaf(row[e], row[e], squares);
  const float scale = rsqrtf(BlockSum(squares) / static_cast<float>(width) + eps);
  bf16* dst = out + i * width;
  for (int e = threadIdx.x; e < width; e += blockDim.x) {
    dst[e] = __float2bfloat16(row[e] * scale * weight[e]);
  }
}

// One CTA per row; RoPE's cos and sin for the row's position go to shared memory first (D / 2
// of them, computed in double as on the CPU), then a warp per head rotates q and k, copies v
// and, for rattention layers, writes phi(q) of q before its rotation.
template <int D>
__global__ void __launch_bounds__(kRowThreads) PrepareQkvKernel(PrepareQkvParams p) {
  constexpr int kHalf = D / 2;
  constexpr int kPerLane = D / 32;
  __shared__ float cos_angle[kHalf], sin_angle[kHalf];
  const int64_t row = blockIdx.x;
  const int position = p.step.row_position[row];
  for (int i = threadIdx.x; i < kHalf; i += blockDim.x) {
    RopeAngle(position, i, D, p.rope_theta, &cos_angle[i], &sin_angle[i]);
  }
  __syncthreads();

  const int num_heads = p.step.num_heads;
  const int num_kv_heads = p.step.num_kv_heads;
  const int lane = threadIdx.x % 32;
  const int warp = threadIdx.x / 32;
  const float* qkv = p.qkv + row * static_cast<int64_t>(num_heads + 2 * num_kv_heads) * D;
  // Heads in order: query heads, key heads, value heads.
  for (int h = warp; h < num_heads + 2 * num_kv_heads; h += kRowThreads / 32) {
    const float* in = qkv + static_cast<int64_t>(h) * D;
    if (h >= num_heads + num_kv_heads) {  // value head: a copy
      bf16* out = p.step_values + (row * num_kv_heads + (h - num_heads - num_kv_heads)) * D;
      for (int e = lane; e < D; e += 32) out[e] = __float2bfloat16(in[e]);
      continue;
    }
    const bool query = h < num_heads;
    bf16* out = query ? p.q + (row * num_heads + h) * D
                      : p.step_keys + (row * num_kv_heads + (h - num_heads)) * D;
    for (int i = lane; i < kHalf; i += 32) {
      const float a = in[i];
      const float b = in[i + kHalf];
      out[i] = __float2bfloat16(a * cos_angle[i] - b * sin_angle[i]);
      out[i + kHalf] = __float2bfloat16(b * cos_angle[i] + a * sin_angle[i]);
    }
    if (!query || p.phi_q == nullptr) continue;

    // phi(q) before RoPE: [map(q), map(-q)], each half of D.
    float* phi = p.phi_q + (row * num_heads + h) * 2 * D;
    float x[kPerLane], positive[kPerLane], negative[kPerLane];
#pragma unroll
    for (int t = 0; t < kPerLane; ++t) x[t] = in[lane + 32 * t];
    FeatureMapLanes<D>(x, p.feature_map, positive, negative);
#pragma unroll
    for (int t = 0; t < kPerLane; ++t) {
      phi[lane + 32 * t] = positive[t];
      phi[D + lane + 32 * t] = negative[t];
    }
  }
}

__global__ void __launch_bounds__(kRowThreads)
    SiluMulKernel(const float* gate_up, int32_t inter, bf16* out) {
  const int64_t row = blockIdx.y;
  const float* gate = gate_up + row * 2 * inter;
  const float* up = gate + inter;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < inter;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float g = gate[i];
    out[row * inter + i] = __float2bfloat16(g / (1.0f + expf(-g)) * up[i]);
  }
}

// A warp per (listed row, head).
__global__ void __launch_bounds__(kRowThreads)
    NormAndSumHeadsKernel(const float* softmax_out, const float* linear_out, const int32_t* rows,
                          int32_t num_rows, const float* swa_norm, const float* rla_norm,
                          int32_t heads, int32_t head_dim, float eps, bf16* out) {
  const int64_t item = blockIdx.x * static_cast<int64_t>(kRowThreads / 32) + threadIdx.x / 32;
  if (item >= static_cast<int64_t>(num_rows) * heads) return;
  const int lane = threadIdx.x % 32;
  const int64_t row = rows[item / heads];
  const int head = static_cast<int>(item % heads);
  const int64_t offset = (row * heads + head) * head_dim;
  const float* a = softmax_out + offset;
  const float* b = linear_out + offset;
  float a_squares = 0.0f, b_squares = 0.0f;
  for (int e = lane; e < head_dim; e += 32) {
    a_squares = fmaf(a[e], a[e], a_squares);
    b_squares = fmaf(b[e], b[e], b_squares);
  }
  const float a_scale = rsqrtf(WarpSum(a_squares) / static_cast<float>(head_dim) + eps);
  const float b_scale = rsqrtf(WarpSum(b_squares) / static_cast<float>(head_dim) + eps);
  const float* swa = swa_norm + static_cast<int64_t>(head) * head_dim;
  const float* rla = rla_norm + static_cast<int64_t>(head) * head_dim;
  for (int e = lane; e < head_dim; e += 32) {
    out[offset + e] = __float2bfloat16(a[e] * a_scale * swa[e] + b[e] * b_scale * rla[e]);
  }
}

// grid (num_writes, num_layers): copies one row's keys and values of one layer into its pool.
__global__ void __launch_bounds__(kRowThreads) WriteCacheRowsKernel(CacheWriteParams p) {
  const CacheWrite write = p.writes[blockIdx.x];
  const int layer = blockIdx.y;
  const int32_t target = p.layer_local[layer] != 0 ? write.window_row : write.global_row;
  if (target < 0) return;
  const int64_t source =
      layer * p.step_layer_stride + static_cast<int64_t>(write.step_row) * p.kv_width;
  bf16* keys = p.layer_keys[layer] + static_cast<int64_t>(target) * p.kv_width;
  bf16* values = p.layer_values[layer] + static_cast<int64_t>(target) * p.kv_width;
  for (int e = threadIdx.x; e < p.kv_width; e += blockDim.x) {
    keys[e] = p.step_keys[source + e];
    values[e] = p.step_values[source + e];
  }
}

// ---------------------------------------------------------------------------------------------

template <int D>
absl::Status LaunchPrepareQkv(const PrepareQkvParams& p, cudaStream_t stream) {
  PrepareQkvKernel<D><<<p.step.num_rows, kRowThreads, 0, stream>>>(p);
  return LaunchStatus("PrepareQkvKernel");
}

}  // namespace

absl::Status EmbedRows(const bf16* table, const int32_t* tokens, int32_t rows, int32_t hidden,
                       float* x, cudaStream_t stream) {
  constexpr absl::string_view kKernel = "EmbedRows";
  RATTN_RETURN_IF_ERROR(CheckSet(kKernel, "table", table));
  RATTN_RETURN_IF_ERROR(CheckSet(kKernel, "tokens", tokens));
  RATTN_RETURN_IF_ERROR(CheckSet(kKernel, "x", x));
  RATTN_RETURN_IF_ERROR(CheckPositive(kKernel, "rows", rows));
  RATTN_RETURN_IF_ERROR(CheckPositive(kKernel, "hidden", hidden));
  EmbedRowsKernel<<<rows, kRowThreads, 0, stream>>>(table, tokens, hidden, x);
  return LaunchStatus("EmbedRowsKernel");
}

absl::Status RmsNormRows(const float* x, const int32_t* rows_index, const float* weight,
                         int32_t rows, int32_t width, float eps, bf16* out, cudaStream_t stream) {
  constexpr absl::string_view kKernel = "RmsNormRows";
  RATTN_RETURN_IF_ERROR(CheckSet(kKernel, "x", x));
  RATTN_RETURN_IF_ERROR(CheckSet(kKernel, "weight", weight));
  RATTN_RETURN_IF_ERROR(CheckSet(kKernel, "out", out));
  RATTN_RETURN_IF_ERROR(CheckPositive(kKernel, "rows", rows));
  RATTN_RETURN_IF_ERROR(CheckPositive(kKernel, "width", width));
  if (!(eps > 0.0f) || !std::isfinite(eps)) return InvalidParams(kKernel, "eps must be positive");
  RmsNormRowsKernel<<<rows, kRowThreads, 0, stream>>>(x, rows_index, weight, width, eps, out);
  return LaunchStatus("RmsNormRowsKernel");
}

absl::Status PrepareQkv(const PrepareQkvParams& p, cudaStream_t stream) {
  constexpr absl::string_view kKernel = "PrepareQkv";
  RATTN_RETURN_IF_ERROR(CheckSet(kKernel, "qkv", p.qkv));
  RATTN_RETURN_IF_ERROR(CheckSet(kKernel, "q", p.q));
  RATTN_RETURN_IF_ERROR(CheckSet(kKernel, "step_keys", p.step_keys));
  RATTN_RETURN_IF_ERROR(CheckSet(kKernel, "step_values", p.step_values));
  RATTN_RETURN_IF_ERROR(CheckSet(kKernel, "step.row_position", p.step.row_position));
  RATTN_RETURN_IF_ERROR(CheckPositive(kKernel, "step.num_rows", p.step.num_rows));
  RATTN_RETURN_IF_ERROR(CheckPositive(kKernel, "step.num_heads", p.step.num_heads));
  RATTN_RETURN_IF_ERROR(CheckPositive(kKernel, "step.num_kv_heads", p.step.num_kv_heads));
  if (!(p.rope_theta > 1.0) || !std::isfinite(p.rope_theta)) {
    return InvalidParams(kKernel, "rope_theta must be finite and above 1");
  }
  if (p.feature_map != FeatureMap::kSoftmax && p.feature_map != FeatureMap::kRelu) {
    return InvalidParams(kKernel, "feature_map is not a known FeatureMap");
  }
  switch (p.step.head_dim) {
    case 32:
      return LaunchPrepareQkv<32>(p, stream);
    case 64:
      return LaunchPrepareQkv<64>(p, stream);
    case 128:
      return LaunchPrepareQkv<128>(p, stream);
    default:
      return InvalidParams(kKernel,
                           absl::StrCat("step.head_dim ", p.step.head_dim,
                                        " is not one the kernels are built for (32, 64, 128)"));
  }
}

absl::Status SiluMul(const float* gate_up, int32_t rows, int32_t inter, bf16* out,
                     cudaStream_t stream) {
  constexpr absl::string_view kKernel = "SiluMul";
  RATTN_RETURN_IF_ERROR(CheckSet(kKernel, "gate_up", gate_up));
  RATTN_RETURN_IF_ERROR(CheckSet(kKernel, "out", out));
  RATTN_RETURN_IF_ERROR(CheckPositive(kKernel, "rows", rows));
  RATTN_RETURN_IF_ERROR(CheckPositive(kKernel, "inter", inter));
  if (rows > kMaxGridY)
    return InvalidParams(kKernel, absl::StrCat("rows ", rows, " exceed the grid"));
  const int blocks_per_row = static_cast<int>(
      std::min<int64_t>((static_cast<int64_t>(inter) + kRowThreads - 1) / kRowThreads, 64));
  SiluMulKernel<<<dim3(blocks_per_row, rows), kRowThreads, 0, stream>>>(gate_up, inter, out);
  return LaunchStatus("SiluMulKernel");
}

absl::Status NormAndSumHeads(const float* softmax_out, const float* linear_out, const int32_t* rows,
                             int32_t num_rows, const float* swa_norm, const float* rla_norm,
                             int32_t heads, int32_t head_dim, float eps, bf16* out,
                             cudaStream_t stream) {
  constexpr absl::string_view kKernel = "NormAndSumHeads";
  RATTN_RETURN_IF_ERROR(CheckSet(kKernel, "softmax_out", softmax_out));
  RATTN_RETURN_IF_ERROR(CheckSet(kKernel, "linear_out", linear_out));
  RATTN_RETURN_IF_ERROR(CheckSet(kKernel, "rows", rows));
  RATTN_RETURN_IF_ERROR(CheckSet(kKernel, "swa_norm", swa_norm));
  RATTN_RETURN_IF_ERROR(CheckSet(kKernel, "rla_norm", rla_norm));
  RATTN_RETURN_IF_ERROR(CheckSet(kKernel, "out", out));
  RATTN_RETURN_IF_ERROR(CheckPositive(kKernel, "num_rows", num_rows));
  RATTN_RETURN_IF_ERROR(CheckPositive(kKernel, "heads", heads));
  RATTN_RETURN_IF_ERROR(CheckPositive(kKernel, "head_dim", head_dim));
  if (!(eps > 0.0f) || !std::isfinite(eps)) return InvalidParams(kKernel, "eps must be positive");
  constexpr int kWarps = kRowThreads / 32;
  const int64_t items = static_cast<int64_t>(num_rows) * heads;
  const int64_t blocks = (items + kWarps - 1) / kWarps;
  if (blocks > INT32_MAX) return InvalidParams(kKernel, "num_rows * heads exceeds the grid");
  NormAndSumHeadsKernel<<<static_cast<unsigned>(blocks), kRowThreads, 0, stream>>>(
      softmax_out, linear_out, rows, num_rows, swa_norm, rla_norm, heads, head_dim, eps, out);
  return LaunchStatus("NormAndSumHeadsKernel");
}

absl::Status WriteCacheRows(const CacheWriteParams& p, cudaStream_t stream) {
  constexpr absl::string_view kKernel = "WriteCacheRows";
  RATTN_RETURN_IF_ERROR(CheckSet(kKernel, "writes", p.writes));
  RATTN_RETURN_IF_ERROR(CheckSet(kKernel, "layer_keys", p.layer_keys));
  RATTN_RETURN_IF_ERROR(CheckSet(kKernel, "layer_values", p.layer_values));
  RATTN_RETURN_IF_ERROR(CheckSet(kKernel, "layer_local", p.layer_local));
  RATTN_RETURN_IF_ERROR(CheckSet(kKernel, "step_keys", p.step_keys));
  RATTN_RETURN_IF_ERROR(CheckSet(kKernel, "step_values", p.step_values));
  RATTN_RETURN_IF_ERROR(CheckPositive(kKernel, "num_writes", p.num_writes));
  RATTN_RETURN_IF_ERROR(CheckPositive(kKernel, "num_layers", p.num_layers));
  RATTN_RETURN_IF_ERROR(CheckPositive(kKernel, "kv_width", p.kv_width));
  if (p.num_layers > kMaxGridY) return InvalidParams(kKernel, "num_layers exceeds the grid");
  if (p.step_layer_stride < p.kv_width) {
    return InvalidParams(kKernel, "step_layer_stride is below kv_width");
  }
  WriteCacheRowsKernel<<<dim3(p.num_writes, p.num_layers), kRowThreads, 0, stream>>>(p);
  return LaunchStatus("WriteCacheRowsKernel");
}

}  // namespace rattn::kernels::cuda
