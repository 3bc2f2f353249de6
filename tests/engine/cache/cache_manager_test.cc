// The cache pools: sizing from a budget, the window bound, release of every block and slot,
// forks sharing global blocks with copy-on-write, and random operation sequences checked against
// a simple model of what each sequence should hold.
#include "engine/cache/cache_manager.h"

#include <algorithm>
#include <map>
#include <random>

#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace rattn::engine {
namespace {

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

int64_t Used(const CacheManager& manager, const std::string& pool) {
  for (const PoolUsage& usage : manager.Usage()) {
    if (usage.name == pool) return usage.used;
  }
  ADD_FAILURE() << "no pool " << pool;
  return -1;
}

// Grows `cache` by `n` positions, writing a marker (the position + 1) into the first value of
// every new row the cache keeps, as a backend would.
void Step(const model::ModelConfig& config, PagedSequenceCache& cache, int64_t n) {
  const int64_t start = cache.length();
  const int64_t end = start + n;
  ASSERT_TRUE(cache.Reserve(end).ok());
  cache.Commit(end);
  for (int layer = 0; layer < config.num_layers; ++layer) {
    const int64_t from =
        config.IsLocal(layer) ? std::max(start, end - config.sliding_window - 1) : start;
    kernels::PagedKv<float> kv = cache.Kv(layer);
    for (int64_t p = from; p < end; ++p) kv.KeyRow(p)[0] = static_cast<float>(p + 1);
  }
}

TEST(CacheManagerTest, SizesPoolsFromABudget) {
  model::ModelConfig config = testing::SmallConfig("rrrf", 31, 4, 2, 16);
  CacheOptions options;
  options.block_size = 16;
  options.memory_budget_bytes = 64 << 20;
  options.max_sequences = 8;
  auto manager = CacheManager::Create(config, options);
  ASSERT_TRUE(manager.ok()) << manager.status();
  std::vector<PoolUsage> usage = (*manager)->Usage();
  ASSERT_EQ(usage.size(), 3u);
  int64_t total_bytes = 0;
  for (const PoolUsage& pool : usage) total_bytes += pool.total * pool.unit_bytes;
  EXPECT_LE(total_bytes, options.memory_budget_bytes);
  EXPECT_GT(total_bytes, options.memory_budget_bytes * 9 / 10) << "most of the budget is used";
  EXPECT_EQ(usage[1].total, 8 * (CeilDiv(32, 16) + 1)) << "window blocks for 8 sequences";
  EXPECT_EQ(usage[2].total, 8);
  // One global layer, 2 kv heads of 16: 16 positions x 32 floats x 2 x 4 bytes per block.
  EXPECT_EQ(usage[0].unit_bytes, 16 * 32 * 2 * 4);
}

TEST(CacheManagerTest, RefusesABudgetTooSmallForOneSequence) {
  model::ModelConfig config = testing::SmallConfig("rf", 64);
  CacheOptions options;
  options.memory_budget_bytes = 1000;
  auto manager = CacheManager::Create(config, options);
  ASSERT_FALSE(manager.ok());
  EXPECT_EQ(manager.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(manager.status().message().find("too small"), absl::string_view::npos);
}

TEST(CacheManagerTest, LongSequenceHoldsOnlyItsWindowAndEverythingReturns) {
  for (int window : {1, 7, 16, 31}) {
    for (int block : {1, 4, 16}) {
      SCOPED_TRACE(::testing::Message() << "w " << window << ", B " << block);
      model::ModelConfig config = testing::SmallConfig("rf", window);
      const int64_t length = 20 * window + 3;
      auto manager = testing::MakeCacheManager(config, block, 2, length);
      const int64_t bound = CeilDiv(window + 1, block) + 1;
      {
        auto cache = testing::NewSequence(*manager, length);
        std::mt19937 random(window * 100 + block);
        while (cache->length() < length) {
          int64_t n = std::min<int64_t>(length - cache->length(),
                                        std::uniform_int_distribution<int>(1, 3 * window)(random));
          Step(config, *cache, n);
          ASSERT_LE(cache->window_blocks_held(), bound);
          ASSERT_LE(Used(*manager, "window"), bound);
          const int64_t oldest = std::max<int64_t>(0, cache->length() - window - 1);
          for (int64_t p = oldest; p < cache->length(); ++p) {
            ASSERT_EQ(cache->Kv(0).KeyRow(p)[0], p + 1) << "window row of position " << p;
          }
          ASSERT_EQ(cache->Kv(1).KeyRow(0)[0], 1.0f) << "global layers keep every position";
        }
        EXPECT_EQ(cache->global_blocks_held(), CeilDiv(length, block));
      }
      for (const PoolUsage& pool : manager->Usage()) {
        EXPECT_EQ(pool.used, 0) << pool.name << " after the sequence ended";
      }
    }
  }
}

TEST(CacheManagerTest, ForkSharesGlobalBlocksAndCopiesOnWrite) {
  model::ModelConfig config = testing::SmallConfig("rf", 7);
  auto manager = testing::MakeCacheManager(config, 4, 4, 64);
  auto parent = testing::NewSequence(*manager, 64);
  Step(config, *parent, 10);  // 2.5 global blocks
  parent->RlaState(0)[3] = 42.0f;
  const int64_t global_before = Used(*manager, "global_kv");
  EXPECT_EQ(global_before, 3);

  auto child = manager->Fork(*parent, 64);
  ASSERT_TRUE(child.ok()) << child.status();
  EXPECT_EQ(Used(*manager, "global_kv"), 3) << "the fork shares the parent's global blocks";
  EXPECT_EQ((*child)->length(), 10);
  EXPECT_EQ((*child)->RlaState(0)[3], 42.0f) << "the state is copied";
  EXPECT_NE((*child)->RlaState(0), parent->RlaState(0));
  for (int64_t p = 0; p < 10; ++p) EXPECT_EQ((*child)->Kv(1).KeyRow(p)[0], p + 1);

  // The child writes into the shared, partly filled third block: it gets its own copy.
  Step(config, **child, 1);
  (*child)->Kv(1).KeyRow(10)[0] = -1.0f;
  EXPECT_EQ(Used(*manager, "global_kv"), 4);
  Step(config, *parent, 1);
  EXPECT_EQ(parent->Kv(1).KeyRow(10)[0], 11.0f) << "the parent's block was not written";
  EXPECT_EQ(parent->Kv(1).KeyRow(9)[0], 10.0f);
  EXPECT_EQ((*child)->Kv(1).KeyRow(9)[0], 10.0f) << "the copy kept the earlier rows";

  child->reset();
  parent.reset();
  for (const PoolUsage& pool : manager->Usage()) EXPECT_EQ(pool.used, 0) << pool.name;
}

TEST(CacheManagerTest, RefusesWhenPoolsRunOutAndChangesNothing) {
  model::ModelConfig config = testing::SmallConfig("rf", 3);
  CacheOptions options;
  options.block_size = 4;
  options.global_blocks = 5;
  options.window_blocks = 6;  // two sequences of ceil(4 / 4) + 1 = 2, and two spare
  options.rla_slots = 2;
  auto manager = CacheManager::Create(config, options);
  ASSERT_TRUE(manager.ok());
  auto a = (*manager)->NewSequence(100);
  auto b = (*manager)->NewSequence(100);
  ASSERT_TRUE(a.ok() && b.ok());
  auto c = (*manager)->NewSequence(100);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kResourceExhausted) << "no rla slot left";

  ASSERT_TRUE((*a)->Reserve(16).ok());  // 4 of 5 global blocks
  absl::Status status = (*b)->Reserve(8);
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(status.message().find("global_kv"), absl::string_view::npos) << status;
  EXPECT_EQ((*b)->reserved_length(), 0) << "a refused reserve changes nothing";
  EXPECT_EQ((*b)->global_blocks_held(), 0);
  EXPECT_TRUE((*b)->Reserve(4).ok());
}

// Random creation, growth, forks and destruction of sequences, with the pools' use checked
// after every operation against what each live sequence should hold.
TEST(CacheManagerTest, RandomOperationsKeepPoolAccountingExact) {
  model::ModelConfig config = testing::SmallConfig("rsf", 5);
  const int block = 3;
  auto manager = testing::MakeCacheManager(config, block, 6, 60);
  std::vector<std::unique_ptr<PagedSequenceCache>> live;
  std::mt19937 random(17);
  for (int op = 0; op < 3000; ++op) {
    int kind = std::uniform_int_distribution<int>(0, 9)(random);
    if (kind < 2 && live.size() < 6) {
      auto sequence = manager->NewSequence(60);
      if (sequence.ok()) live.push_back(std::move(*sequence));
    } else if (kind < 3 && !live.empty() && live.size() < 6) {
      auto& parent = live[random() % live.size()];
      auto child = manager->Fork(*parent, 60);
      if (child.ok()) live.push_back(std::move(*child));
    } else if (kind < 4 && !live.empty()) {
      live.erase(live.begin() + random() % live.size());
    } else if (!live.empty()) {
      auto& sequence = live[random() % live.size()];
      int64_t n = std::min<int64_t>(60 - sequence->length(), 1 + random() % 8);
      if (n > 0 && sequence->Reserve(sequence->length() + n).ok()) {
        sequence->Commit(sequence->length() + n);
      }
    }
    // Global blocks: distinct blocks over all tables (forks share). Window: sum held. Slots: one
    // per live sequence.
    int64_t window = 0;
    for (const auto& s : live) {
      window += s->window_blocks_held();
      ASSERT_LE(s->window_blocks_held(), CeilDiv(5 + 1, block) + 1);
      ASSERT_GE(s->global_blocks_held(), CeilDiv(s->length(), block));
    }
    ASSERT_EQ(Used(*manager, "window"), window);
    ASSERT_EQ(Used(*manager, "rla_state"), static_cast<int64_t>(live.size()));
  }
  live.clear();
  for (const PoolUsage& pool : manager->Usage()) EXPECT_EQ(pool.used, 0) << pool.name;
}

}  // namespace
}  // namespace rattn::engine
