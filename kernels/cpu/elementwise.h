// Row-wise operations of the transformer block for the CPU backend: RMSNorm, SwiGLU and RoPE.
// All fp32, row-major; no allocation.
#ifndef RATTN_KERNELS_CPU_ELEMENTWISE_H_
#define RATTN_KERNELS_CPU_ELEMENTWISE_H_

#include <cstdint>

namespace rattn::kernels::cpu {

// out[r] = x[r] / sqrt(mean(x[r]^2) + eps) * weight, for each of `rows` rows of `width`.
// `out` may alias `x`.
void RmsNormRows(const float* x, const float* weight, int rows, int width, float eps, float* out);

// The same per head, in place: x is (heads, head_dim), weight is (heads, head_dim).
void RmsNormHeads(float* x, const float* weight, int heads, int head_dim, float eps);

// out (rows, inter) = silu(gate) * up, where gate_up (rows, 2 * inter) holds gate then up.
void SiluMulRows(const float* gate_up, int rows, int inter, float* out);

// cos and sin (head_dim / 2 each) of position * theta^(-2i / head_dim), computed in double.
void RopeCosSin(int64_t position, double theta, int head_dim, float* cos, float* sin);

// Rotates each head of x (heads, head_dim) in the rotate-half convention: the pair (i, i + d/2)
// turns by angle i. ApplyInverseRope turns it back.
void ApplyRope(float* x, int heads, int head_dim, const float* cos, const float* sin);
void ApplyInverseRope(float* x, int heads, int head_dim, const float* cos, const float* sin);

}  // namespace rattn::kernels::cpu

#endif  // RATTN_KERNELS_CPU_ELEMENTWISE_H_
