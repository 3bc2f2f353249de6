// The three cache pools of the serving engine, and the sequences that draw on them:
//   global_kv  blocks of block_size positions of keys and values for every global layer, listed
//              per sequence in a block table that grows with its length (PagedAttention);
//   window     the same for every local layer, but a sequence holds only the blocks with its
//              last w + 1 positions: at most ceil((w + 1) / B) + 1, whatever its length;
//   rla_state  one slot per sequence with the linear-attention state S of every rattention
//              layer (num_kv_heads x 2d x d fp32 each).
// A block id names the same block in every layer of its kind, so one table serves them all.
//
// What a sequence can need is exact: NeedFor() gives it for any length, so the scheduler admits
// only what fits. Window blocks and the rla slot are promised when a sequence is created, so a
// step never fails for them; global blocks are taken as the sequence grows (Reserve), and the
// scheduler preempts when they run out.
//
// The bytes live in a CacheStorage (cache_storage.h): host memory for the CPU backend unless a
// backend supplies its own. Not thread-safe: owned by the engine loop.
#ifndef RATTN_ENGINE_CACHE_CACHE_MANAGER_H_
#define RATTN_ENGINE_CACHE_CACHE_MANAGER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/cache/block_pool.h"
#include "engine/cache/cache_storage.h"
#include "engine/model/model_config.h"
#include "engine/sequence_cache.h"

namespace rattn::engine {

struct CacheOptions {
  int block_size = 16;  // positions per block, B
  // Bytes for the three pools together.
  int64_t memory_budget_bytes = int64_t{1} << 30;
  // Sequences that may hold caches at once. Window blocks and rla slots are set aside for this
  // many, or fewer when that would take more than half the budget of a model with global layers.
  int max_sequences = 256;
  // Pool sizes that, when positive, replace the split of the budget (for tight-pool tests).
  int32_t global_blocks = 0;
  int32_t window_blocks = 0;
  int32_t rla_slots = 0;

  absl::Status Validate() const;
};

// One pool's size and use, for logs, load snapshots and metrics.
struct PoolUsage {
  std::string name;  // "global_kv", "window" or "rla_state"
  int64_t total = 0;
  int64_t used = 0;
  int64_t unit_bytes = 0;  // bytes of one block or slot
};

// What one sequence of a given length holds at most.
struct CacheNeed {
  int64_t global_blocks = 0;
  int32_t window_blocks = 0;
  int32_t rla_slots = 0;
};

// The most a sequence of `length` positions holds in each pool, for a model and block size.
CacheNeed NeedForLength(const model::ModelConfig& config, int block_size, int64_t length);

// Bytes of one unit of each pool, for keys and values of `kv_element_bytes` and states of
// `state_element_bytes` per element.
struct UnitBytes {
  int64_t global = 0;  // a global_kv block: keys and values of every global layer
  int64_t window = 0;  // a window block: keys and values of every local layer
  int64_t rla = 0;     // an rla_state slot: S of every rattention layer
};
UnitBytes UnitBytesFor(const model::ModelConfig& config, int block_size, int kv_element_bytes,
                       int state_element_bytes);

// Options whose explicit pool sizes hold exactly `sequences` sequences of up to `max_length`
// positions each (at least one unit per pool), for tools, tests and benchmarks.
CacheOptions PoolsFor(const model::ModelConfig& config, int block_size, int sequences,
                      int64_t max_length);

class PagedSequenceCache;

// How a forked sequence gets its parent's global KV.
enum class ForkMode {
  kShareGlobal,  // reference the parent's blocks; the last one is copied when first written
  kCopyAll,      // private copies of everything (benchmarks that must not share memory)
};

class CacheManager {
 public:
  // Pools in `storage`; host fp32 storage when it is null.
  static absl::StatusOr<std::unique_ptr<CacheManager>> Create(
      const model::ModelConfig& config, const CacheOptions& options,
      std::unique_ptr<CacheStorage> storage = nullptr);
  ~CacheManager();

  // An empty sequence that may grow to `max_length` positions. It takes its rla slot and is
  // promised the window blocks it will need; RESOURCE_EXHAUSTED when those are not free.
  absl::StatusOr<std::unique_ptr<PagedSequenceCache>> NewSequence(int64_t max_length);

  // A sequence with the contents of `parent` that may grow to `max_length` positions.
  absl::StatusOr<std::unique_ptr<PagedSequenceCache>> Fork(const PagedSequenceCache& parent,
                                                           int64_t max_length,
                                                           ForkMode mode = ForkMode::kShareGlobal);

