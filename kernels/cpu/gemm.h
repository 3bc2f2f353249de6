// Dense matrix products for the CPU backend: OpenBLAS kernels, run single-threaded inside
// OpenMP threads that split the output columns. One thread pool (OpenMP's) serves GEMMs and
// attention alike; a second pool (OpenBLAS's own) would spin against it on every switch.
#ifndef RATTN_KERNELS_CPU_GEMM_H_
#define RATTN_KERNELS_CPU_GEMM_H_

namespace rattn::kernels::cpu {

// y = x * w^T + beta * y, where x is (rows, in), w is (out, in) as stored in checkpoints
// (nn.Linear weights), and y is (rows, out). All row-major and dense. Uses up to `threads`
// OpenMP threads.
void MatMulTransposedWeights(const float* x, const float* w, int rows, int in, int out, float* y,
                             float beta = 0.0f, int threads = 1);

// Makes OpenBLAS run every call on the calling thread; call once before the first product.
void UseCallerThreadsForBlas();

}  // namespace rattn::kernels::cpu

#endif  // RATTN_KERNELS_CPU_GEMM_H_
