// Self-contained sequence cache; see standalone_sequence_cache.h.
#include "engine/standalone_sequence_cache.h"

#include <algorithm>

namespace rattn::engine {

StandaloneSequenceCache::StandaloneSequenceCache(const model::ModelConfig& config, int block_size)
    : config_(config),
      block_size_(block_size),
      keys_(config.num_layers),
      values_(config.num_layers),
      states_(config.num_layers) {
  for (int layer = 0; layer < config.num_layers; ++layer) {
    (config.IsLocal(layer) ? local_ : global_).layers.push_back(layer);
    if (config.HasRla(layer)) states_[layer].assign(config.rla_state_floats(), 0.0f);
  }
}

void StandaloneSequenceCache::Grow(BlockGroup& group, int64_t new_length) {
  const int64_t blocks_needed = (new_length + block_size_ - 1) / block_size_;
  while (static_cast<int64_t>(group.table.size()) < blocks_needed) {
    int32_t physical;
    if (!group.free.empty()) {
      physical = group.free.back();
      group.free.pop_back();
    } else {
      physical = group.num_physical++;
    }
    group.table.push_back(physical);
  }
  const size_t floats = static_cast<size_t>(group.num_physical) * block_size_ * config_.kv_width();
  for (int layer : group.layers) {
    if (keys_[layer].size() < floats) {
      keys_[layer].resize(floats);
      values_[layer].resize(floats);
    }
  }
}

absl::Status StandaloneSequenceCache::Reserve(int64_t new_length) {
  if (new_length <= reserved_) return absl::OkStatus();
  Grow(global_, new_length);
  Grow(local_, new_length);
  reserved_ = new_length;
  return absl::OkStatus();
}

kernels::PagedKv<float> StandaloneSequenceCache::Kv(int layer) {
  const BlockGroup& group = config_.IsLocal(layer) ? local_ : global_;
  return {keys_[layer].data(), values_[layer].data(), group.table.data(), block_size_,
          config_.kv_width()};
}

float* StandaloneSequenceCache::RlaState(int layer) { return states_[layer].data(); }

void StandaloneSequenceCache::Commit(int64_t new_length) {
  length_ = std::min(new_length, reserved_);
  if (local_.layers.empty()) return;
  // The window keeps positions [length - w - 1, ...): release every block wholly before it.
  const int64_t first_kept = length_ - config_.sliding_window - 1;
  const int64_t blocks_before = first_kept > 0 ? first_kept / block_size_ : 0;
  for (; local_.released < blocks_before; ++local_.released) {
    int32_t& physical = local_.table[local_.released];
    local_.free.push_back(physical);
    physical = -1;
  }
}

int StandaloneSequenceCache::window_blocks_in_use() const {
  return static_cast<int>(std::count_if(local_.table.begin(), local_.table.end(),
                                        [](int32_t physical) { return physical >= 0; }));
}

}  // namespace rattn::engine
