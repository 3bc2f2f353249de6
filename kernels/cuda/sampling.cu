// GPU sampling; see sampling.h. One CTA per row.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "engine/util/status_macros.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/sampling.h"

namespace rattn::kernels::cuda {
namespace {

constexpr int kThreads = 512;
constexpr int kWarps = kThreads / 32;

// Reduction of one value per thread over the CTA with `op`, returned to every thread. Every
// thread must call it (it synchronizes).
template <typename T, typename Op>
__device__ T BlockReduce(T value, Op op, T* slots) {
  const int lane = threadIdx.x % 32;
  const int warp = threadIdx.x / 32;
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) {
    value = op(value, __shfl_xor_sync(0xffffffffu, value, offset));
  }
  if (lane == 0) slots[warp] = value;
  __syncthreads();
  T total = slots[0];
#pragma unroll
  for (int w = 1; w < kWarps; ++w) total = op(total, slots[w]);
  __syncthreads();  // slots are free for the next call
  return total;
}

struct Sum {
  template <typename T>
  __device__ T operator()(T a, T b) const {
    return a + b;
  }
};
struct Max {
  template <typename T>
  __device__ T operator()(T a, T b) const {
    return a > b ? a : b;
  }
};

// Keys order tokens as the CPU sampler does: larger value first, then lower id.
__device__ __forceinline__ uint64_t KeyOf(uint32_t ordered_value, int32_t id) {
  return (static_cast<uint64_t>(ordered_value) << 32) | (0xffffffffu - static_cast<uint32_t>(id));
}
__device__ __forceinline__ int32_t IdOf(uint64_t key) {
  return static_cast<int32_t>(0xffffffffu - static_cast<uint32_t>(key & 0xffffffffu));
}
// The bits of a float as an unsigned number ordered as the floats are.
__device__ __forceinline__ uint32_t OrderedBits(float x) {
  const uint32_t bits = __float_as_uint(x);
  return (bits & 0x80000000u) != 0 ? ~bits : bits | 0x80000000u;
}

struct Shared {
  double sums[kWarps];
  float floats[kWarps];
  int ints[kWarps];
  unsigned long long keys[kWarps];
};

// The largest 64-bit c for which predicate(c) holds, for a predicate that holds at 0 and, once
// false, stays false for every larger c.
template <typename Predicate>
__device__ uint64_t LargestKey(Predicate predicate) {
  uint64_t found = 0;
  for (int bit = 63; bit >= 0; --bit) {
    const uint64_t candidate = found | (uint64_t{1} << bit);
    if (predicate(candidate)) found = candidate;
  }
  return found;
}

__global__ void __launch_bounds__(kThreads) SampleRowsKernel(SampleParams p) {
  __shared__ Shared shared;
  const SampleRow row = p.rows[blockIdx.x];
  const int vocab = p.vocab;
  const float* x = p.logits + static_cast<int64_t>(row.logits_row) * vocab;
  float* w = p.workspace + static_cast<int64_t>(blockIdx.x) * vocab;

  // log-softmax normalizer of the raw logits.
  float raw_max = -INFINITY;
  for (int i = threadIdx.x; i < vocab; i += kThreads) raw_max = fmaxf(raw_max, x[i]);
  raw_max = BlockReduce(raw_max, Max(), shared.floats);
  double raw_sum = 0.0;
  for (int i = threadIdx.x; i < vocab; i += kThreads) raw_sum += exp(double(x[i]) - raw_max);
  raw_sum = BlockReduce(raw_sum, Sum(), shared.sums);
  const double normalizer = raw_max + log(raw_sum);

  // Penalties on a copy of the raw logits.
  for (int i = threadIdx.x; i < vocab; i += kThreads) w[i] = x[i];
  __syncthreads();
  for (int e = threadIdx.x; e < row.penalty_count; e += kThreads) {
    const PenaltyToken t = p.penalties[row.penalty_first + e];
    float value = w[t.token];
    if (row.repetition_penalty != 1.0f) {
      value = value > 0 ? value / row.repetition_penalty : value * row.repetition_penalty;
    }
    if (t.output_count > 0) {
      value -= row.presence_penalty + row.frequency_penalty * static_cast<float>(t.output_count);
    }
    w[t.token] = value;
  }
  __syncthreads();

  int32_t token = 0;
  if (row.temperature == 0.0f) {
    uint64_t best = 0;
    for (int i = threadIdx.x; i < vocab; i += kThreads) {
      best = max(best, static_cast<uint64_t>(KeyOf(OrderedBits(w[i]), i)));
    }
    token = IdOf(BlockReduce<unsigned long long>(best, Max(), shared.keys));
  } else {
    float max_value = -INFINITY;
    for (int i = threadIdx.x; i < vocab; i += kThreads) max_value = fmaxf(max_value, w[i]);
    max_value = BlockReduce(max_value, Max(), shared.floats);
    const float inverse_t = 1.0f / row.temperature;
    for (int i = threadIdx.x; i < vocab; i += kThreads) w[i] = expf((w[i] - max_value) * inverse_t);
    __syncthreads();
    // Probabilities are >= 0, so their bits order them.
    auto key = [&](int i) { return KeyOf(__float_as_uint(w[i]), i); };

    uint64_t cut = 0;  // candidates: key >= cut and w >= threshold
    float threshold = 0.0f;
    auto kept_mass = [&](auto&& also) {
      double mass = 0.0;
      for (int i = threadIdx.x; i < vocab; i += kThreads) {
        if (key(i) >= cut && w[i] >= threshold && also(i)) mass += w[i];
      }
      return BlockReduce(mass, Sum(), shared.sums);
    };
    auto all = [](int) { return true; };
    const bool by_probability = (row.top_k > 0 && row.top_k < vocab) || row.top_p < 1.0f;
    if (row.top_k > 0 && row.top_k < vocab) {
      cut = LargestKey([&](uint64_t c) {
        int count = 0;
        for (int i = threadIdx.x; i < vocab; i += kThreads) count += key(i) >= c ? 1 : 0;
        return BlockReduce(count, Sum(), shared.ints) >= row.top_k;
      });
    }
    if (row.top_p < 1.0f) {
      // The smallest prefix whose mass reaches top_p of what top-k kept ends at the largest
      // key whose candidates from it up hold that much.
      const double target = row.top_p * kept_mass(all);
      cut = LargestKey(
          [&](uint64_t c) { return kept_mass([&](int i) { return key(i) >= c; }) >= target; });
    }
    if (row.min_p > 0.0f) {
      float best = 0.0f;
      for (int i = threadIdx.x; i < vocab; i += kThreads) {
        if (key(i) >= cut) best = fmaxf(best, w[i]);
      }
      threshold = row.min_p * BlockReduce(best, Max(), shared.floats);
    }
    const double target = row.uniform * kept_mass(all);
    if (by_probability) {
      // The first candidate, by probability, past which the mass exceeds the target.
      token = IdOf(LargestKey(
          [&](uint64_t c) { return kept_mass([&](int i) { return key(i) >= c; }) > target; }));
    } else {
      // The first candidate, by id, whose mass with those before it exceeds the target.
      token = static_cast<int32_t>(LargestKey([&](uint64_t c) {
        if (c >= static_cast<uint64_t>(vocab)) return false;
        return kept_mass([&](int i) { return static_cast<uint64_t>(i) < c; }) <= target;
      }));
    }
    if (!(key(token) >= cut && w[token] >= threshold)) {
      // Rounding left a sliver of mass: the CPU takes the last candidate of its walk.
      uint64_t last = ~uint64_t{0};
      int32_t last_id = -1;
      for (int i = threadIdx.x; i < vocab; i += kThreads) {
        if (key(i) >= cut && w[i] >= threshold) {
          last = min(last, key(i));
          last_id = max(last_id, i);
        }
      }
      if (by_probability) {
        token = IdOf(~BlockReduce<unsigned long long>(~last, Max(), shared.keys));
      } else {
        token = BlockReduce(last_id, Max(), shared.ints);
      }
    }
  }

  if (threadIdx.x == 0) {
    p.results[blockIdx.x].token = token;
    p.results[blockIdx.x].logprob = static_cast<float>(x[token] - normalizer);
  }
  // The most likely raw logits, one CTA-wide max each.
  uint64_t below = ~uint64_t{0};
  for (int n = 0; n < p.top_logprobs; ++n) {
    uint64_t best = 0;
    for (int i = threadIdx.x; i < vocab; i += kThreads) {
      const uint64_t k = KeyOf(OrderedBits(x[i]), i);
      if (k < below) best = max(best, k);
    }
    below = BlockReduce<unsigned long long>(best, Max(), shared.keys);
    if (threadIdx.x == 0) {
      const int32_t id = IdOf(below);
      p.top_tokens[static_cast<int64_t>(blockIdx.x) * p.top_logprobs + n] = id;
      p.top_values[static_cast<int64_t>(blockIdx.x) * p.top_logprobs + n] =
          static_cast<float>(x[id] - normalizer);
    }
  }
}

}  // namespace

