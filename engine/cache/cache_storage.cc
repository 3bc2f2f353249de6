// Host storage for the cache pools; see cache_storage.h.
#include "engine/cache/cache_storage.h"

#include <cstring>
#include <new>
#include <vector>

#include "absl/strings/str_cat.h"

namespace rattn::engine {
namespace {

class HostCacheStorage final : public CacheStorage {
 public:
  int kv_element_bytes() const override { return sizeof(float); }
  int state_element_bytes() const override { return sizeof(float); }
  absl::string_view location() const override { return "host"; }

  absl::Status Allocate(std::span<const int64_t> layer_elements, int64_t state_elements) override {
    try {
      keys_.resize(layer_elements.size());
      values_.resize(layer_elements.size());
      for (size_t layer = 0; layer < layer_elements.size(); ++layer) {
        keys_[layer].assign(layer_elements[layer], 0.0f);
        values_[layer].assign(layer_elements[layer], 0.0f);
      }
      states_.assign(state_elements, 0.0f);
    } catch (const std::bad_alloc&) {
      int64_t total = state_elements;
      for (int64_t elements : layer_elements) total += 2 * elements;
      return absl::ResourceExhaustedError(absl::StrCat("cache pools: could not allocate ",
                                                       total * sizeof(float) / (1 << 20),
                                                       " MiB of host memory"));
    }
    return absl::OkStatus();
  }

  void* keys(int layer) override { return keys_[layer].data(); }
  void* values(int layer) override { return values_[layer].data(); }
  void* states() override { return states_.data(); }

  absl::Status Copy(void* to, const void* from, int64_t bytes) override {
    std::memcpy(to, from, bytes);
    return absl::OkStatus();
  }
  absl::Status Zero(void* to, int64_t bytes) override {
    std::memset(to, 0, bytes);
    return absl::OkStatus();
  }

 private:
  std::vector<std::vector<float>> keys_;
  std::vector<std::vector<float>> values_;
  std::vector<float> states_;
};

}  // namespace

std::unique_ptr<CacheStorage> NewHostCacheStorage() { return std::make_unique<HostCacheStorage>(); }

}  // namespace rattn::engine
