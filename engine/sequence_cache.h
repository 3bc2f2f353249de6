// The per-sequence state a backend reads and writes in a forward step, behind one interface:
// the window KV of each local layer, the rla state S of each rattention layer, and the full KV
// of each global layer. PagedSequenceCache (engine/cache/) implements it over the shared pools.
//
// Contract, with L = length() and w the sliding window:
//   - global layers hold keys (after RoPE) and values of positions [0, L);
//   - local layers hold positions [max(0, L - w - 1), L): the next step still folds L - w - 1;
//   - rattention layers hold S = sum over j <= L - w - 2 of phi(k_j) v_j^T, where k_j is the key
//     before RoPE, as (num_kv_heads, 2 * head_dim, head_dim) fp32.
// A forward step over positions [L, L + n): Reserve(L + n) first (this can fail); the backend
// reads earlier positions from Kv() and the new ones from its own buffers, folds every position
// that leaves the window into S, then calls Commit(L + n) and writes the new rows the cache now
// holds: [L, L + n) for global layers, [max(L, L + n - w - 1), L + n) for local ones. So a local
// layer never holds more than its window, however long the chunk.
#ifndef RATTN_ENGINE_SEQUENCE_CACHE_H_
#define RATTN_ENGINE_SEQUENCE_CACHE_H_

#include <cstdint>
#include <span>

#include "absl/status/status.h"
#include "kernels/paged_kv.h"

namespace rattn::engine {

class CacheStorage;

class SequenceCache {
 public:
  virtual ~SequenceCache() = default;

  // Positions already computed: the position of the next token.
  virtual int64_t length() const = 0;
  // Positions with room for their rows: at least length().
  virtual int64_t reserved_length() const = 0;

  // Makes room for positions up to `new_length`. On failure (RESOURCE_EXHAUSTED) nothing
  // changes. Views returned earlier by Kv() and RlaState() may be invalidated.
  virtual absl::Status Reserve(int64_t new_length) = 0;

  // Layer `layer`'s key/value rows: the positions held now (see above), for caches whose
  // storage is host memory in fp32 (the CPU backend's). Valid until the next Reserve() or
  // Commit().
  virtual kernels::PagedKv<float> Kv(int layer) = 0;

  // Rattention layer `layer`'s state S, in the cache's storage (device memory for a device
  // storage); valid until the next Reserve() or Commit().
  virtual float* RlaState(int layer) = 0;

  // For backends that address the pools themselves (the CUDA backend copies tables to the
  // device): the block table of local (window) or global layers, logical block -> pool block,
  // -1 for window blocks already released; and the rla_state slot, -1 when there is none.
  // Valid until the next Reserve() or Commit().
  virtual std::span<const int32_t> BlockTable(bool local) const = 0;
  virtual int32_t rla_slot() const = 0;
  // Positions per block of its block tables.
  virtual int32_t block_size() const = 0;
  // The storage holding this sequence's rows and state.
  virtual CacheStorage& storage() = 0;

  // Marks positions below `new_length` (<= reserved_length()) as computed. Local layers drop
  // the positions that left the window, which the caller has already folded into S.
  virtual void Commit(int64_t new_length) = 0;
};

}  // namespace rattn::engine

#endif  // RATTN_ENGINE_SEQUENCE_CACHE_H_
