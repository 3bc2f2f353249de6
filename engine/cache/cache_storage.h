// Where the cache pools keep their bytes. CacheManager does the bookkeeping (blocks, tables,
// promises) for every backend; a CacheStorage holds the bytes and moves them: host memory in
// fp32 for the CPU backend, device memory (bf16 keys and values, fp32 states) for the CUDA
// backend, which supplies its own implementation.
#ifndef RATTN_ENGINE_CACHE_CACHE_STORAGE_H_
#define RATTN_ENGINE_CACHE_CACHE_STORAGE_H_

#include <cstdint>
#include <memory>
#include <span>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace rattn::engine {

class CacheStorage {
 public:
  virtual ~CacheStorage() = default;

  // Bytes of one key or value element, and of one rla state element.
  virtual int kv_element_bytes() const = 0;
  virtual int state_element_bytes() const = 0;
  // "host" or "device", for logs.
  virtual absl::string_view location() const = 0;

  // Allocates, zero-filled, `layer_elements[l]` elements of keys and as many of values for each
  // layer l, and `state_elements` state elements. Called once, before any other call below;
  // RESOURCE_EXHAUSTED (with the sizes) when the memory is not there.
  virtual absl::Status Allocate(std::span<const int64_t> layer_elements,
                                int64_t state_elements) = 0;

  // Base of layer l's keys and values, and of the states.
  virtual void* keys(int layer) = 0;
  virtual void* values(int layer) = 0;
  virtual void* states() = 0;

  // Copies `bytes` bytes between two places of this storage, or zeroes them. Ordered before
  // the backend's next step reads them.
  virtual absl::Status Copy(void* to, const void* from, int64_t bytes) = 0;
  virtual absl::Status Zero(void* to, int64_t bytes) = 0;
};

// fp32 keys, values and states in host memory: the CPU backend's storage.
std::unique_ptr<CacheStorage> NewHostCacheStorage();

}  // namespace rattn::engine

#endif  // RATTN_ENGINE_CACHE_CACHE_STORAGE_H_
