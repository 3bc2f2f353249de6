// The CPU backend: the exact RAttention forward pass in fp32, with OpenBLAS for the projections
// and OpenMP across rows and heads for attention. It is the reference the CUDA backend is checked
// against, and runs the server on machines without a GPU.
#ifndef RATTN_ENGINE_CPU_CPU_BACKEND_H_
#define RATTN_ENGINE_CPU_CPU_BACKEND_H_

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/backend.h"
#include "engine/cpu/cpu_weights.h"
#include "engine/model/checkpoint.h"

namespace rattn::cpu {

struct CpuBackendOptions {
  // Threads for GEMMs and attention; 0 uses every core.
  int num_threads = 0;
  // kAsStored keeps bf16/f16 checkpoints' matrices in 16 bits: half the memory, and half the
  // bytes each decode step streams, with the same results.
  WeightPrecision weight_precision = WeightPrecision::kAsStored;
};

class CpuBackend : public engine::Backend {
 public:
  // Converts the checkpoint's weights to fp32; the checkpoint may be closed afterwards.
  static absl::StatusOr<std::unique_ptr<CpuBackend>> Create(const model::Checkpoint& checkpoint,
                                                            const CpuBackendOptions& options = {});

  absl::string_view name() const override { return "cpu"; }
  const model::ModelConfig& config() const override { return config_; }
  // Bytes of weights every step reads whole (the embedding table excepted).
  int64_t streamed_weight_bytes() const { return weights_.StreamedBytes(); }

  absl::Status Forward(std::span<const engine::SequenceChunk> chunks,
                       std::vector<float>* logits) override;

 private:
  CpuBackend(model::ModelConfig config, CpuWeights weights, const CpuBackendOptions& options);

  // Where each row of the step comes from.
  struct RowInfo {
    int chunk;
    int64_t position;
  };
  // Consecutive rows of one chunk whose softmax attention runs as GEMMs.
  struct QueryTile {
    int chunk;
    int first_row;
    int num_rows;
  };

  void PrepareRows(std::span<const engine::SequenceChunk> chunks);
  void RunLayer(int layer, std::span<const engine::SequenceChunk> chunks);
  void SoftmaxAttention(int layer);
  void ResidualLinearAttention(int layer, std::span<const engine::SequenceChunk> chunks);
  void ComputeLogits(std::span<const engine::SequenceChunk> chunks, std::vector<float>* logits);
  // Commits each chunk's positions and writes the new rows its cache keeps.
  void StoreNewRows(std::span<const engine::SequenceChunk> chunks);

  model::ModelConfig config_;
  CpuWeights weights_;
  int num_threads_;

  // Per-step workspace, grown as needed and reused across steps. N = rows in the step.
  std::vector<RowInfo> rows_;
  std::vector<int> chunk_first_row_;    // (chunks + 1): rows of chunk c are [first[c], first[c+1])
  std::vector<QueryTile> query_tiles_;  // prefill rows, attended tile by tile
  std::vector<int> single_rows_;        // decode rows and short chunks, attended row by row
  std::vector<kernels::SplitKv<float>> views_;  // (chunks): the current layer's rows per sequence
  std::vector<float> hidden_;                   // (N, hidden): the residual stream
  std::vector<float> normed_;                   // (N, hidden)
  std::vector<float> qkv_;                      // (N, (nh + 2 nkv) d)
  std::vector<float> phi_q_;                    // (N, nh, 2d): feature map of q before RoPE
  std::vector<float> attention_;                // (N, nh d): softmax branch, then the layer's mix
  std::vector<float> linear_attention_;         // (N, nh d): residual linear attention branch
  std::vector<float> step_keys_;    // (layers, N, kv width): the step's keys, after RoPE
  std::vector<float> step_values_;  // (layers, N, kv width)
  std::vector<float> mlp_;          // (N, 2 I): gate and up
  std::vector<float> activation_;   // (N, I)
  std::vector<float> rope_cos_;     // (N, d/2): at each row's position
  std::vector<float> rope_sin_;     // (N, d/2)
  std::vector<float> fold_cos_;     // (N, d/2): at the position leaving the window
  std::vector<float> fold_sin_;     // (N, d/2)
  std::vector<std::vector<float>> thread_scratch_;  // per thread: attention scores, phi(k)
};

}  // namespace rattn::cpu

#endif  // RATTN_ENGINE_CPU_CPU_BACKEND_H_
