// Dense products of the CUDA backend through cuBLAS: bf16 activations times bf16 weights as
// stored in checkpoints (nn.Linear, (out, in) row-major), fp32 accumulation and output, so the
// residual stream stays fp32 and beta = 1 adds a projection into it.
#ifndef RATTN_KERNELS_CUDA_GEMM_H_
#define RATTN_KERNELS_CUDA_GEMM_H_

#include <cublas_v2.h>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "kernels/cuda/step_view.h"

namespace rattn::kernels::cuda {

// OK for CUBLAS_STATUS_SUCCESS; otherwise INTERNAL with `what` and the status' name.
absl::Status CublasStatus(cublasStatus_t status, absl::string_view what);

// y (rows, out) = x (rows, in) * w^T + beta * y, with w (out, in); all row-major and dense, on
// the handle's stream. INVALID_ARGUMENT for non-positive sizes or null pointers.
absl::Status GemmBf16(cublasHandle_t handle, const bf16* x, const bf16* w, int rows, int in,
                      int out, float beta, float* y);

}  // namespace rattn::kernels::cuda

#endif  // RATTN_KERNELS_CUDA_GEMM_H_
