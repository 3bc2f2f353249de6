// The view of one layer's key/value rows for one sequence that every attention kernel reads
// (CPU and CUDA alike). Rows of num_kv_heads * head_dim values sit in fixed-size blocks; a block
// table maps a sequence's logical blocks (position / block_size) to physical blocks of a pool.
#ifndef RATTN_KERNELS_PAGED_KV_H_
#define RATTN_KERNELS_PAGED_KV_H_

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

}  // namespace rattn::kernels

#endif  // RATTN_KERNELS_PAGED_KV_H_
