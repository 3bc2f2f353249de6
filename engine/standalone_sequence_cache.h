// A SequenceCache that owns its memory: blocks come from a private free list that grows to the
// sequence's peak, with no shared pool and no admission control. For tests, benchmarks and tools
// that run sequences directly on a backend; the serving engine uses the shared paged pools.
#ifndef RATTN_ENGINE_STANDALONE_SEQUENCE_CACHE_H_
#define RATTN_ENGINE_STANDALONE_SEQUENCE_CACHE_H_

#include <cstdint>
#include <vector>

#include "engine/model/model_config.h"
#include "engine/sequence_cache.h"

namespace rattn::engine {

class StandaloneSequenceCache : public SequenceCache {
 public:
  StandaloneSequenceCache(const model::ModelConfig& config, int block_size = 16);

  int64_t length() const override { return length_; }
  int64_t reserved_length() const override { return reserved_; }
  absl::Status Reserve(int64_t new_length) override;
  kernels::PagedKv<float> Kv(int layer) override;
  float* RlaState(int layer) override;
  void Commit(int64_t new_length) override;

  // Physical blocks each local layer holds now (for tests of the window bound).
  int window_blocks_in_use() const;

 private:
  // One group of layers sharing a block table: the global layers, or the local layers.
  struct BlockGroup {
    std::vector<int32_t> table;  // logical block -> physical block, -1 once released
    std::vector<int32_t> free;   // released physical blocks, reused first
    int32_t num_physical = 0;    // physical blocks allocated so far
    int64_t released = 0;        // logical blocks [0, released) are released
    std::vector<int> layers;     // model layers in this group
  };

  void Grow(BlockGroup& group, int64_t new_length);

  model::ModelConfig config_;
  int block_size_;
  int64_t length_ = 0;
  int64_t reserved_ = 0;
  BlockGroup global_;
  BlockGroup local_;
  std::vector<std::vector<float>> keys_;    // per layer: (physical blocks, block_size, kv_width)
  std::vector<std::vector<float>> values_;  // per layer, same shape
  std::vector<std::vector<float>> states_;  // per layer: rla state, empty unless rattention
};

}  // namespace rattn::engine

#endif  // RATTN_ENGINE_STANDALONE_SEQUENCE_CACHE_H_
