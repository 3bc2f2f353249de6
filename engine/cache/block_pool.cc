// Reference-counted block pool; see block_pool.h.
#include "engine/cache/block_pool.h"

#include <cassert>

namespace rattn::engine {

BlockPool::BlockPool(int32_t num_blocks) : ref_counts_(num_blocks, 0) {
  free_.reserve(num_blocks);
  // Lowest indices first out, which keeps a lightly used pool compact.
  for (int32_t block = num_blocks - 1; block >= 0; --block) free_.push_back(block);
}

int32_t BlockPool::Allocate() {
  if (free_.empty()) return -1;
  int32_t block = free_.back();
  free_.pop_back();
  ref_counts_[block] = 1;
  return block;
}

void BlockPool::Retain(int32_t block) {
  assert(ref_counts_[block] > 0);
  ++ref_counts_[block];
}

bool BlockPool::Release(int32_t block) {
  assert(ref_counts_[block] > 0);
  if (--ref_counts_[block] > 0) return false;
  free_.push_back(block);
  return true;
}

}  // namespace rattn::engine
