// Device and pinned host memory; see device_memory.h.
#include "engine/cuda/device_memory.h"

#include <cuda_runtime_api.h>

#include "absl/strings/str_cat.h"
#include "kernels/cuda/cuda_check.h"

namespace rattn::cuda {
namespace {

double MiB(int64_t bytes) { return static_cast<double>(bytes) / (1 << 20); }

}  // namespace

std::pair<int64_t, int64_t> DeviceMemoryInfo() {
  size_t free_bytes = 0, total_bytes = 0;
  if (cudaMemGetInfo(&free_bytes, &total_bytes) != cudaSuccess) {
    cudaGetLastError();  // clear it
    return {-1, -1};
  }
  return {static_cast<int64_t>(free_bytes), static_cast<int64_t>(total_bytes)};
}

DeviceMemory::~DeviceMemory() {
  if (data_ != nullptr) cudaFree(data_);
}

DeviceMemory& DeviceMemory::operator=(DeviceMemory&& other) noexcept {
  std::swap(data_, other.data_);
  std::swap(bytes_, other.bytes_);
  return *this;
}

absl::StatusOr<DeviceMemory> DeviceMemory::Allocate(int64_t bytes, absl::string_view what,
                                                    bool zero) {
  DeviceMemory memory;
  if (bytes <= 0) return memory;
  const cudaError_t error = cudaMalloc(&memory.data_, static_cast<size_t>(bytes));
  if (error != cudaSuccess) {
    cudaGetLastError();
    memory.data_ = nullptr;
    const auto [free_bytes, total_bytes] = DeviceMemoryInfo();
    return absl::ResourceExhaustedError(absl::StrCat(
        what, ": could not allocate ", MiB(bytes), " MiB of device memory (", MiB(free_bytes),
        " MiB free of ", MiB(total_bytes), " MiB): ", cudaGetErrorString(error)));
  }
  memory.bytes_ = bytes;
  if (zero) {
    RATTN_CUDA_RETURN_IF_ERROR(cudaMemset(memory.data_, 0, static_cast<size_t>(bytes)));
  }
  return memory;
}

PinnedMemory::~PinnedMemory() {
  if (data_ != nullptr) cudaFreeHost(data_);
}

PinnedMemory& PinnedMemory::operator=(PinnedMemory&& other) noexcept {
  std::swap(data_, other.data_);
  std::swap(bytes_, other.bytes_);
  return *this;
}

absl::StatusOr<PinnedMemory> PinnedMemory::Allocate(int64_t bytes, absl::string_view what) {
  PinnedMemory memory;
  if (bytes <= 0) return memory;
  const cudaError_t error = cudaMallocHost(&memory.data_, static_cast<size_t>(bytes));
  if (error != cudaSuccess) {
    cudaGetLastError();
    memory.data_ = nullptr;
    return absl::ResourceExhaustedError(
        absl::StrCat(what, ": could not allocate ", MiB(bytes),
                     " MiB of pinned host memory: ", cudaGetErrorString(error)));
  }
  memory.bytes_ = bytes;
  return memory;
}

}  // namespace rattn::cuda
