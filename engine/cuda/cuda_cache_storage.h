// Cache pools in device memory for the CUDA backend: keys and values in bf16 (what the
// attention kernels read), rla states in fp32. Copies and zeroing run on the backend's stream,
// so they are ordered with its steps.
#ifndef RATTN_ENGINE_CUDA_CUDA_CACHE_STORAGE_H_
#define RATTN_ENGINE_CUDA_CUDA_CACHE_STORAGE_H_

#include <cuda_runtime_api.h>

#include <cstdint>
#include <vector>

#include "engine/cache/cache_storage.h"
#include "engine/cuda/device_memory.h"

namespace rattn::cuda {

class CudaCacheStorage final : public engine::CacheStorage {
 public:
  // `owner` identifies the backend whose steps may use this storage; memory is taken on
  // `device`, and copies run on `stream`.
  CudaCacheStorage(const void* owner, int device, cudaStream_t stream);

  int kv_element_bytes() const override { return 2; }
  int state_element_bytes() const override { return sizeof(float); }
  absl::string_view location() const override { return "device"; }

  absl::Status Allocate(std::span<const int64_t> layer_elements, int64_t state_elements) override;

  void* keys(int layer) override { return keys_[layer].get(); }
  void* values(int layer) override { return values_[layer].get(); }
  void* states() override { return states_.get(); }

  absl::Status Copy(void* to, const void* from, int64_t bytes) override;
  absl::Status Zero(void* to, int64_t bytes) override;

  const void* owner() const { return owner_; }
  // Unique over the process' lifetime: what the backend keys its cached pool addresses (and
  // CUDA graphs) on, since a new storage may be allocated where a destroyed one was.
  uint64_t serial() const { return serial_; }

 private:
  const void* owner_;
  uint64_t serial_;
  int device_;
  cudaStream_t stream_;
  std::vector<DeviceMemory> keys_;
  std::vector<DeviceMemory> values_;
  DeviceMemory states_;
};

}  // namespace rattn::cuda

#endif  // RATTN_ENGINE_CUDA_CUDA_CACHE_STORAGE_H_
