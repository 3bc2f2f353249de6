// The CUDA backend against the CPU backend, its reference: the logits of whole prompts, and
// greedy generation of several sequences batched step by step (chunked prefill mixed with
// decode, paged window and global caches, linear-attention states), each backend following
// its own tokens. Without a GPU only the checks that come before the device are run.
#include "engine/cuda/cuda_backend.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "engine/model/checkpoint.h"
#include "tests/kernels/cuda/cuda_test_util.h"
#include "tests/test_util.h"

namespace rattn::cuda {
namespace {

// bf16 weights and caches against fp32 on the CPU: logits agree to about 1e-2 of their scale
// on these small random models (errors of 2^-9 per rounding, over a few layers).
constexpr double kLogitBound = 3e-2;
constexpr int kGreedyTokens = 32;

struct Shape {
  std::string layers;
  int window, heads, kv_heads, head_dim;
};

std::string Name(const ::testing::TestParamInfo<Shape>& info) {
  const Shape& s = info.param;
  return s.layers + "_w" + std::to_string(s.window) + "_h" + std::to_string(s.heads) + "_" +
         std::to_string(s.kv_heads) + "_d" + std::to_string(s.head_dim);
}

void PrintTo(const Shape& s, std::ostream* os) { *os << s.layers << " w=" << s.window; }

class CudaBackendTest : public ::testing::TestWithParam<Shape> {
 protected:
  void SetUp() override {
    RATTN_REQUIRE_CUDA_DEVICE();
    const Shape& s = GetParam();
    config_ = testing::SmallConfig(s.layers, s.window, s.heads, s.kv_heads, s.head_dim);
    config_.hidden_size = 128;
    config_.intermediate_size = 208;
    cpu_ = testing::MakeCpuBackend(config_, dir_.path(), {.seed = 11});
    ASSERT_NE(cpu_, nullptr);
    auto checkpoint = model::Checkpoint::Open(dir_.path());
    ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
    CudaBackendOptions options;
    options.max_step_rows = 512;
    auto gpu = CudaBackend::Create(**checkpoint, options);
    ASSERT_TRUE(gpu.ok()) << gpu.status();
    gpu_ = std::move(*gpu);
  }

