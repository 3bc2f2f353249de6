// Turns CUDA runtime errors into absl::Status for the host launchers of kernels/cuda and the
// CUDA backend: every call that can fail is wrapped, and every launch is followed by a check of
// cudaGetLastError(), so that a failure becomes a message naming the call instead of a crash.
#ifndef RATTN_KERNELS_CUDA_CUDA_CHECK_H_
#define RATTN_KERNELS_CUDA_CUDA_CHECK_H_

#include <cuda_runtime_api.h>

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace rattn::kernels::cuda {

// OK for cudaSuccess; otherwise INTERNAL (RESOURCE_EXHAUSTED for an allocation that failed)
// with `what`, the error's name and its description.
inline absl::Status CudaStatus(cudaError_t error, absl::string_view what) {
  if (error == cudaSuccess) return absl::OkStatus();
  std::string message =
      absl::StrCat(what, ": ", cudaGetErrorName(error), " (", cudaGetErrorString(error), ")");
  if (error == cudaErrorMemoryAllocation) return absl::ResourceExhaustedError(message);
  return absl::InternalError(message);
}

// The status of the last kernel launch (a bad configuration shows here at once; faults inside
// the kernel show at the next synchronizing call).
inline absl::Status LaunchStatus(absl::string_view kernel) {
  return CudaStatus(cudaGetLastError(), absl::StrCat("launch of ", kernel));
}

// INVALID_ARGUMENT "<kernel>: <what>", the launchers' answer to parameters they refuse.
inline absl::Status InvalidParams(absl::string_view kernel, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(kernel, ": ", what));
}

inline absl::Status CheckSet(absl::string_view kernel, absl::string_view name,
                             const void* pointer) {
  if (pointer == nullptr) return InvalidParams(kernel, absl::StrCat(name, " is null"));
  return absl::OkStatus();
}

inline absl::Status CheckPositive(absl::string_view kernel, absl::string_view name, int64_t value) {
  if (value <= 0) {
    return InvalidParams(kernel, absl::StrCat(name, " must be positive, got ", value));
  }
  return absl::OkStatus();
}

}  // namespace rattn::kernels::cuda

// Returns from the enclosing function with a Status naming `call` when it does not succeed.
#define RATTN_CUDA_RETURN_IF_ERROR(call)                                                    \
  do {                                                                                      \
    if (absl::Status rattn_cuda_status = ::rattn::kernels::cuda::CudaStatus((call), #call); \
        !rattn_cuda_status.ok()) {                                                          \
      return rattn_cuda_status;                                                             \
    }                                                                                       \
  } while (0)

#endif  // RATTN_KERNELS_CUDA_CUDA_CHECK_H_
