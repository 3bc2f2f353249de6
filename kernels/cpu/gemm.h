// Dense matrix products for the CPU backend, on OpenBLAS.
#ifndef RATTN_KERNELS_CPU_GEMM_H_
#define RATTN_KERNELS_CPU_GEMM_H_

namespace rattn::kernels::cpu {

// y = x * w^T + beta * y, where x is (rows, in), w is (out, in) as stored in checkpoints
// (nn.Linear weights), and y is (rows, out). All row-major and dense.
void MatMulTransposedWeights(const float* x, const float* w, int rows, int in, int out, float* y,
                             float beta = 0.0f);

// Sets the number of threads the BLAS library uses (0: leave its default).
void SetBlasThreads(int threads);

}  // namespace rattn::kernels::cpu

#endif  // RATTN_KERNELS_CPU_GEMM_H_
