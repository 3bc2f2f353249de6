// The block pool against a simple model under random allocate / retain / release sequences.
#include "engine/cache/block_pool.h"

#include <map>
#include <random>
#include <set>

#include "gtest/gtest.h"

namespace rattn::engine {
namespace {

TEST(BlockPoolTest, RandomOperationsMatchAReferenceCountModel) {
  for (int32_t size : {1, 2, 7, 64}) {
    BlockPool pool(size);
    std::map<int32_t, int> model;  // block in use -> references
    std::mt19937 random(size);
    for (int step = 0; step < 20000; ++step) {
      int op = std::uniform_int_distribution<int>(0, 2)(random);
      if (op == 0) {
        int32_t block = pool.Allocate();
        if (static_cast<int32_t>(model.size()) == size) {
          ASSERT_EQ(block, -1) << "a full pool must refuse";
        } else {
          ASSERT_GE(block, 0);
          ASSERT_LT(block, size);
          ASSERT_EQ(model.count(block), 0u) << "handed out a block in use";
          model[block] = 1;
        }
      } else if (!model.empty()) {
        auto it = model.begin();
        std::advance(it, std::uniform_int_distribution<size_t>(0, model.size() - 1)(random));
        if (op == 1) {
          pool.Retain(it->first);
          ++it->second;
        } else {
          bool freed = pool.Release(it->first);
          ASSERT_EQ(freed, it->second == 1);
          if (--it->second == 0) model.erase(it);
        }
      }
      ASSERT_EQ(pool.num_used(), static_cast<int32_t>(model.size()));
      ASSERT_EQ(pool.num_free(), size - static_cast<int32_t>(model.size()));
      for (const auto& [block, references] : model) {
        ASSERT_EQ(pool.RefCount(block), references);
      }
    }
  }
}

TEST(BlockPoolTest, EmptyPoolRefuses) {
  BlockPool pool(0);
  EXPECT_EQ(pool.Allocate(), -1);
  EXPECT_EQ(pool.num_free(), 0);
}

}  // namespace
}  // namespace rattn::engine
