// A model's weights in host memory, laid out for the CPU backend: the q, k and v projections
// stacked into one matrix, and the gate and up projections into another, so each takes one
// product. Matrices keep a 16-bit checkpoint's precision (bf16 or f16; the kernels convert as
// they read, computing exactly what converting at load would) unless fp32 is asked for; norm
// weights are always fp32.
#ifndef RATTN_ENGINE_CPU_CPU_WEIGHTS_H_
#define RATTN_ENGINE_CPU_CPU_WEIGHTS_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/model/checkpoint.h"
#include "kernels/cpu/weights.h"

namespace rattn::cpu {

// How weight matrices are held in memory.
enum class WeightPrecision {
  kAsStored,  // bf16 or f16 when every tensor of a matrix is stored so; else fp32
  kFloat32,   // always fp32
};

// One weight matrix, (rows, cols) row-major, in fp32 or as 16-bit patterns.
struct HostMatrix {
  kernels::cpu::WeightType type = kernels::cpu::WeightType::kF32;
  std::vector<float> f32;
  std::vector<uint16_t> bits16;

  kernels::cpu::WeightMatrix view() const {
    return type == kernels::cpu::WeightType::kF32 ? kernels::cpu::WeightMatrix{f32.data(), type}
                                                  : kernels::cpu::WeightMatrix{bits16.data(), type};
  }
  int64_t bytes() const {
    return static_cast<int64_t>(f32.size() * sizeof(float) + bits16.size() * sizeof(uint16_t));
  }
};

struct CpuLayerWeights {
  std::vector<float> input_norm;  // (hidden)
  HostMatrix qkv;                 // ((num_heads + 2 * num_kv_heads) * head_dim, hidden)
  HostMatrix o;                   // (hidden, num_heads * head_dim)
  std::vector<float> swa_norm;    // (num_heads, head_dim); rattention layers only
  std::vector<float> rla_norm;    // (num_heads, head_dim); rattention layers only
  std::vector<float> post_norm;   // (hidden)
  HostMatrix gate_up;             // (2 * intermediate, hidden): gate rows, then up rows
  HostMatrix down;                // (hidden, intermediate)
};

struct CpuWeights {
  HostMatrix embed;  // (vocab, hidden)
  std::vector<CpuLayerWeights> layers;
  std::vector<float> final_norm;  // (hidden)
  HostMatrix lm_head;             // (vocab, hidden); empty when tied to `embed`

  const HostMatrix& output_projection() const {
    return lm_head.f32.empty() && lm_head.bits16.empty() ? embed : lm_head;
  }
  // Bytes of every matrix a forward step reads whole (all but the embedding table).
  int64_t StreamedBytes() const;
  int64_t TotalBytes() const;

  // Reads every tensor of `checkpoint`, refusing non-finite values.
  static absl::StatusOr<CpuWeights> Load(const model::Checkpoint& checkpoint,
                                         WeightPrecision precision);
};

}  // namespace rattn::cpu

#endif  // RATTN_ENGINE_CPU_CPU_WEIGHTS_H_
