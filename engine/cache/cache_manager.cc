// Cache pools and paged sequences; see cache_manager.h.
#include "engine/cache/cache_manager.h"

#include <algorithm>
#include <cassert>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "engine/util/logging.h"
#include "engine/util/status_macros.h"

namespace rattn::engine {
namespace {

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

double MiB(int64_t bytes) { return static_cast<double>(bytes) / (1 << 20); }

struct PoolSizes {
  int32_t global = 0;
  int32_t window = 0;
  int32_t rla = 0;
};

}  // namespace

UnitBytes UnitBytesFor(const model::ModelConfig& config, int block_size, int kv_element_bytes,
                       int state_element_bytes) {
  const int64_t block_elements = static_cast<int64_t>(block_size) * config.kv_width() * 2;
  return {config.NumGlobalLayers() * block_elements * kv_element_bytes,
          config.NumLocalLayers() * block_elements * kv_element_bytes,
          config.NumRlaLayers() * config.rla_state_floats() * state_element_bytes};
}

absl::Status CacheOptions::Validate() const {
  if (block_size < 1 || block_size > 1024) {
    return absl::InvalidArgumentError(
        absl::StrCat("cache block size must be in [1, 1024], got ", block_size));
  }
  if (max_sequences < 1 || max_sequences > (1 << 20)) {
    return absl::InvalidArgumentError(
        absl::StrCat("max sequences must be in [1, 1048576], got ", max_sequences));
  }
  if (global_blocks < 0 || window_blocks < 0 || rla_slots < 0) {
    return absl::InvalidArgumentError("explicit pool sizes must not be negative");
  }
  if (memory_budget_bytes <= 0 && global_blocks == 0 && window_blocks == 0 && rla_slots == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cache memory budget must be positive, got ", memory_budget_bytes));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<CacheManager>> CacheManager::Create(
    const model::ModelConfig& config, const CacheOptions& options,
    std::unique_ptr<CacheStorage> storage) {
  if (absl::Status valid = options.Validate(); !valid.ok()) return valid;
  if (storage == nullptr) storage = NewHostCacheStorage();
  const UnitBytes unit = UnitBytesFor(config, options.block_size, storage->kv_element_bytes(),
                                      storage->state_element_bytes());
  const int32_t per_sequence_window =
      NeedForLength(config, options.block_size, config.sliding_window + 2).window_blocks;
  const int64_t per_sequence_bytes = per_sequence_window * unit.window + unit.rla;

  PoolSizes sizes;
  if (options.global_blocks > 0 || options.window_blocks > 0 || options.rla_slots > 0) {
    // Explicit sizes: sequences that need more than a pool holds are refused when created.
    sizes = {options.global_blocks, options.window_blocks, options.rla_slots};
  } else {
    const int64_t budget = options.memory_budget_bytes;
    int64_t sequences = options.max_sequences;
    if (per_sequence_bytes > 0) {
      // Models with global layers keep at least half the budget for global KV.
      int64_t share = unit.global > 0 ? budget / 2 : budget;
      sequences = std::min(sequences, share / per_sequence_bytes);
    }
    const int64_t global =
        unit.global > 0 ? (budget - sequences * per_sequence_bytes) / unit.global : 0;
    sizes.global = static_cast<int32_t>(std::min<int64_t>(global, INT32_MAX / 2));
    sizes.window = unit.window > 0 ? static_cast<int32_t>(sequences * per_sequence_window) : 0;
    sizes.rla = unit.rla > 0 ? static_cast<int32_t>(sequences) : 0;
    if ((unit.global > 0 && sizes.global < 1) || sequences < 1) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "cache memory budget of ", MiB(budget), " MiB is too small: one sequence needs at least ",
          MiB(unit.global + per_sequence_bytes), " MiB (one global block of ", options.block_size,
          " positions, ", per_sequence_window, " window blocks, one rla_state slot)"));
    }
  }

  const int64_t block_elements = static_cast<int64_t>(options.block_size) * config.kv_width();
  std::vector<int64_t> layer_elements(config.num_layers);
  for (int layer = 0; layer < config.num_layers; ++layer) {
    layer_elements[layer] = (config.IsLocal(layer) ? sizes.window : sizes.global) * block_elements;
  }
  RATTN_RETURN_IF_ERROR(storage->Allocate(
      layer_elements,
      static_cast<int64_t>(sizes.rla) * config.NumRlaLayers() * config.rla_state_floats()));
  std::unique_ptr<CacheManager> manager(new CacheManager(config, options, std::move(storage)));
  manager->global_pool_ = BlockPool(sizes.global);
  manager->window_pool_ = BlockPool(sizes.window);
  manager->rla_pool_ = BlockPool(sizes.rla);

  const int64_t full_context = config.max_position_embeddings;
  const CacheNeed need = manager->NeedFor(full_context);
  int64_t fit = INT32_MAX;
  if (need.global_blocks > 0) fit = std::min<int64_t>(fit, sizes.global / need.global_blocks);
  if (need.window_blocks > 0) fit = std::min<int64_t>(fit, sizes.window / need.window_blocks);
  if (need.rla_slots > 0) fit = std::min<int64_t>(fit, sizes.rla);
  RATTN_LOG(INFO) << "cache pools in " << manager->storage_->location() << " memory (block size "
                  << options.block_size << "): global_kv " << sizes.global << " blocks ("
                  << MiB(sizes.global * unit.global) << " MiB), window " << sizes.window
                  << " blocks (" << MiB(sizes.window * unit.window) << " MiB), rla_state "
                  << sizes.rla << " slots (" << MiB(sizes.rla * unit.rla) << " MiB); " << fit
                  << " requests of the full " << full_context << "-token context fit ("
                  << MiB(manager->BytesFor(full_context)) << " MiB each)";
  return manager;
}

