// SampleRows (kernels/cuda/sampling.h) against the CPU sampler (engine/sampler.h): for the same
// logits, parameters, penalty state and uniform draw, the same token, the same log-probability
// and the same most likely alternatives.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "engine/sampler.h"
#include "kernels/cuda/sampling.h"
#include "tests/kernels/cuda/cuda_test_util.h"

namespace rattn::kernels::cuda {
namespace {

using engine::SamplingParams;
using engine::SequenceSampler;
using testing::DeviceBuffer;

// Sums over the vocabulary run in another order on the GPU than on the CPU, so a draw that
// falls within rounding of a boundary between two candidates may pick the neighbour: allow
// that for this share of draws.
constexpr double kMaxMismatchShare = 0.02;
// Log-probabilities: float logits minus a double normalizer on both sides.
constexpr float kLogprobTolerance = 1e-4f;

struct Case {
  std::string name;
  SamplingParams params;
};

std::vector<Case> Cases() {
  std::vector<Case> cases;
  auto add = [&](std::string name, auto edit) {
    SamplingParams p;
    edit(p);
    cases.push_back({std::move(name), p});
  };
  add("greedy", [](SamplingParams& p) { p.temperature = 0.0f; });
  add("temperature", [](SamplingParams& p) { p.temperature = 0.7f; });
  add("top_k", [](SamplingParams& p) { p.top_k = 40; });
  add("top_p", [](SamplingParams& p) { p.top_p = 0.9f; });
  add("min_p", [](SamplingParams& p) { p.min_p = 0.05f; });
  add("all_filters", [](SamplingParams& p) {
    p.temperature = 1.3f;
    p.top_k = 50;
    p.top_p = 0.8f;
    p.min_p = 0.02f;
  });
  add("penalties", [](SamplingParams& p) {
    p.repetition_penalty = 1.3f;
    p.presence_penalty = 0.5f;
    p.frequency_penalty = 0.2f;
    p.top_p = 0.95f;
  });
  add("greedy_penalties", [](SamplingParams& p) {
    p.temperature = 0.0f;
    p.repetition_penalty = 2.0f;
    p.frequency_penalty = 1.0f;
  });
  return cases;
}

class SampleRowsTest : public ::testing::TestWithParam<int> {};

TEST_P(SampleRowsTest, MatchesTheCpuSampler) {
  RATTN_REQUIRE_CUDA_DEVICE();
  const int vocab = GetParam();
  constexpr int kRowsPerCase = 48;
  constexpr int kTop = 5;
  std::mt19937_64 rng(vocab);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  std::uniform_int_distribution<int32_t> any_token(0, vocab - 1);

  const std::vector<Case> cases = Cases();
  std::vector<float> logits;
  std::vector<SampleRow> rows;
  std::vector<PenaltyToken> penalties;
  std::vector<int32_t> expected_tokens;
  std::vector<float> expected_logprobs;
  std::vector<std::vector<std::pair<int32_t, float>>> expected_top;
  std::vector<float> scratch;
  for (const Case& c : cases) {
    for (int r = 0; r < kRowsPerCase; ++r) {
      const int logits_row = static_cast<int>(rows.size());
      std::vector<float> row(vocab);
      for (float& x : row) x = normal(rng);
      // Ties, which both sides must break by token id.
      for (int t = 0; t < 8; ++t) row[any_token(rng)] = row[0];
      logits.insert(logits.end(), row.begin(), row.end());

      std::vector<int32_t> prompt(20);
      for (int32_t& t : prompt) t = any_token(rng);
      SequenceSampler sampler(c.params, prompt);
      for (int t = 0; t < 30; ++t) sampler.Accept(t % 3 == 0 ? prompt[t % 20] : any_token(rng));

      SampleRow sample;
      sample.logits_row = logits_row;
      sample.temperature = c.params.temperature;
      sample.top_k = c.params.top_k;
      sample.top_p = c.params.top_p;
      sample.min_p = c.params.min_p;
      sample.repetition_penalty = c.params.repetition_penalty;
      sample.presence_penalty = c.params.presence_penalty;
      sample.frequency_penalty = c.params.frequency_penalty;
      sample.uniform = uniform(rng);
      sample.penalty_first = static_cast<int32_t>(penalties.size());
      // The union of prompt and output tokens, each once.
      std::vector<int32_t> tokens(sampler.prompt_tokens().begin(), sampler.prompt_tokens().end());
      for (const auto& [token, count] : sampler.output_counts()) tokens.push_back(token);
      std::sort(tokens.begin(), tokens.end());
      tokens.erase(std::unique(tokens.begin(), tokens.end()), tokens.end());
      for (int32_t token : tokens) {
        PenaltyToken p;
        p.token = token;
        auto found = sampler.output_counts().find(token);
        p.output_count = found == sampler.output_counts().end() ? 0 : found->second;
        p.in_prompt = std::binary_search(sampler.prompt_tokens().begin(),
                                         sampler.prompt_tokens().end(), token);
        // Without a repetition penalty the CPU keeps no prompt set: only output tokens count.
        if (p.output_count > 0 || (p.in_prompt && c.params.repetition_penalty != 1.0f)) {
          penalties.push_back(p);
        }
      }
      sample.penalty_count = static_cast<int32_t>(penalties.size()) - sample.penalty_first;
      rows.push_back(sample);

      const int32_t token = sampler.SampleWithUniform(row, sample.uniform, scratch);
      const engine::TokenLogprob lp = engine::LogprobOf(row, token, kTop);
      expected_tokens.push_back(token);
      expected_logprobs.push_back(lp.logprob);
      expected_top.push_back(lp.top);
    }
  }

  const int num_rows = static_cast<int>(rows.size());
  DeviceBuffer<float> logits_device(logits);
  std::vector<uint8_t> row_bytes(sizeof(SampleRow) * rows.size());
  std::memcpy(row_bytes.data(), rows.data(), row_bytes.size());
  DeviceBuffer<uint8_t> rows_device(row_bytes);
  std::vector<uint8_t> penalty_bytes(sizeof(PenaltyToken) * std::max<size_t>(penalties.size(), 1));
  std::memcpy(penalty_bytes.data(), penalties.data(), sizeof(PenaltyToken) * penalties.size());
  DeviceBuffer<uint8_t> penalties_device(penalty_bytes);
  DeviceBuffer<float> workspace(static_cast<size_t>(num_rows) * vocab);
  DeviceBuffer<uint8_t> results(sizeof(SampleResult) * num_rows);
  DeviceBuffer<int32_t> top_tokens(static_cast<size_t>(num_rows) * kTop);
  DeviceBuffer<float> top_values(static_cast<size_t>(num_rows) * kTop);

  SampleParams params;
  params.logits = logits_device.get();
  params.vocab = vocab;
  params.rows = reinterpret_cast<const SampleRow*>(rows_device.get());
  params.num_rows = num_rows;
  params.penalties = reinterpret_cast<const PenaltyToken*>(penalties_device.get());
  params.workspace = workspace.get();
  params.results = reinterpret_cast<SampleResult*>(results.get());
  params.top_logprobs = kTop;
  params.top_tokens = top_tokens.get();
  params.top_values = top_values.get();
  ASSERT_TRUE(SampleRows(params, nullptr).ok());
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);

