// Sampling of the next token on the GPU, row by row, with the semantics of the CPU sampler
// (engine/sampler.h): penalties on the raw logits, then greedy (temperature 0) or probabilities
// at the temperature filtered by top-k, top-p and min-p and one inverse-CDF draw with a uniform
// number the host's per-sequence generator supplies, walking the candidates in the CPU's order
// (by probability, ties by token id, when top-k or top-p filtered; by token id otherwise). Also
// the chosen token's log-probability under the raw logits and the most likely alternatives.
//
// Nothing is sorted: the cut of each filter and the drawn token are found by a bitwise search
// over a 64-bit key (probability bits, then the token id inverted, so keys are unique and
// order candidates as the CPU does), each step one CTA-wide reduction over the vocabulary.
#ifndef RATTN_KERNELS_CUDA_SAMPLING_H_
#define RATTN_KERNELS_CUDA_SAMPLING_H_

#include <cuda_runtime_api.h>

#include <cstdint>

#include "absl/status/status.h"

namespace rattn::kernels::cuda {

// A token whose logit a penalty changes: in the prompt (repetition_penalty) and/or seen
// output_count times in the output (all three penalties).
struct PenaltyToken {
  int32_t token = 0;
  int32_t output_count = 0;
  int32_t in_prompt = 0;
};

// One row to sample, with its request's parameters (already validated by the engine).
struct SampleRow {
  int32_t logits_row = 0;  // its row of `logits`
  float temperature = 1.0f;
  int32_t top_k = 0;
  float top_p = 1.0f;
  float min_p = 0.0f;
  float repetition_penalty = 1.0f;
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  int32_t penalty_first = 0;  // its tokens are penalties[penalty_first, + penalty_count)
  int32_t penalty_count = 0;
  double uniform = 0.0;  // in [0, 1), the draw
};

struct SampleResult {
  int32_t token = 0;
  float logprob = 0.0f;  // of token under log-softmax of the raw logits
};

struct SampleParams {
  const float* logits = nullptr;  // (logit rows, vocab) fp32
  int32_t vocab = 0;
  const SampleRow* rows = nullptr;  // (num_rows)
  int32_t num_rows = 0;
  const PenaltyToken* penalties = nullptr;  // may be null when no row has any
  float* workspace = nullptr;               // (num_rows, vocab) fp32
  SampleResult* results = nullptr;          // (num_rows)
  // The top_logprobs most likely tokens of each row (raw logits, ties by id), most likely
  // first: (num_rows, top_logprobs) each; 0 for none.
  int32_t top_logprobs = 0;
  int32_t* top_tokens = nullptr;
  float* top_values = nullptr;
};

inline constexpr int kMaxTopLogprobs = 64;

absl::Status SampleRows(const SampleParams& params, cudaStream_t stream);

}  // namespace rattn::kernels::cuda

#endif  // RATTN_KERNELS_CUDA_SAMPLING_H_