CacheManager::CacheManager(const model::ModelConfig& config, const CacheOptions& options,
                           std::unique_ptr<CacheStorage> storage)
    : config_(config),
      options_(options),
      rla_index_(config.num_layers, -1),
      global_pool_(0),
      window_pool_(0),
      rla_pool_(0),
      storage_(std::move(storage)) {
  int next = 0;
  for (int layer = 0; layer < config.num_layers; ++layer) {
    if (config.HasRla(layer)) rla_index_[layer] = next++;
  }
}

CacheManager::~CacheManager() = default;

CacheNeed NeedForLength(const model::ModelConfig& config, int block_size, int64_t length) {
  CacheNeed need;
  if (config.NumGlobalLayers() > 0) need.global_blocks = CeilDiv(length, block_size);
  if (config.NumLocalLayers() > 0) {
    // Positions [0, length) while they all fit the window, then the w + 1 latest.
    const int64_t kept = std::min<int64_t>(length, config.sliding_window + 1);
    need.window_blocks =
        static_cast<int32_t>(length <= config.sliding_window + 1 ? CeilDiv(kept, block_size)
                                                                 : CeilDiv(kept, block_size) + 1);
  }
  if (config.NumRlaLayers() > 0) need.rla_slots = 1;
  return need;
}

CacheOptions PoolsFor(const model::ModelConfig& config, int block_size, int sequences,
                      int64_t max_length) {
  const CacheNeed need = NeedForLength(config, block_size, max_length);
  CacheOptions options;
  options.block_size = block_size;
  options.max_sequences = sequences;
  options.global_blocks =
      static_cast<int32_t>(std::max<int64_t>(1, sequences * need.global_blocks));
  options.window_blocks = std::max(1, sequences * need.window_blocks);
  options.rla_slots = std::max(1, sequences * need.rla_slots);
  return options;
}

CacheNeed CacheManager::NeedFor(int64_t length) const {
  return NeedForLength(config_, options_.block_size, length);
}

absl::Status CacheManager::CheckFits(int64_t length, int count) const {
  const CacheNeed need = NeedFor(length);
  const struct {
    const char* name;
    int64_t need;
    int64_t total;
  } pools[] = {{"global_kv", need.global_blocks, global_pool_.num_blocks()},
               {"window", need.window_blocks, window_pool_.num_blocks()},
               {"rla_state", need.rla_slots, rla_pool_.num_blocks()}};
  for (const auto& pool : pools) {
    if (pool.need * count > pool.total) {
      return absl::ResourceExhaustedError(
          absl::StrCat(count, " sequence(s) of ", length, " tokens need ", pool.need * count, " ",
                       pool.name, " units; the pool has ", pool.total));
    }
  }
  return absl::OkStatus();
}

int64_t CacheManager::BytesFor(int64_t length) const {
  const UnitBytes unit = UnitBytesFor(config_, options_.block_size, storage_->kv_element_bytes(),
                                      storage_->state_element_bytes());
  const CacheNeed need = NeedFor(length);
  return need.global_blocks * unit.global + need.window_blocks * unit.window +
         need.rla_slots * unit.rla;
}

std::vector<PoolUsage> CacheManager::Usage() const {
  const UnitBytes unit = UnitBytesFor(config_, options_.block_size, storage_->kv_element_bytes(),
                                      storage_->state_element_bytes());
  return {{"global_kv", global_pool_.num_blocks(), global_pool_.num_used(), unit.global},
          {"window", window_pool_.num_blocks(), window_pool_.num_used(), unit.window},
          {"rla_state", rla_pool_.num_blocks(), rla_pool_.num_used(), unit.rla}};
}

