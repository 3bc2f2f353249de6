// Helpers for tests of the CUDA kernels and backend: skipping without a GPU, device buffers,
// bf16 conversions on the host, and error measures against the CPU reference.
#ifndef RATTN_TESTS_KERNELS_CUDA_CUDA_TEST_UTIL_H_
#define RATTN_TESTS_KERNELS_CUDA_CUDA_TEST_UTIL_H_

#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/util/float16.h"

namespace rattn::testing {

// Empty when a CUDA device can be used; otherwise why not.
inline std::string NoCudaDeviceReason() {
  int count = 0;
  const cudaError_t error = cudaGetDeviceCount(&count);
  if (error != cudaSuccess) {
    return std::string("no usable CUDA device (") + cudaGetErrorString(error) + ")";
  }
  if (count == 0) return "no CUDA device on this machine";
  return "";
}

// Skips the current test, saying why, when there is no GPU.
#define RATTN_REQUIRE_CUDA_DEVICE()                                                     \
  do {                                                                                  \
    if (std::string reason = ::rattn::testing::NoCudaDeviceReason(); !reason.empty()) { \
      GTEST_SKIP() << "GPU test skipped: " << reason;                                   \
    }                                                                                   \
  } while (0)

// A device allocation of `count` elements of T, freed on destruction.
template <typename T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t count) : count_(count) {
    if (count > 0 &&
        cudaMalloc(reinterpret_cast<void**>(&data_), count * sizeof(T)) != cudaSuccess) {
      ADD_FAILURE() << "cudaMalloc of " << count * sizeof(T) << " bytes failed";
      data_ = nullptr;
    }
    if (data_ != nullptr) cudaMemset(data_, 0, count * sizeof(T));
  }
  explicit DeviceBuffer(const std::vector<T>& host) : DeviceBuffer(host.size()) { Upload(host); }
  ~DeviceBuffer() {
    if (data_ != nullptr) cudaFree(data_);
  }
  DeviceBuffer(DeviceBuffer&& other) noexcept : data_(other.data_), count_(other.count_) {
    other.data_ = nullptr;
    other.count_ = 0;
  }
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept {
    std::swap(data_, other.data_);
    std::swap(count_, other.count_);
    return *this;
  }

  T* get() const { return data_; }
  size_t size() const { return count_; }

  void Upload(const std::vector<T>& host) {
    ASSERT_LE(host.size(), count_);
    ASSERT_EQ(cudaMemcpy(data_, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice),
              cudaSuccess);
  }
  std::vector<T> Download() const {
    std::vector<T> host(count_);
    EXPECT_EQ(cudaMemcpy(host.data(), data_, count_ * sizeof(T), cudaMemcpyDeviceToHost),
              cudaSuccess);
    return host;
  }

 private:
  T* data_ = nullptr;
  size_t count_ = 0;
};

// bf16 bit patterns of `values` (round to nearest even) and back.
inline std::vector<uint16_t> ToBf16(const std::vector<float>& values) {
  std::vector<uint16_t> bits(values.size());
  for (size_t i = 0; i < values.size(); ++i) bits[i] = FloatToBf16(values[i]);
  return bits;
}
inline std::vector<float> FromBf16(const std::vector<uint16_t>& bits) {
  std::vector<float> values(bits.size());
  for (size_t i = 0; i < bits.size(); ++i) values[i] = Bf16ToFloat(bits[i]);
  return values;
}
// The values bf16 can hold nearest to `values`: inputs for the CPU reference that match what
// the GPU reads exactly.
inline std::vector<float> RoundToBf16(const std::vector<float>& values) {
  return FromBf16(ToBf16(values));
}

// max |actual - expected| / max(max |expected|, floor): an error relative to the output's
// scale, so that entries near zero do not dominate.
inline double RelativeError(const std::vector<float>& actual, const std::vector<float>& expected,
                            double floor = 1e-6) {
  double worst = 0, scale = floor;
  for (size_t i = 0; i < expected.size(); ++i)
    scale = std::max(scale, std::fabs(double(expected[i])));
  for (size_t i = 0; i < expected.size() && i < actual.size(); ++i) {
    const double diff = std::fabs(double(actual[i]) - double(expected[i]));
    worst = std::max(worst, std::isnan(diff) ? INFINITY : diff);
  }
  if (actual.size() != expected.size()) return INFINITY;
  return worst / scale;
}

}  // namespace rattn::testing

#endif  // RATTN_TESTS_KERNELS_CUDA_CUDA_TEST_UTIL_H_