  // Gives `child`, a new empty sequence of this manager made for at least parent.length()
  // positions, the contents of `parent`. With kShareGlobal it cannot fail: the child's window
  // blocks and slot were set aside when it was created.
  absl::Status CopyInto(const PagedSequenceCache& parent, PagedSequenceCache& child,
                        ForkMode mode = ForkMode::kShareGlobal);

  // The most a sequence of `length` positions holds in each pool.
  CacheNeed NeedFor(int64_t length) const;
  // OK when `count` sequences of `length` positions fit the pools together when nothing else
  // holds them; RESOURCE_EXHAUSTED saying which pool is short otherwise. Reads only the pools'
  // sizes, so any thread may call it.
  absl::Status CheckFits(int64_t length, int count) const;
  // Cache bytes a sequence of `length` positions holds (its window and state stop growing).
  int64_t BytesFor(int64_t length) const;
  // Free global blocks.
  int32_t free_global_blocks() const { return global_pool_.num_free(); }

  std::vector<PoolUsage> Usage() const;
  const CacheOptions& options() const { return options_; }
  // Pool sizes in blocks (global_kv, window) and slots (rla_state).
  int32_t global_blocks() const { return global_pool_.num_blocks(); }
  int32_t window_blocks() const { return window_pool_.num_blocks(); }
  int32_t rla_slots() const { return rla_pool_.num_blocks(); }
  CacheStorage& storage() { return *storage_; }
  const model::ModelConfig& config() const { return config_; }

 private:
  friend class PagedSequenceCache;

  CacheManager(const model::ModelConfig& config, const CacheOptions& options,
               std::unique_ptr<CacheStorage> storage);

  // Window blocks free and not promised to a sequence.
  int32_t window_available() const { return window_pool_.num_free() - window_promised_; }
  // Copies every layer's rows of one block to another block of the same kind.
  absl::Status CopyBlock(bool global, int32_t from, int32_t to);
  // Layer `layer`'s state in `slot` (layer -1: the slot's first state, where all of them start).
  char* RlaSlot(int32_t slot, int layer);
  int64_t RlaSlotBytes() const;

  model::ModelConfig config_;
  CacheOptions options_;
  std::vector<int> rla_index_;  // layer -> index among rattention layers, or -1
  BlockPool global_pool_;
  BlockPool window_pool_;
  BlockPool rla_pool_;
  int32_t window_promised_ = 0;  // window blocks promised to sequences but not yet taken
  // Per layer: (blocks, B, num_kv_heads, head_dim) keys and values, in its kind's pool; then
  // the states, (slots, rattention layers, num_kv_heads, 2d, d).
  std::unique_ptr<CacheStorage> storage_;
};

// A sequence's share of the pools; returns everything it holds when destroyed. Implements the
// SequenceCache contract (engine/sequence_cache.h).
class PagedSequenceCache : public SequenceCache {
 public:
  ~PagedSequenceCache() override;
  PagedSequenceCache(const PagedSequenceCache&) = delete;
  PagedSequenceCache& operator=(const PagedSequenceCache&) = delete;

  int64_t length() const override { return length_; }
  int64_t reserved_length() const override { return reserved_; }
  absl::Status Reserve(int64_t new_length) override;
  kernels::PagedKv<float> Kv(int layer) override;
  float* RlaState(int layer) override;
  void Commit(int64_t new_length) override;
  std::span<const int32_t> BlockTable(bool local) const override {
    return local ? window_table_ : global_table_;
  }
  int32_t rla_slot() const override { return rla_slot_; }
  int32_t block_size() const override { return manager_->options_.block_size; }
  CacheStorage& storage() override { return *manager_->storage_; }

  int64_t max_length() const { return max_length_; }
  int32_t window_blocks_held() const { return window_held_; }
  int64_t global_blocks_held() const { return static_cast<int64_t>(global_table_.size()); }

 private:
  friend class CacheManager;
  PagedSequenceCache(CacheManager* manager, int64_t max_length)
      : manager_(manager), max_length_(max_length) {}

  CacheManager* manager_;
  int64_t max_length_;
  int64_t length_ = 0;
  int64_t reserved_ = 0;
  std::vector<int32_t> global_table_;  // logical block -> global_kv block
  std::vector<int32_t> window_table_;  // logical block -> window block; -1 when not held
  int64_t window_released_ = 0;        // logical window blocks below this are released
  int32_t window_quota_ = 0;           // window blocks promised to this sequence in all
  int32_t window_held_ = 0;            // of which held now
  int32_t rla_slot_ = -1;
};

}  // namespace rattn::engine

#endif  // RATTN_ENGINE_CACHE_CACHE_MANAGER_H_
