// A batched step over sequences of different lengths gives each the logits it gets alone, for
// decode-only batches and for batches that mix a prefill chunk with decode rows.
#include <vector>

#include "engine/cpu/cpu_backend.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace rattn {
namespace {

constexpr double kTolerance = 1e-5;

class BatchedDecodeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_ = testing::SmallConfig("rfsr", kWindow, 4, 2);
    backend_ = testing::MakeCpuBackend(config_, dir_.path(), {.seed = 3});
    ASSERT_NE(backend_, nullptr);
    caches_ = testing::MakeCacheManager(config_, 16, 32, 256);
  }

  // Prefills `tokens` into a fresh cache in one chunk.
  std::unique_ptr<engine::PagedSequenceCache> Prefill(const std::vector<int32_t>& tokens) {
    auto cache = testing::NewSequence(*caches_, 256);
    EXPECT_TRUE(cache->Reserve(tokens.size()).ok());
    engine::SequenceChunk chunk{cache.get(), tokens, engine::LogitsMode::kNone};
    std::vector<float> logits;
    EXPECT_TRUE(backend_->Forward({&chunk, 1}, &logits).ok());
    EXPECT_TRUE(logits.empty());
    return cache;
  }

  static constexpr int kWindow = 6;
  testing::ScratchDir dir_{"checkpoint"};
  model::ModelConfig config_;
  std::unique_ptr<cpu::CpuBackend> backend_;
  std::unique_ptr<engine::CacheManager> caches_;
};

TEST_F(BatchedDecodeTest, DecodeBatchMatchesEachSequenceAlone) {
  const std::vector<int> lengths = {1, 3, kWindow, kWindow + 1, kWindow + 2, 2 * kWindow + 5, 40};
  const int steps = 9;
  const int vocab = config_.vocab_size;
  const int n = static_cast<int>(lengths.size());

  std::vector<std::vector<int32_t>> sequences;
  for (int i = 0; i < n; ++i) {
    sequences.push_back(testing::RandomTokens(lengths[i] + steps, vocab, 500 + i));
  }
  std::vector<std::unique_ptr<engine::PagedSequenceCache>> batched;
  std::vector<std::unique_ptr<engine::PagedSequenceCache>> alone;
  for (int i = 0; i < n; ++i) {
    std::vector<int32_t> prompt(sequences[i].begin(), sequences[i].begin() + lengths[i]);
    batched.push_back(Prefill(prompt));
    alone.push_back(Prefill(prompt));
  }

  for (int step = 0; step < steps; ++step) {
    std::vector<engine::SequenceChunk> chunks;
    for (int i = 0; i < n; ++i) {
      ASSERT_TRUE(batched[i]->Reserve(lengths[i] + step + 1).ok());
      chunks.push_back({batched[i].get(), std::span(&sequences[i][lengths[i] + step], 1),
                        engine::LogitsMode::kLast});
    }
    std::vector<float> batch_logits;
    ASSERT_TRUE(backend_->Forward(chunks, &batch_logits).ok());
    ASSERT_EQ(batch_logits.size(), static_cast<size_t>(n) * vocab);

    for (int i = 0; i < n; ++i) {
      ASSERT_TRUE(alone[i]->Reserve(lengths[i] + step + 1).ok());
      engine::SequenceChunk chunk{alone[i].get(), std::span(&sequences[i][lengths[i] + step], 1),
                                  engine::LogitsMode::kLast};
      std::vector<float> logits;
      ASSERT_TRUE(backend_->Forward({&chunk, 1}, &logits).ok());
      EXPECT_LE(testing::RowRelativeError(batch_logits.data() + i * vocab, logits.data(), vocab),
                kTolerance)
          << "sequence " << i << " (prompt " << lengths[i] << "), step " << step;
    }
  }
}

