// The sampler: parameter checks, greedy choice, seeded determinism, the distribution it draws
// from under each filter, penalties, and log-probabilities.
#include "engine/sampler.h"

#include <cmath>
#include <limits>
#include <map>
#include <vector>

#include "gtest/gtest.h"

namespace rattn::engine {
namespace {

// Draw frequencies of `draws` samples from `logits`.
std::vector<double> Frequencies(const SamplingParams& params, const std::vector<float>& logits,
                                int draws) {
  SequenceSampler sampler(params, {});
  std::vector<float> scratch;
  std::vector<double> counts(logits.size(), 0.0);
  for (int i = 0; i < draws; ++i) counts[sampler.Sample(logits, scratch)] += 1.0 / draws;
  return counts;
}

std::vector<float> LogitsOf(const std::vector<double>& probabilities) {
  std::vector<float> logits;
  for (double p : probabilities) logits.push_back(static_cast<float>(std::log(p)));
  return logits;
}

TEST(SamplingParamsTest, RefusesOutOfRangeValuesNamingTheField) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  struct Case {
    SamplingParams params;
    const char* field;
  };
  std::vector<Case> cases;
  auto add = [&](const char* field, auto edit) {
    SamplingParams p;
    edit(p);
    cases.push_back({p, field});
  };
  add("temperature", [&](auto& p) { p.temperature = nan; });
  add("temperature", [&](auto& p) { p.temperature = -0.5f; });
  add("temperature", [&](auto& p) { p.temperature = inf; });
  add("top_k", [&](auto& p) { p.top_k = -1; });
  add("top_k", [&](auto& p) { p.top_k = 101; });
  add("top_p", [&](auto& p) { p.top_p = 0.0f; });
  add("top_p", [&](auto& p) { p.top_p = 1.5f; });
  add("top_p", [&](auto& p) { p.top_p = nan; });
  add("min_p", [&](auto& p) { p.min_p = -0.1f; });
  add("min_p", [&](auto& p) { p.min_p = inf; });
  add("repetition_penalty", [&](auto& p) { p.repetition_penalty = 0.0f; });
  add("repetition_penalty", [&](auto& p) { p.repetition_penalty = nan; });
  add("presence_penalty", [&](auto& p) { p.presence_penalty = 1e9f; });
  add("frequency_penalty", [&](auto& p) { p.frequency_penalty = -inf; });
  for (const Case& c : cases) {
    absl::Status status = c.params.Validate(100);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.field;
    EXPECT_NE(status.message().find(c.field), absl::string_view::npos) << status;
  }
  EXPECT_TRUE(SamplingParams{}.Validate(100).ok());
}

TEST(SequenceSamplerTest, GreedyPicksTheLargestLogitAndTheLowestIdOnTies) {
  SamplingParams params;
  params.temperature = 0.0f;
  SequenceSampler sampler(params, {});
  std::vector<float> scratch;
  EXPECT_EQ(sampler.Sample(std::vector<float>{0.1f, 3.0f, -2.0f, 2.9f}, scratch), 1);
  EXPECT_EQ(sampler.Sample(std::vector<float>{1.0f, 5.0f, 5.0f}, scratch), 1);
}

TEST(SequenceSamplerTest, SameSeedSameDrawsOtherSeedOtherDraws) {
  std::vector<float> logits(50, 0.0f);
  auto draws = [&](uint64_t seed) {
    SamplingParams params;
    params.seed = seed;
    SequenceSampler sampler(params, {});
    std::vector<float> scratch;
    std::vector<int32_t> out;
    for (int i = 0; i < 64; ++i) out.push_back(sampler.Sample(logits, scratch));
    return out;
  };
  EXPECT_EQ(draws(7), draws(7));
  EXPECT_NE(draws(7), draws(8));
}

TEST(SequenceSamplerTest, DrawsFollowTheFilteredDistribution) {
  const std::vector<double> p = {0.4, 0.3, 0.15, 0.1, 0.05};
  const std::vector<float> logits = LogitsOf(p);
  const int draws = 40000;
  const double tolerance = 0.015;

  SamplingParams plain;
  plain.seed = 1;
  std::vector<double> f = Frequencies(plain, logits, draws);
  for (size_t i = 0; i < p.size(); ++i) EXPECT_NEAR(f[i], p[i], tolerance) << "token " << i;

  SamplingParams top_k = plain;
  top_k.top_k = 2;
  f = Frequencies(top_k, logits, draws);
  EXPECT_NEAR(f[0], 0.4 / 0.7, tolerance);
  EXPECT_NEAR(f[1], 0.3 / 0.7, tolerance);
  EXPECT_EQ(f[2] + f[3] + f[4], 0.0);

  SamplingParams top_p = plain;
  top_p.top_p = 0.8f;  // 0.4 + 0.3 + 0.15 = 0.85 is the smallest prefix reaching 0.8
  f = Frequencies(top_p, logits, draws);
  EXPECT_NEAR(f[2], 0.15 / 0.85, tolerance);
  EXPECT_EQ(f[3] + f[4], 0.0);

  SamplingParams min_p = plain;
  min_p.min_p = 0.3f;  // keeps p >= 0.12: tokens 0, 1, 2
  f = Frequencies(min_p, logits, draws);
  EXPECT_NEAR(f[0], 0.4 / 0.85, tolerance);
  EXPECT_EQ(f[3] + f[4], 0.0);

  SamplingParams cold = plain;
  cold.temperature = 0.5f;  // p^2, renormalized
  f = Frequencies(cold, logits, draws);
  double z = 0;
  for (double q : p) z += q * q;
  EXPECT_NEAR(f[0], 0.16 / z, tolerance);
  EXPECT_NEAR(f[4], 0.0025 / z, tolerance);
}

TEST(SequenceSamplerTest, PenaltiesMoveTheGreedyChoice) {
  std::vector<float> logits = {2.0f, 1.9f, 1.0f};
  std::vector<float> scratch;
  SamplingParams params;
  params.temperature = 0.0f;

  params.repetition_penalty = 1.5f;  // token 0 is in the prompt: 2.0 / 1.5 < 1.9
  EXPECT_EQ(SequenceSampler(params, std::vector<int32_t>{0}).Sample(logits, scratch), 1);
  EXPECT_EQ(SequenceSampler(params, std::vector<int32_t>{2}).Sample(logits, scratch), 0);

  params.repetition_penalty = 1.0f;
  params.presence_penalty = 0.2f;
  SequenceSampler presence(params, {});
  EXPECT_EQ(presence.Sample(logits, scratch), 0);
  presence.Accept(0);
  EXPECT_EQ(presence.Sample(logits, scratch), 1) << "2.0 - 0.2 < 1.9";

  params.presence_penalty = 0.0f;
  params.frequency_penalty = 0.06f;
  SequenceSampler frequency(params, {});
  frequency.Accept(0);
  EXPECT_EQ(frequency.Sample(logits, scratch), 0) << "one occurrence: 1.94 > 1.9";
  frequency.Accept(0);
  EXPECT_EQ(frequency.Sample(logits, scratch), 1) << "two: 1.88 < 1.9";
}

TEST(LogprobTest, NormalizedAndTopSorted) {
  std::vector<float> logits = {0.5f, 2.0f, -1.0f, 2.0f, 0.0f};
  TokenLogprob result = LogprobOf(logits, 2, 3);
  double z = 0;
  for (float x : logits) z += std::exp(x);
  EXPECT_NEAR(result.logprob, -1.0 - std::log(z), 1e-6);
  ASSERT_EQ(result.top.size(), 3u);
  EXPECT_EQ(result.top[0].first, 1);
  EXPECT_EQ(result.top[1].first, 3);
  EXPECT_EQ(result.top[2].first, 0);
  EXPECT_GE(result.top[0].second, result.top[2].second);
  EXPECT_TRUE(LogprobOf(logits, 0, 0).top.empty());
}

}  // namespace
}  // namespace rattn::engine
