// The view of one layer's key/value rows for one sequence that every attention kernel reads
// (CPU and CUDA alike). Rows of num_kv_heads * head_dim values sit in fixed-size blocks; a block
// table maps a sequence's logical blocks (position / block_size) to physical blocks of a pool.
#ifndef RATTN_KERNELS_PAGED_KV_H_
#define RATTN_KERNELS_PAGED_KV_H_

#include <algorithm>
#include <cstdint>

namespace rattn::kernels {

template <typename T>
struct PagedKv {
  T* keys = nullptr;                     // (num_blocks, block_size, num_kv_heads, head_dim)
  T* values = nullptr;                   // (num_blocks, block_size, num_kv_heads, head_dim)
  const int32_t* block_table = nullptr;  // (logical blocks): physical block of each
  int32_t block_size = 0;
  int32_t row_width = 0;  // num_kv_heads * head_dim

  // Index of `position`'s row in `keys` / `values`. The position's logical block must be mapped.
  int64_t Row(int64_t position) const {
    return static_cast<int64_t>(block_table[position / block_size]) * block_size +
           position % block_size;
  }
  T* KeyRow(int64_t position) const { return keys + Row(position) * row_width; }
  T* ValueRow(int64_t position) const { return values + Row(position) * row_width; }
};

// The rows one attention call reads during a forward step: positions below `split` come from
// a sequence's paged cache, positions from `split` on from the step's own new rows, which are
// dense (row i at step_keys + i * row_width) and reach the cache only after the step. Reading
// the new rows from the step keeps a local layer's cache at its window even while a long chunk
// is computed.
template <typename T>
struct SplitKv {
  PagedKv<T> cache;
  int64_t split = 0;             // first position held in the step rows
  const T* step_keys = nullptr;  // (positions - split, num_kv_heads, head_dim)
  const T* step_values = nullptr;

  const T* KeyRow(int64_t position) const {
    return position < split ? cache.KeyRow(position)
                            : step_keys + (position - split) * cache.row_width;
  }
  const T* ValueRow(int64_t position) const {
    return position < split ? cache.ValueRow(position)
                            : step_values + (position - split) * cache.row_width;
  }

  // Calls visit(first_position, count, keys, values) for runs of positions in [first, last]
  // whose rows are contiguous (row stride cache.row_width), in position order.
  template <typename Visit>
  void ForEachRun(int64_t first, int64_t last, Visit&& visit) const {
    int64_t position = first;
    for (; position <= last && position < split;) {
      const int64_t in_block = position % cache.block_size;
      const int64_t run =
          std::min<int64_t>({cache.block_size - in_block, last - position + 1, split - position});
      visit(position, run, cache.KeyRow(position), cache.ValueRow(position));
      position += run;
    }
    if (position <= last) {
      visit(position, last - position + 1, KeyRow(position), ValueRow(position));
    }
  }
};

}  // namespace rattn::kernels

#endif  // RATTN_KERNELS_PAGED_KV_H_