absl::StatusOr<std::unique_ptr<PagedSequenceCache>> CacheManager::NewSequence(int64_t max_length) {
  if (max_length < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("sequence length must be positive, got ", max_length));
  }
  const CacheNeed need = NeedFor(max_length);
  if (need.rla_slots > rla_pool_.num_free()) {
    return absl::ResourceExhaustedError("rla_state pool: no free slot");
  }
  if (need.window_blocks > window_available()) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "window pool: need ", need.window_blocks, " blocks, ", window_available(), " available"));
  }
  std::unique_ptr<PagedSequenceCache> sequence(new PagedSequenceCache(this, max_length));
  if (need.rla_slots > 0) {
    sequence->rla_slot_ = rla_pool_.Allocate();
    RATTN_RETURN_IF_ERROR(storage_->Zero(RlaSlot(sequence->rla_slot_, -1), RlaSlotBytes()));
  }
  sequence->window_quota_ = need.window_blocks;
  window_promised_ += need.window_blocks;
  return sequence;
}

absl::StatusOr<std::unique_ptr<PagedSequenceCache>> CacheManager::Fork(
    const PagedSequenceCache& parent, int64_t max_length, ForkMode mode) {
  if (max_length < parent.length_) {
    return absl::InvalidArgumentError(absl::StrCat(
        "fork of a ", parent.length_, "-position sequence cannot end at ", max_length));
  }
  auto child = NewSequence(max_length);
  if (!child.ok()) return child.status();
  if (absl::Status copied = CopyInto(parent, **child, mode); !copied.ok()) return copied;
  return child;
}

absl::Status CacheManager::CopyInto(const PagedSequenceCache& parent, PagedSequenceCache& c,
                                    ForkMode mode) {
  if (c.manager_ != this || parent.manager_ != this || c.reserved_ != 0 ||
      c.max_length_ < parent.length_) {
    return absl::FailedPreconditionError(
        "fork target must be a new, empty sequence of the same pools, long enough for the parent");
  }
  const int64_t global_blocks = CeilDiv(parent.length_, options_.block_size);
  if (config_.NumGlobalLayers() > 0 && mode == ForkMode::kCopyAll &&
      global_pool_.num_free() < global_blocks) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "global_kv pool: need ", global_blocks, " blocks, ", global_pool_.num_free(), " free"));
  }
  if (c.rla_slot_ >= 0) {
    RATTN_RETURN_IF_ERROR(
        storage_->Copy(RlaSlot(c.rla_slot_, -1), RlaSlot(parent.rla_slot_, -1), RlaSlotBytes()));
  }
  if (config_.NumGlobalLayers() > 0) {
    for (int64_t i = 0; i < global_blocks; ++i) {
      int32_t block = parent.global_table_[i];
      if (mode == ForkMode::kShareGlobal) {
        global_pool_.Retain(block);
        c.global_table_.push_back(block);
      } else {
        int32_t copy = global_pool_.Allocate();
        c.global_table_.push_back(copy);
        RATTN_RETURN_IF_ERROR(CopyBlock(/*global=*/true, block, copy));
      }
    }
  }
  // Window blocks are always private: each sample writes its own positions into them.
  c.window_table_.assign(parent.window_table_.size(), -1);
  c.window_released_ = parent.window_released_;
  for (size_t i = 0; i < parent.window_table_.size(); ++i) {
    if (parent.window_table_[i] < 0) continue;
    int32_t copy = window_pool_.Allocate();
    assert(copy >= 0 && c.window_held_ < c.window_quota_);  // promised at the child's creation
    --window_promised_;
    ++c.window_held_;
    c.window_table_[i] = copy;
    RATTN_RETURN_IF_ERROR(CopyBlock(/*global=*/false, parent.window_table_[i], copy));
  }
  c.length_ = parent.length_;
  c.reserved_ = parent.length_;
  return absl::OkStatus();
}

absl::Status CacheManager::CopyBlock(bool global, int32_t from, int32_t to) {
  const int64_t bytes =
      static_cast<int64_t>(options_.block_size) * config_.kv_width() * storage_->kv_element_bytes();
  for (int layer = 0; layer < config_.num_layers; ++layer) {
    if (config_.IsGlobal(layer) != global) continue;
    for (void* base : {storage_->keys(layer), storage_->values(layer)}) {
      char* bytes_base = static_cast<char*>(base);
      RATTN_RETURN_IF_ERROR(
          storage_->Copy(bytes_base + to * bytes, bytes_base + from * bytes, bytes));
    }
  }
  return absl::OkStatus();
}

int64_t CacheManager::RlaSlotBytes() const {
  return static_cast<int64_t>(config_.NumRlaLayers()) * config_.rla_state_floats() *
         storage_->state_element_bytes();
}

