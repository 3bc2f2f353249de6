// Prefill in chunks of every size from 1 to 2w + 3, then decode steps, must give the logits of
// one whole-sequence pass: the window caches, the folds into the rla state and the global KV
// carry exactly what a single pass computes.
#include <algorithm>
#include <string>
#include <vector>

#include "engine/cpu/cpu_backend.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace rattn {
namespace {

constexpr double kTolerance = 1e-5;

struct ChunkCase {
  std::string name;
  std::string layers;
  int window;
  int heads;
  int kv_heads;
  model::FeatureMap feature_map;
  int block_size;
};

void PrintTo(const ChunkCase& c, std::ostream* out) { *out << c.name; }

class ChunkedPrefillTest : public ::testing::TestWithParam<ChunkCase> {};

TEST_P(ChunkedPrefillTest, EveryChunkSizeMatchesWholeSequence) {
  const ChunkCase& c = GetParam();
  model::ModelConfig config = testing::SmallConfig(c.layers, c.window, c.heads, c.kv_heads);
  config.rla_feature_map = c.feature_map;
  testing::ScratchDir dir("checkpoint");
  auto backend = testing::MakeCpuBackend(config, dir.path(), {.seed = 7});
  ASSERT_NE(backend, nullptr);

  const int w = c.window;
  const int total = 3 * w + 5;
  const int prefill = 2 * w + 4;  // the rest is decoded one token at a time
  const int vocab = config.vocab_size;
  std::vector<int32_t> tokens = testing::RandomTokens(total, vocab, 99);
  std::vector<float> whole = testing::WholeSequenceLogits(*backend, tokens);
  ASSERT_EQ(whole.size(), static_cast<size_t>(total) * vocab);

  auto manager = testing::MakeCacheManager(config, c.block_size, 1, total);
  for (int chunk_size = 1; chunk_size <= 2 * w + 3; ++chunk_size) {
    SCOPED_TRACE(::testing::Message() << "chunk size " << chunk_size);
    auto sequence = testing::NewSequence(*manager, total);
    engine::PagedSequenceCache& cache = *sequence;
    std::vector<float> logits;
    int position = 0;
    while (position < total) {
      int size = position < prefill ? std::min(chunk_size, prefill - position) : 1;
      ASSERT_TRUE(cache.Reserve(position + size).ok());
      engine::SequenceChunk chunk{&cache, std::span(tokens.data() + position, size),
                                  engine::LogitsMode::kAll};
      ASSERT_TRUE(backend->Forward({&chunk, 1}, &logits).ok());
      ASSERT_EQ(logits.size(), static_cast<size_t>(size) * vocab);
      for (int i = 0; i < size; ++i) {
        const int t = position + i;
        ASSERT_LE(
            testing::RowRelativeError(logits.data() + i * vocab, whole.data() + t * vocab, vocab),
            kTolerance)
            << "position " << t;
      }
      position += size;
      ASSERT_EQ(cache.length(), position);
      // However long the chunk, a sequence holds at most ceil((w + 1) / B) + 1 window blocks.
      ASSERT_LE(cache.window_blocks_held(), (w + c.block_size) / c.block_size + 1);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Layouts, ChunkedPrefillTest,
    ::testing::Values(
        ChunkCase{"mix_w7_gqa2_softmax", "rfsr", 7, 4, 2, model::FeatureMap::kSoftmax, 4},
        ChunkCase{"mix_w1_gqa4_relu", "rsf", 1, 4, 1, model::FeatureMap::kRelu, 2},
        ChunkCase{"rla_w64_gqa1_softmax", "rrf", 64, 2, 2, model::FeatureMap::kSoftmax, 16},
        ChunkCase{"rla_w16_gqa2_relu_block5", "rr", 16, 4, 2, model::FeatureMap::kRelu, 5}),
    [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace rattn
