// A pool of fixed-size blocks identified by index, with reference counts so that several
// sequences can share a block (a prompt's global KV among the samples of one request).
// Not thread-safe: owned by the engine loop.
#ifndef RATTN_ENGINE_CACHE_BLOCK_POOL_H_
#define RATTN_ENGINE_CACHE_BLOCK_POOL_H_

#include <cstdint>
#include <vector>

namespace rattn::engine {

class BlockPool {
 public:
  explicit BlockPool(int32_t num_blocks);

  int32_t num_blocks() const { return static_cast<int32_t>(ref_counts_.size()); }
  int32_t num_free() const { return static_cast<int32_t>(free_.size()); }
  int32_t num_used() const { return num_blocks() - num_free(); }

  // A free block, now with reference count 1; -1 when none is free.
  int32_t Allocate();
  // Adds a reference to a block in use.
  void Retain(int32_t block);
  // Drops a reference; the block returns to the free list with its last one. Returns whether
  // it did.
  bool Release(int32_t block);
  int32_t RefCount(int32_t block) const { return ref_counts_[block]; }

 private:
  std::vector<int32_t> free_;        // free blocks; the next allocation takes the back
  std::vector<int32_t> ref_counts_;  // (num_blocks): 0 for a free block
};

}  // namespace rattn::engine

#endif  // RATTN_ENGINE_CACHE_BLOCK_POOL_H_