  const std::vector<uint8_t> result_bytes = results.Download();
  std::vector<SampleResult> got(num_rows);
  std::memcpy(got.data(), result_bytes.data(), result_bytes.size());
  const std::vector<int32_t> got_top = top_tokens.Download();
  const std::vector<float> got_top_values = top_values.Download();
  int mismatches = 0;
  for (int r = 0; r < num_rows; ++r) {
    const std::string where = cases[r / kRowsPerCase].name + " row " + std::to_string(r);
    const bool greedy = rows[r].temperature == 0.0f;
    if (got[r].token != expected_tokens[r]) {
      ++mismatches;
      EXPECT_FALSE(greedy) << where << ": greedy has no rounding to excuse a different token";
    } else {
      EXPECT_NEAR(got[r].logprob, expected_logprobs[r], kLogprobTolerance) << where;
    }
    for (int n = 0; n < kTop; ++n) {
      EXPECT_EQ(got_top[r * kTop + n], expected_top[r][n].first) << where << " top " << n;
      EXPECT_NEAR(got_top_values[r * kTop + n], expected_top[r][n].second, kLogprobTolerance)
          << where << " top " << n;
    }
  }
  EXPECT_LE(mismatches, kMaxMismatchShare * num_rows)
      << mismatches << " of " << num_rows << " draws differ from the CPU sampler's";
}

INSTANTIATE_TEST_SUITE_P(Vocabularies, SampleRowsTest, ::testing::Values(1000, 32003));

// Checks before any launch: these run without a GPU.
TEST(SampleRowsValidation, RefusesBadParameters) {
  float dummy_float = 0;
  SampleRow dummy_row;
  SampleResult dummy_result;
  SampleParams good;
  good.logits = &dummy_float;
  good.vocab = 10;
  good.rows = &dummy_row;
  good.num_rows = 1;
  good.workspace = &dummy_float;
  good.results = &dummy_result;

  struct Bad {
    std::string field;
    SampleParams params;
  };
  std::vector<Bad> bad;
  auto add = [&](std::string field, auto edit) {
    SampleParams p = good;
    edit(p);
    bad.push_back({std::move(field), p});
  };
  add("logits", [](SampleParams& p) { p.logits = nullptr; });
  add("rows", [](SampleParams& p) { p.rows = nullptr; });
  add("workspace", [](SampleParams& p) { p.workspace = nullptr; });
  add("results", [](SampleParams& p) { p.results = nullptr; });
  add("vocab", [](SampleParams& p) { p.vocab = 0; });
  add("num_rows", [](SampleParams& p) { p.num_rows = -1; });
  add("top_logprobs", [](SampleParams& p) { p.top_logprobs = kMaxTopLogprobs + 1; });
  add("top_logprobs", [](SampleParams& p) { p.top_logprobs = 11; });  // above vocab
  add("top_tokens", [](SampleParams& p) { p.top_logprobs = 2; });
  for (const Bad& b : bad) {
    const absl::Status status = SampleRows(b.params, nullptr);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << b.field;
    EXPECT_NE(status.message().find(b.field), std::string::npos) << status.message();
  }
}

}  // namespace
}  // namespace rattn::kernels::cuda
