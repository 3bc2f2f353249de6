// A model's weights in fp32 host memory, laid out for the CPU backend: the q, k and v
// projections stacked into one matrix, and the gate and up projections into another, so each
// takes one GEMM.
#ifndef RATTN_ENGINE_CPU_CPU_WEIGHTS_H_
#define RATTN_ENGINE_CPU_CPU_WEIGHTS_H_

#include <vector>

#include "absl/status/statusor.h"
#include "engine/model/checkpoint.h"

namespace rattn::cpu {

struct CpuLayerWeights {
  std::vector<float> input_norm;  // (hidden)
  std::vector<float> qkv;         // ((num_heads + 2 * num_kv_heads) * head_dim, hidden)
  std::vector<float> o;           // (hidden, num_heads * head_dim)
  std::vector<float> swa_norm;    // (num_heads, head_dim); rattention layers only
  std::vector<float> rla_norm;    // (num_heads, head_dim); rattention layers only
  std::vector<float> post_norm;   // (hidden)
  std::vector<float> gate_up;     // (2 * intermediate, hidden): gate rows, then up rows
  std::vector<float> down;        // (hidden, intermediate)
};

struct CpuWeights {
  std::vector<float> embed;  // (vocab, hidden)
  std::vector<CpuLayerWeights> layers;
  std::vector<float> final_norm;  // (hidden)
  std::vector<float> lm_head;     // (vocab, hidden); empty when tied to `embed`

  const float* output_projection() const { return lm_head.empty() ? embed.data() : lm_head.data(); }

  // Converts every tensor of `checkpoint` to fp32, refusing non-finite values.
  static absl::StatusOr<CpuWeights> Load(const model::Checkpoint& checkpoint);
};

}  // namespace rattn::cpu

#endif  // RATTN_ENGINE_CPU_CPU_WEIGHTS_H_
