// The standalone cache: block tables per layer kind, window blocks released as positions leave
// the window, and the bound on window blocks a sequence holds.
#include "engine/standalone_sequence_cache.h"

#include <algorithm>

#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace rattn::engine {
namespace {

TEST(StandaloneSequenceCacheTest, WindowBlocksStayBoundedWhileGlobalBlocksGrow) {
  for (int window : {1, 7, 16, 31}) {
    for (int block_size : {1, 4, 16}) {
      SCOPED_TRACE(::testing::Message() << "w " << window << ", block size " << block_size);
      model::ModelConfig config = testing::SmallConfig("rf", window);
      StandaloneSequenceCache cache(config, block_size);
      // After each commit: ceil((w + 1) / B) + 1 blocks at most hold the window.
      const int bound = (window + 1 + block_size - 1) / block_size + 1;
      for (int length = 1; length <= 5 * window + 20; ++length) {
        ASSERT_TRUE(cache.Reserve(length).ok());
        // Rows for the new position must be addressable in both layer kinds.
        kernels::PagedKv<float> local = cache.Kv(0);
        kernels::PagedKv<float> global = cache.Kv(1);
        local.KeyRow(length - 1)[0] = static_cast<float>(length);
        global.KeyRow(length - 1)[0] = static_cast<float>(length);
        cache.Commit(length);
        EXPECT_LE(cache.window_blocks_in_use(), bound) << "length " << length;
        // The oldest in-window position (and the one the next step folds) still holds its row.
        const int64_t oldest = std::max<int64_t>(0, length - window - 1);
        EXPECT_EQ(cache.Kv(0).KeyRow(oldest)[0], static_cast<float>(oldest + 1));
        EXPECT_EQ(cache.Kv(1).KeyRow(0)[0], 1.0f) << "global layers keep every position";
      }
    }
  }
}

TEST(StandaloneSequenceCacheTest, RlaStateIsZeroedAndPerLayer) {
  model::ModelConfig config = testing::SmallConfig("rrf", 4);
  StandaloneSequenceCache cache(config);
  float* first = cache.RlaState(0);
  float* second = cache.RlaState(1);
  ASSERT_NE(first, second);
  EXPECT_TRUE(
      std::all_of(first, first + config.rla_state_floats(), [](float v) { return v == 0.0f; }));
  EXPECT_EQ(cache.RlaState(2), nullptr) << "full-attention layers have no state";
}

TEST(StandaloneSequenceCacheTest, ReservingLessThanHeldIsANoOp) {
  model::ModelConfig config = testing::SmallConfig("rf", 4);
  StandaloneSequenceCache cache(config);
  ASSERT_TRUE(cache.Reserve(10).ok());
  EXPECT_EQ(cache.reserved_length(), 10);
  ASSERT_TRUE(cache.Reserve(3).ok());
  EXPECT_EQ(cache.reserved_length(), 10);
  EXPECT_EQ(cache.length(), 0);
}

}  // namespace
}  // namespace rattn::engine