char* CacheManager::RlaSlot(int32_t slot, int layer) {
  const int64_t index = layer < 0 ? 0 : rla_index_[layer];
  const int64_t per_layer = config_.rla_state_floats() * storage_->state_element_bytes();
  return static_cast<char*>(storage_->states()) +
         (static_cast<int64_t>(slot) * config_.NumRlaLayers() + index) * per_layer;
}

PagedSequenceCache::~PagedSequenceCache() {
  CacheManager& m = *manager_;
  for (int32_t block : global_table_) m.global_pool_.Release(block);
  for (int32_t block : window_table_) {
    if (block >= 0) m.window_pool_.Release(block);
  }
  m.window_promised_ -= window_quota_ - window_held_;
  if (rla_slot_ >= 0) m.rla_pool_.Release(rla_slot_);
}

absl::Status PagedSequenceCache::Reserve(int64_t new_length) {
  if (new_length <= reserved_) return absl::OkStatus();
  if (new_length > max_length_) {
    return absl::FailedPreconditionError(absl::StrCat("sequence was created for ", max_length_,
                                                      " positions; cannot grow to ", new_length));
  }
  CacheManager& m = *manager_;
  if (m.config_.NumGlobalLayers() == 0) {
    reserved_ = new_length;
    return absl::OkStatus();
  }
  const int block_size = m.options_.block_size;
  // Blocks this step writes into that other sequences also reference are copied first.
  std::vector<int64_t> shared;
  for (int64_t i = length_ / block_size; i < static_cast<int64_t>(global_table_.size()); ++i) {
    if (m.global_pool_.RefCount(global_table_[i]) > 1) shared.push_back(i);
  }
  const int64_t fresh = CeilDiv(new_length, block_size) - global_table_.size();
  const int64_t needed = fresh + static_cast<int64_t>(shared.size());
  if (needed > m.global_pool_.num_free()) {
    return absl::ResourceExhaustedError(absl::StrCat("global_kv pool: need ", needed, " blocks, ",
                                                     m.global_pool_.num_free(), " free"));
  }
  for (int64_t i : shared) {
    const int32_t original = global_table_[i];
    const int32_t copy = m.global_pool_.Allocate();
    const absl::Status copied = m.CopyBlock(/*global=*/true, original, copy);
    m.global_pool_.Release(original);  // still referenced by the sequences sharing it
    global_table_[i] = copy;
    RATTN_RETURN_IF_ERROR(copied);
  }
  for (int64_t i = 0; i < fresh; ++i) global_table_.push_back(m.global_pool_.Allocate());
  reserved_ = new_length;
  return absl::OkStatus();
}

kernels::PagedKv<float> PagedSequenceCache::Kv(int layer) {
  CacheManager& m = *manager_;
  const std::vector<int32_t>& table = m.config_.IsLocal(layer) ? window_table_ : global_table_;
  return {static_cast<float*>(m.storage_->keys(layer)),
          static_cast<float*>(m.storage_->values(layer)), table.data(), m.options_.block_size,
          m.config_.kv_width()};
}

float* PagedSequenceCache::RlaState(int layer) {
  return rla_slot_ >= 0 ? reinterpret_cast<float*>(manager_->RlaSlot(rla_slot_, layer)) : nullptr;
}

void PagedSequenceCache::Commit(int64_t new_length) {
  CacheManager& m = *manager_;
  new_length = std::min(new_length, reserved_);
  if (m.config_.NumLocalLayers() > 0 && new_length > 0) {
    const int block_size = m.options_.block_size;
    const int64_t first_kept = std::max<int64_t>(0, new_length - m.config_.sliding_window - 1);
    const int64_t first_block = first_kept / block_size;
    const int64_t last_block = (new_length - 1) / block_size;
    // Release first, so that a sequence never holds more than its quota.
    for (; window_released_ < first_block; ++window_released_) {
      if (window_released_ >= static_cast<int64_t>(window_table_.size())) continue;
      int32_t& block = window_table_[window_released_];
      if (block < 0) continue;
      m.window_pool_.Release(block);
      block = -1;
      --window_held_;
      ++m.window_promised_;
    }
    if (static_cast<int64_t>(window_table_.size()) <= last_block) {
      window_table_.resize(last_block + 1, -1);
    }
    for (int64_t i = first_block; i <= last_block; ++i) {
      if (window_table_[i] >= 0) continue;
      window_table_[i] = m.window_pool_.Allocate();
      assert(window_table_[i] >= 0 && window_held_ < window_quota_);
      ++window_held_;
      --m.window_promised_;
    }
  }
  length_ = new_length;
}

}  // namespace rattn::engine
