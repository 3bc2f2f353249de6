// Turns one row of logits into a token, per request: penalties, temperature, top-k, top-p and
// min-p, with a seeded generator per sequence so that a request's output does not depend on
// what else is in the batch. Also reports log-probabilities.
#ifndef RATTN_ENGINE_SAMPLER_H_
#define RATTN_ENGINE_SAMPLER_H_

#include <cstdint>
#include <span>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"

namespace rattn::engine {

struct SamplingParams {
  float temperature = 1.0f;         // 0 picks the most likely token (greedy)
  int32_t top_k = 0;                // keep the k most likely tokens; 0 keeps all
  float top_p = 1.0f;               // keep the smallest set with this much probability
  float min_p = 0.0f;               // drop tokens below min_p times the top probability
  float repetition_penalty = 1.0f;  // > 1 discourages tokens seen in the prompt or output
  float presence_penalty = 0.0f;    // subtracted once from tokens in the output
  float frequency_penalty = 0.0f;   // subtracted per occurrence in the output
  uint64_t seed = 0;                // the generator's seed; with n > 1 sample i uses seed + i

  // Checks every field's range (finite, within bounds). `vocab_size` bounds top_k.
  absl::Status Validate(int vocab_size) const;
};

// A token and its log-probability under the model (log-softmax of the raw logits, before any
// penalty or temperature), with the most likely alternatives when asked.
struct TokenLogprob {
  int32_t token = 0;
  float logprob = 0.0f;
  std::vector<std::pair<int32_t, float>> top;  // (token, logprob), most likely first
};

// Log-probability of `token` and the `top_n` most likely tokens of one logits row.
TokenLogprob LogprobOf(std::span<const float> logits, int32_t token, int top_n);

// The sampling state of one sequence: its generator and the counts its penalties need. Copied
// when a sequence is forked or preempted, so that a recomputed sequence continues unchanged.
class SequenceSampler {
 public:
  SequenceSampler(const SamplingParams& params, std::span<const int32_t> prompt);

  // Picks the next token from `logits` (vocab_size floats, not modified). `scratch` is
  // reusable workspace.
  int32_t Sample(std::span<const float> logits, std::vector<float>& scratch);

  // The token Sample() picks when its generator draws `uniform` (in [0, 1)); greedy sampling
  // ignores it. For backends that sample elsewhere and for tests of them.
  int32_t SampleWithUniform(std::span<const float> logits, double uniform,
                            std::vector<float>& scratch) const;

  // The tokens penalties apply to: those of the prompt (for repetition_penalty, sorted) and
  // those of the output with their counts.
  std::span<const int32_t> prompt_tokens() const { return prompt_tokens_; }
  const absl::flat_hash_map<int32_t, int32_t>& output_counts() const { return output_counts_; }

  // Records a token of the output (for the penalties).
  void Accept(int32_t token);

  const SamplingParams& params() const { return params_; }

 private:
  double NextUniform();

  SamplingParams params_;
  uint64_t state_;                                       // splitmix64 generator state
  absl::flat_hash_map<int32_t, int32_t> output_counts_;  // token -> occurrences in the output
  std::vector<int32_t> prompt_tokens_;                   // sorted, unique: for repetition_penalty
};

}  // namespace rattn::engine

#endif  // RATTN_ENGINE_SAMPLER_H_
