// Device storage of the cache pools; see cuda_cache_storage.h.
#include "engine/cuda/cuda_cache_storage.h"

#include <atomic>

#include "absl/strings/str_cat.h"
#include "engine/util/status_macros.h"
#include "kernels/cuda/cuda_check.h"

namespace rattn::cuda {

CudaCacheStorage::CudaCacheStorage(const void* owner, int device, cudaStream_t stream)
    : owner_(owner), device_(device), stream_(stream) {
  static std::atomic<uint64_t> next_serial{1};
  serial_ = next_serial.fetch_add(1);
}

absl::Status CudaCacheStorage::Allocate(std::span<const int64_t> layer_elements,
                                        int64_t state_elements) {
  RATTN_CUDA_RETURN_IF_ERROR(cudaSetDevice(device_));
  keys_.clear();
  values_.clear();
  for (size_t layer = 0; layer < layer_elements.size(); ++layer) {
    const int64_t bytes = layer_elements[layer] * kv_element_bytes();
    const std::string what = absl::StrCat("cache pools, layer ", layer);
    RATTN_ASSIGN_OR_RETURN(DeviceMemory keys, DeviceMemory::Allocate(bytes, what, /*zero=*/true));
    RATTN_ASSIGN_OR_RETURN(DeviceMemory values, DeviceMemory::Allocate(bytes, what, /*zero=*/true));
    keys_.push_back(std::move(keys));
    values_.push_back(std::move(values));
  }
  RATTN_ASSIGN_OR_RETURN(states_, DeviceMemory::Allocate(state_elements * state_element_bytes(),
                                                         "cache pools, rla states", /*zero=*/true));
  return absl::OkStatus();
}

absl::Status CudaCacheStorage::Copy(void* to, const void* from, int64_t bytes) {
  RATTN_CUDA_RETURN_IF_ERROR(
      cudaMemcpyAsync(to, from, static_cast<size_t>(bytes), cudaMemcpyDeviceToDevice, stream_));
  return absl::OkStatus();
}

absl::Status CudaCacheStorage::Zero(void* to, int64_t bytes) {
  RATTN_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(to, 0, static_cast<size_t>(bytes), stream_));
  return absl::OkStatus();
}

}  // namespace rattn::cuda
