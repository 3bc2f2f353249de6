// cuBLAS products; see gemm.h.
#include "kernels/cuda/gemm.h"

#include "absl/strings/str_cat.h"

namespace rattn::kernels::cuda {

absl::Status CublasStatus(cublasStatus_t status, absl::string_view what) {
  if (status == CUBLAS_STATUS_SUCCESS) return absl::OkStatus();
  return absl::InternalError(absl::StrCat(what, ": ", cublasGetStatusName(status), " (",
                                          cublasGetStatusString(status), ")"));
}

absl::Status GemmBf16(cublasHandle_t handle, const bf16* x, const bf16* w, int rows, int in,
                      int out, float beta, float* y) {
  if (rows <= 0 || in <= 0 || out <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("gemm: sizes must be positive, got rows ", rows, ", in ", in, ", out ", out));
  }
  if (x == nullptr || w == nullptr || y == nullptr) {
    return absl::InvalidArgumentError("gemm: x, w and y must be set");
  }
  // Column-major view: y^T (out, rows) = w (in, out)^T * x^T (in, rows).
  const float alpha = 1.0f;
  return CublasStatus(cublasGemmEx(handle, CUBLAS_OP_T, CUBLAS_OP_N, out, rows, in, &alpha, w,
                                   CUDA_R_16BF, in, x, CUDA_R_16BF, in, &beta, y, CUDA_R_32F, out,
                                   CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                      "cublasGemmEx (bf16 x bf16 -> fp32)");
}

}  // namespace rattn::kernels::cuda
