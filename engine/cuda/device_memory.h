// Owners of device memory and of page-locked host memory for the CUDA backend. Allocation
// failures come back as RESOURCE_EXHAUSTED with the size asked for and what the device has
// free, so that a model or budget too large for the GPU is refused with numbers in the message.
#ifndef RATTN_ENGINE_CUDA_DEVICE_MEMORY_H_
#define RATTN_ENGINE_CUDA_DEVICE_MEMORY_H_

#include <cstdint>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace rattn::cuda {

// Bytes free and in all on the current device; {-1, -1} when they cannot be read.
std::pair<int64_t, int64_t> DeviceMemoryInfo();

// One cudaMalloc'd region.
class DeviceMemory {
 public:
  DeviceMemory() = default;
  ~DeviceMemory();
  DeviceMemory(DeviceMemory&& other) noexcept { *this = std::move(other); }
  DeviceMemory& operator=(DeviceMemory&& other) noexcept;

  // `bytes` of device memory (zeroed when `zero`), `what` naming it in errors.
  static absl::StatusOr<DeviceMemory> Allocate(int64_t bytes, absl::string_view what,
                                               bool zero = false);

  void* get() const { return data_; }
  template <typename T>
  T* as() const {
    return static_cast<T*>(data_);
  }
  int64_t bytes() const { return bytes_; }

 private:
  void* data_ = nullptr;
  int64_t bytes_ = 0;
};

// One cudaMallocHost'd region (page-locked, so copies to and from it run asynchronously).
class PinnedMemory {
 public:
  PinnedMemory() = default;
  ~PinnedMemory();
  PinnedMemory(PinnedMemory&& other) noexcept { *this = std::move(other); }
  PinnedMemory& operator=(PinnedMemory&& other) noexcept;

  static absl::StatusOr<PinnedMemory> Allocate(int64_t bytes, absl::string_view what);

  void* get() const { return data_; }
  template <typename T>
  T* as() const {
    return static_cast<T*>(data_);
  }
  int64_t bytes() const { return bytes_; }

 private:
  void* data_ = nullptr;
  int64_t bytes_ = 0;
};

}  // namespace rattn::cuda

#endif  // RATTN_ENGINE_CUDA_DEVICE_MEMORY_H_
