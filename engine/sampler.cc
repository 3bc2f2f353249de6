// Per-sequence sampling; see sampler.h.
#include "engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "absl/strings/str_cat.h"

namespace rattn::engine {
namespace {

constexpr float kMaxPenalty = 100.0f;
constexpr float kMaxTemperature = 100.0f;

absl::Status FieldError(absl::string_view field, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(field, " ", problem));
}

absl::Status CheckRange(absl::string_view field, float value, float lo, float hi) {
  if (!std::isfinite(value) || value < lo || value > hi) {
    return FieldError(field,
                      absl::StrCat("must be a finite number in [", lo, ", ", hi, "], got ", value));
  }
  return absl::OkStatus();
}

// log(sum(exp(x))) of a row, stable.
double LogSumExp(std::span<const float> logits) {
  const float max = *std::max_element(logits.begin(), logits.end());
  double sum = 0.0;
  for (float x : logits) sum += std::exp(static_cast<double>(x) - max);
  return max + std::log(sum);
}

}  // namespace

absl::Status SamplingParams::Validate(int vocab_size) const {
  if (absl::Status s = CheckRange("temperature", temperature, 0.0f, kMaxTemperature); !s.ok()) {
    return s;
  }
  if (top_k < 0 || top_k > vocab_size) {
    return FieldError("top_k",
                      absl::StrCat("must be in [0, ", vocab_size, "] (0 keeps all), got ", top_k));
  }
  if (!std::isfinite(top_p) || top_p <= 0.0f || top_p > 1.0f) {
    return FieldError("top_p", absl::StrCat("must be in (0, 1], got ", top_p));
  }
  if (absl::Status s = CheckRange("min_p", min_p, 0.0f, 1.0f); !s.ok()) return s;
  if (!std::isfinite(repetition_penalty) || repetition_penalty <= 0.0f ||
      repetition_penalty > kMaxPenalty) {
    return FieldError("repetition_penalty",
                      absl::StrCat("must be in (0, ", kMaxPenalty, "], got ", repetition_penalty));
  }
  if (absl::Status s = CheckRange("presence_penalty", presence_penalty, -kMaxPenalty, kMaxPenalty);
      !s.ok()) {
    return s;
  }
  return CheckRange("frequency_penalty", frequency_penalty, -kMaxPenalty, kMaxPenalty);
}

TokenLogprob LogprobOf(std::span<const float> logits, int32_t token, int top_n) {
  const double normalizer = LogSumExp(logits);
  TokenLogprob result;
  result.token = token;
  result.logprob = static_cast<float>(logits[token] - normalizer);
  if (top_n > 0) {
    std::vector<int32_t> order(logits.size());
    std::iota(order.begin(), order.end(), 0);
    const int n = std::min<int>(top_n, static_cast<int>(logits.size()));
    std::partial_sort(order.begin(), order.begin() + n, order.end(), [&](int32_t a, int32_t b) {
      return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
    });
    for (int i = 0; i < n; ++i) {
      result.top.emplace_back(order[i], static_cast<float>(logits[order[i]] - normalizer));
    }
  }
  return result;
}

SequenceSampler::SequenceSampler(const SamplingParams& params, std::span<const int32_t> prompt)
    : params_(params), state_(params.seed) {
  if (params_.repetition_penalty != 1.0f) {
    prompt_tokens_.assign(prompt.begin(), prompt.end());
    std::sort(prompt_tokens_.begin(), prompt_tokens_.end());
    prompt_tokens_.erase(std::unique(prompt_tokens_.begin(), prompt_tokens_.end()),
                         prompt_tokens_.end());
  }
}

void SequenceSampler::Accept(int32_t token) { ++output_counts_[token]; }

double SequenceSampler::NextUniform() {
  uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) * 0x1p-53;  // [0, 1)
}

int32_t SequenceSampler::Sample(std::span<const float> logits, std::vector<float>& scratch) {
  const double uniform = params_.temperature == 0.0f ? 0.0 : NextUniform();
  return SampleWithUniform(logits, uniform, scratch);
}

int32_t SequenceSampler::SampleWithUniform(std::span<const float> logits, double uniform,
                                           std::vector<float>& scratch) const {
  const int vocab = static_cast<int>(logits.size());
  scratch.assign(logits.begin(), logits.end());
  std::span<float> x(scratch);

  // Penalties, on the raw logits.
  if (params_.repetition_penalty != 1.0f) {
    auto penalize = [&](int32_t token) {
      x[token] = x[token] > 0 ? x[token] / params_.repetition_penalty
                              : x[token] * params_.repetition_penalty;
    };
    for (int32_t token : prompt_tokens_) penalize(token);
    for (const auto& [token, count] : output_counts_) {
      if (!std::binary_search(prompt_tokens_.begin(), prompt_tokens_.end(), token)) {
        penalize(token);
      }
    }
  }
  if (params_.presence_penalty != 0.0f || params_.frequency_penalty != 0.0f) {
    for (const auto& [token, count] : output_counts_) {
      x[token] -= params_.presence_penalty + params_.frequency_penalty * count;
    }
  }

  if (params_.temperature == 0.0f) {
    return static_cast<int32_t>(std::max_element(x.begin(), x.end()) - x.begin());
  }

  // Probabilities at the temperature, then the filters, then one draw.
  const float inverse_t = 1.0f / params_.temperature;
  const float max = *std::max_element(x.begin(), x.end());
  std::vector<int32_t> order(vocab);
  std::iota(order.begin(), order.end(), 0);
  for (int i = 0; i < vocab; ++i) x[i] = std::exp((x[i] - max) * inverse_t);
  // Candidates by probability, highest first (ties by token id, so the order is deterministic).
  const int keep_k = params_.top_k > 0 ? params_.top_k : vocab;
  auto by_probability = [&](int32_t a, int32_t b) {
    return x[a] > x[b] || (x[a] == x[b] && a < b);
  };
  if (keep_k < vocab) {
    std::partial_sort(order.begin(), order.begin() + keep_k, order.end(), by_probability);
    order.resize(keep_k);
  } else if (params_.top_p < 1.0f) {
    std::sort(order.begin(), order.end(), by_probability);
  }
  double kept = 0.0;
  for (int32_t token : order) kept += x[token];
  if (params_.top_p < 1.0f) {
    // The smallest prefix whose mass reaches top_p of what top_k kept.
    double mass = 0.0;
    size_t size = 0;
    while (size < order.size() && mass < params_.top_p * kept) mass += x[order[size++]];
    order.resize(std::max<size_t>(size, 1));
    kept = mass;
  }
  if (params_.min_p > 0.0f) {
    float best = 0.0f;
    for (int32_t token : order) best = std::max(best, x[token]);
    const float threshold = params_.min_p * best;
    std::erase_if(order, [&](int32_t token) { return x[token] < threshold; });
    kept = 0.0;
    for (int32_t token : order) kept += x[token];
  }
  double target = uniform * kept;
  for (int32_t token : order) {
    target -= x[token];
    if (target < 0.0) return token;
  }
  return order.back();  // rounding left a sliver of mass
}

}  // namespace rattn::engine