absl::Status SampleRows(const SampleParams& p, cudaStream_t stream) {
  constexpr absl::string_view kKernel = "SampleRows";
  RATTN_RETURN_IF_ERROR(CheckSet(kKernel, "logits", p.logits));
  RATTN_RETURN_IF_ERROR(CheckSet(kKernel, "rows", p.rows));
  RATTN_RETURN_IF_ERROR(CheckSet(kKernel, "workspace", p.workspace));
  RATTN_RETURN_IF_ERROR(CheckSet(kKernel, "results", p.results));
  RATTN_RETURN_IF_ERROR(CheckPositive(kKernel, "vocab", p.vocab));
  RATTN_RETURN_IF_ERROR(CheckPositive(kKernel, "num_rows", p.num_rows));
  if (p.top_logprobs < 0 || p.top_logprobs > kMaxTopLogprobs || p.top_logprobs > p.vocab) {
    return InvalidParams(kKernel, absl::StrCat("top_logprobs ", p.top_logprobs, " is not in [0, ",
                                               kMaxTopLogprobs, "] and at most vocab"));
  }
  if (p.top_logprobs > 0) {
    RATTN_RETURN_IF_ERROR(CheckSet(kKernel, "top_tokens", p.top_tokens));
    RATTN_RETURN_IF_ERROR(CheckSet(kKernel, "top_values", p.top_values));
  }
  SampleRowsKernel<<<p.num_rows, kThreads, 0, stream>>>(p);
  return LaunchStatus("SampleRowsKernel");
}

}  // namespace rattn::kernels::cuda