TEST_F(BatchedDecodeTest, PrefillChunkMixedWithDecodeRows) {
  const int vocab = config_.vocab_size;
  std::vector<int32_t> a = testing::RandomTokens(30, vocab, 1);
  std::vector<int32_t> b = testing::RandomTokens(25, vocab, 2);
  std::vector<float> whole_a = testing::WholeSequenceLogits(*backend_, a);
  std::vector<float> whole_b = testing::WholeSequenceLogits(*backend_, b);

  // a: prefilled to 20, then decodes; b: prefilled to 4, then chunks of 7 alongside a's decode.
  auto cache_a = Prefill({a.begin(), a.begin() + 20});
  auto cache_b = Prefill({b.begin(), b.begin() + 4});
  for (int step = 0; step < 3; ++step) {
    const int pos_a = 20 + step;
    const int pos_b = 4 + 7 * step;
    ASSERT_TRUE(cache_a->Reserve(pos_a + 1).ok());
    ASSERT_TRUE(cache_b->Reserve(pos_b + 7).ok());
    engine::SequenceChunk chunks[] = {
        {cache_b.get(), std::span(b.data() + pos_b, 7), engine::LogitsMode::kAll},
        {cache_a.get(), std::span(a.data() + pos_a, 1), engine::LogitsMode::kLast}};
    std::vector<float> logits;
    ASSERT_TRUE(backend_->Forward(chunks, &logits).ok());
    ASSERT_EQ(logits.size(), 8u * vocab);
    for (int i = 0; i < 7; ++i) {
      EXPECT_LE(testing::RowRelativeError(logits.data() + i * vocab,
                                          whole_b.data() + (pos_b + i) * vocab, vocab),
                kTolerance);
    }
    EXPECT_LE(
        testing::RowRelativeError(logits.data() + 7 * vocab, whole_a.data() + pos_a * vocab, vocab),
        kTolerance);
  }
}

TEST_F(BatchedDecodeTest, RefusesBadChunks) {
  auto sequence = testing::NewSequence(*caches_, 256);
  engine::PagedSequenceCache& cache = *sequence;
  std::vector<int32_t> tokens = {1, 2, 3};
  std::vector<float> logits;

  engine::SequenceChunk unreserved{&cache, tokens, engine::LogitsMode::kLast};
  EXPECT_EQ(backend_->Forward({&unreserved, 1}, &logits).code(),
            absl::StatusCode::kFailedPrecondition);

  ASSERT_TRUE(cache.Reserve(3).ok());
  std::vector<int32_t> outside = {1, config_.vocab_size, 3};
  engine::SequenceChunk bad_token{&cache, outside, engine::LogitsMode::kLast};
  absl::Status status = backend_->Forward({&bad_token, 1}, &logits);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("outside the vocabulary"), absl::string_view::npos) << status;

  engine::SequenceChunk twice[] = {{&cache, std::span(tokens.data(), 1)},
                                   {&cache, std::span(tokens.data() + 1, 1)}};
  EXPECT_EQ(backend_->Forward(twice, &logits).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(cache.length(), 0) << "a refused step must not touch the cache";

  const int64_t too_long = config_.max_position_embeddings + 1;
  auto long_caches = testing::MakeCacheManager(config_, 16, 1, too_long);
  auto long_cache = testing::NewSequence(*long_caches, too_long);
  std::vector<int32_t> tokens_too_long(too_long, 5);
  ASSERT_TRUE(long_cache->Reserve(too_long).ok());
  engine::SequenceChunk beyond{long_cache.get(), tokens_too_long, engine::LogitsMode::kLast};
  status = backend_->Forward({&beyond, 1}, &logits);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("max_position_embeddings"), absl::string_view::npos) << status;
}

}  // namespace
}  // namespace rattn

namespace rattn {
namespace {

// Keeping a bf16 checkpoint's matrices in 16 bits computes what converting them at load does.
TEST(WeightPrecisionTest, SixteenBitStorageMatchesFloat32) {
  model::ModelConfig config = testing::SmallConfig("rfsr", 5);
  testing::ScratchDir dir("checkpoint");
  ASSERT_TRUE(
      model::WriteRandomCheckpoint(config, {.seed = 2, .dtype = model::DType::kBF16}, dir.path())
          .ok());
  auto checkpoint = model::Checkpoint::Open(dir.path());
  ASSERT_TRUE(checkpoint.ok());
  auto as_stored = cpu::CpuBackend::Create(**checkpoint, {});
  auto as_float =
      cpu::CpuBackend::Create(**checkpoint, {.weight_precision = cpu::WeightPrecision::kFloat32});
  ASSERT_TRUE(as_stored.ok() && as_float.ok());
  EXPECT_LT((*as_stored)->streamed_weight_bytes() * 3, (*as_float)->streamed_weight_bytes() * 2)
      << "16-bit storage streams about half the bytes";
  std::vector<int32_t> tokens = testing::RandomTokens(30, config.vocab_size, 4);
  std::vector<float> a = testing::WholeSequenceLogits(**as_stored, tokens);
  std::vector<float> b = testing::WholeSequenceLogits(**as_float, tokens);
  ASSERT_EQ(a.size(), b.size());
  for (size_t t = 0; t < tokens.size(); ++t) {
    EXPECT_LE(testing::RowRelativeError(a.data() + t * config.vocab_size,
                                        b.data() + t * config.vocab_size, config.vocab_size),
              1e-5);
  }
}

}  // namespace
}  // namespace rattn