  testing::ScratchDir dir_{"checkpoint"};
  model::ModelConfig config_;
  std::unique_ptr<cpu::CpuBackend> cpu_;
  std::unique_ptr<CudaBackend> gpu_;
};

TEST_P(CudaBackendTest, PromptLogitsMatchTheCpuBackend) {
  // Longer than the window and than one prefill tile, and not a multiple of either.
  const std::vector<int32_t> tokens = testing::RandomTokens(203, config_.vocab_size, 3);
  const std::vector<float> want = testing::WholeSequenceLogits(*cpu_, tokens);
  const std::vector<float> got = testing::WholeSequenceLogits(*gpu_, tokens);
  ASSERT_EQ(got.size(), want.size());
  const int vocab = config_.vocab_size;
  for (size_t row = 0; row < tokens.size(); ++row) {
    ASSERT_LT(testing::RowRelativeError(got.data() + row * vocab, want.data() + row * vocab, vocab),
              kLogitBound)
        << "position " << row;
  }
}

// One backend's side of the greedy run: its caches, and per sequence its tokens so far.
struct BackendRun {
  std::unique_ptr<engine::CacheManager> manager;
  std::vector<std::unique_ptr<engine::PagedSequenceCache>> caches;
  std::vector<std::vector<int32_t>> tokens;
  std::vector<size_t> fed;  // tokens already through the model
};

int32_t Argmax(const float* row, int vocab) {
  return static_cast<int32_t>(std::max_element(row, row + vocab) - row);
}

// The gap between the best and second best logit of a row.
double TopGap(const float* row, int vocab) {
  std::vector<float> sorted(row, row + vocab);
  std::partial_sort(sorted.begin(), sorted.begin() + 2, sorted.end(), std::greater<float>());
  return sorted[0] - sorted[1];
}

TEST_P(CudaBackendTest, BatchedGreedyTokensMatchTheCpuBackend) {
  const std::vector<int> prompt_lengths = {3, 40, 77, 130, 9};
  constexpr int kChunk = 50;  // prefill chunk: longer prompts take several steps
  const int vocab = config_.vocab_size;
  const int64_t max_length = 130 + kGreedyTokens + 1;
  std::vector<engine::Backend*> backends = {cpu_.get(), gpu_.get()};
  std::vector<BackendRun> runs(2);
  for (int b = 0; b < 2; ++b) {
    runs[b].manager = testing::MakeCacheManagerFor(
        *backends[b], 4, static_cast<int>(prompt_lengths.size()), max_length);
    ASSERT_NE(runs[b].manager, nullptr);
    for (size_t s = 0; s < prompt_lengths.size(); ++s) {
      runs[b].caches.push_back(testing::NewSequence(*runs[b].manager, max_length));
      runs[b].tokens.push_back(testing::RandomTokens(prompt_lengths[s], vocab, 100 + s));
      runs[b].fed.push_back(0);
    }
  }

  const size_t num = prompt_lengths.size();
  std::vector<bool> diverged(num, false);
  int steps = 0;
  for (;;) {
    bool all_done = true;
    for (size_t s = 0; s < num; ++s) {
      all_done = all_done && runs[0].tokens[s].size() >= prompt_lengths[s] + kGreedyTokens;
    }
    if (all_done) break;
    ASSERT_LT(++steps, 400);
    std::vector<std::vector<float>> logits(2);
    std::vector<std::vector<size_t>> stepped(2);
    for (int b = 0; b < 2; ++b) {
      BackendRun& run = runs[b];
      std::vector<engine::SequenceChunk> chunks;
      for (size_t s = 0; s < num; ++s) {
        if (run.tokens[s].size() >= prompt_lengths[s] + kGreedyTokens) continue;
        const size_t count = std::min<size_t>(kChunk, run.tokens[s].size() - run.fed[s]);
        ASSERT_TRUE(run.caches[s]->Reserve(static_cast<int64_t>(run.fed[s] + count)).ok());
        chunks.push_back({run.caches[s].get(),
                          std::span<const int32_t>(run.tokens[s].data() + run.fed[s], count),
                          engine::LogitsMode::kLast});
        stepped[b].push_back(s);
      }
      const absl::Status status = backends[b]->Forward(chunks, &logits[b]);
      ASSERT_TRUE(status.ok()) << backends[b]->name() << ": " << status;
      for (size_t i = 0; i < stepped[b].size(); ++i)
        run.fed[stepped[b][i]] += chunks[i].tokens.size();
    }
    ASSERT_EQ(stepped[0], stepped[1]);
    for (size_t i = 0; i < stepped[0].size(); ++i) {
      const size_t s = stepped[0][i];
      const float* want = logits[0].data() + i * vocab;
      const float* got = logits[1].data() + i * vocab;
      const bool prompt_done = runs[0].fed[s] >= static_cast<size_t>(prompt_lengths[s]);
      if (!prompt_done) continue;  // the chunk ended inside the prompt: no token yet
      const int32_t want_token = Argmax(want, vocab);
      const int32_t got_token = Argmax(got, vocab);
      if (!diverged[s]) {
        EXPECT_LT(testing::RowRelativeError(got, want, vocab), kLogitBound)
            << "sequence " << s << " after " << runs[0].fed[s] << " tokens";
        if (got_token != want_token) {
          // Only a near tie excuses a different choice: the logits agree within the bound.
          double scale = 0;
          for (int v = 0; v < vocab; ++v) scale = std::max(scale, std::fabs(double(want[v])));
          EXPECT_LT(TopGap(want, vocab), 2 * kLogitBound * scale)
              << "sequence " << s << " chose " << got_token << " instead of " << want_token
              << " after " << runs[0].tokens[s].size() - prompt_lengths[s] << " generated tokens";
          diverged[s] = true;
        }
      }
      runs[0].tokens[s].push_back(want_token);
      runs[1].tokens[s].push_back(diverged[s] ? got_token : want_token);
    }
  }
  int matched = 0;
  for (size_t s = 0; s < num; ++s) matched += diverged[s] ? 0 : 1;
  // Most sequences must not even meet a near tie in 32 tokens.
  EXPECT_GE(matched, static_cast<int>(num) - 1)
      << matched << " of " << num << " sequences matched all " << kGreedyTokens << " tokens";
  EXPECT_GT(gpu_->graph_replays(), 0) << "decode-only steps should have replayed CUDA graphs";
}

INSTANTIATE_TEST_SUITE_P(Models, CudaBackendTest,
                         ::testing::Values(Shape{"rfsr", 8, 4, 2, 32}, Shape{"rsrf", 32, 6, 2, 64},
                                           Shape{"rrff", 16, 8, 8, 128}),
                         Name);

// Checks made before any device is touched, so they run without a GPU.
TEST(CudaBackendCreate, RefusesWhatTheKernelsCannotRun) {
  testing::ScratchDir dir("checkpoint");
  model::ModelConfig config = testing::SmallConfig("rf", 8, 4, 2, 16);
  ASSERT_TRUE(model::WriteRandomCheckpoint(config, {}, dir.path()).ok());
  auto checkpoint = model::Checkpoint::Open(dir.path());
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  auto backend = CudaBackend::Create(**checkpoint, {});
  ASSERT_FALSE(backend.ok());
  EXPECT_EQ(backend.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(backend.status().message().find("head_dim 16"), std::string::npos) << backend.status();

  CudaBackendOptions options;
  options.max_step_rows = 0;
  EXPECT_EQ(options.Validate().code(), absl::StatusCode::kInvalidArgument);
  options.max_step_rows = 64;
  options.device = -1;
  EXPECT_EQ(options.Validate().code(), absl::StatusCode::kInvalidArgument);
}

TEST(CudaBackendCreate, DeviceAvailabilityAgreesWithTheRuntime) {
  EXPECT_EQ(CudaDeviceAvailable(), testing::NoCudaDeviceReason().empty());
}

}  // namespace
}  // namespace rattn::cuda
