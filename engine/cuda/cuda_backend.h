// The CUDA backend: the RAttention forward pass on one GPU, driven by the same scheduler and
// cache bookkeeping as the CPU backend, which is its reference. Weights are bf16 in device
// memory; the residual stream, softmax and every accumulation are fp32; the linear-attention
// states are fp32; keys and values are cached in bf16 in device pools (CudaCacheStorage).
//
// A step: the host packs the step's layout (tokens, positions, sequences, block tables; see
// kernels/cuda/step_view.h) into page-locked memory and copies it to the device in one copy;
// then per layer RMSNorm, the qkv GEMM (cuBLAS, bf16 in, fp32 out), RoPE and the feature map,
// attention (fused decode kernels for sequences with a few rows, tensor-core tiles for prefill
// chunks), the o GEMM into the residual, RMSNorm, gate/up GEMM, SwiGLU and the down GEMM; then
// the final norm and lm_head for the rows that need logits, copied back. After the step the
// caches commit and the rows they keep are copied from the step's buffers into the pools.
// Decode-only steps of common batch sizes replay a CUDA graph of the whole computation.
#ifndef RATTN_ENGINE_CUDA_CUDA_BACKEND_H_
#define RATTN_ENGINE_CUDA_CUDA_BACKEND_H_

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/backend.h"
#include "engine/cuda/cuda_cache_storage.h"
#include "engine/cuda/cuda_weights.h"
#include "engine/cuda/device_memory.h"
#include "engine/model/checkpoint.h"
#include "kernels/cuda/attention.h"
#include "kernels/cuda/elementwise.h"

namespace rattn::cuda {

struct CudaBackendOptions {
  int device = 0;
  // The most rows (tokens) one step computes: the engine's max_tokens_per_step. Step buffers
  // are sized for it at start; larger steps are refused.
  int max_step_rows = 2048;
  // Replay decode-only steps of batch sizes 1, 2, 4, ... up to this from CUDA graphs (0: never).
  int max_graph_batch = 256;

  absl::Status Validate() const;
};

// True when the CUDA runtime sees at least one device (for --backend=auto).
bool CudaDeviceAvailable();

class CudaBackend : public engine::Backend {
 public:
  // Uploads the checkpoint's weights to `options.device` and sizes the step buffers; refuses
  // (RESOURCE_EXHAUSTED, with the sizes) when the device has not the memory for them, and
  // (INVALID_ARGUMENT) models whose head size the kernels are not built for.
  static absl::StatusOr<std::unique_ptr<CudaBackend>> Create(const model::Checkpoint& checkpoint,
                                                             const CudaBackendOptions& options);
  ~CudaBackend() override;

  absl::string_view name() const override { return "cuda"; }
  const model::ModelConfig& config() const override { return config_; }
  absl::Status Forward(std::span<const engine::SequenceChunk> chunks,
                       std::vector<float>* logits) override;
  absl::StatusOr<std::unique_ptr<engine::CacheStorage>> NewCacheStorage() override;
  int64_t CacheMemoryAvailable() const override;

  // Bytes of weights every step reads whole (the embedding table excepted).
  int64_t streamed_weight_bytes() const { return weights_.StreamedBytes(); }
  const std::string& device_name() const { return device_name_; }
  // Steps that replayed a CUDA graph, and graphs captured, since start.
  int64_t graph_replays() const { return graph_replays_; }
  int graphs_captured() const { return static_cast<int>(graphs_.size()); }

 private:
  // What a step computes, in counts: the launch parameters depend on nothing else, so a
  // decode shape padded to a batch size is the key of its CUDA graph.
  struct StepShape {
    int rows = 0;
    int sequences = 0;
    int decode_sequences = 0;
    int max_decode_rows = 0;  // the most rows of a decode sequence
    int prefill_sequences = 0;
    int prefill_tiles = 0;
    int prefill_rows = 0;
    int logit_rows = 0;
    int max_keys_global = 0;  // the most keys a decode row attends in a global layer
    int max_keys_local = 0;   // ... in a local layer
    bool operator<(const StepShape& o) const;
  };
  // Offsets of the sections of the step layout, the same in the pinned and device copies.
  struct PlanLayout {
    int64_t tokens, row_sequence, row_position, logit_rows, sequences, decode_sequences,
        prefill_sequences, prefill_rows, tiles, block_tables, bytes;
  };

  CudaBackend(model::ModelConfig config, const CudaBackendOptions& options);
  absl::Status Initialize(const model::Checkpoint& checkpoint);
  // The step buffers and their sizes for max_step_rows rows.
  std::vector<std::pair<DeviceMemory*, int64_t>> StepBuffers();
  int64_t StepBufferBytes();
  absl::Status AllocateStepBuffers();
  // Grows the split-KV workspace to what `shape` needs.
  absl::Status EnsureDecodeWorkspace(const StepShape& shape);
  // Layer `layer`'s states in the current pools.
  kernels::cuda::RlaStates RlaStatesOf(int layer) const;
  PlanLayout LayoutFor(int64_t table_entries) const;
  // The storage every chunk's cache must share, one of ours.
  absl::StatusOr<CudaCacheStorage*> StorageOf(std::span<const engine::SequenceChunk> chunks);
  // Fills the pinned plan for `chunks` (padded to `pad_rows` single-row sequences when > 0)
  // and returns its shape.
  absl::StatusOr<StepShape> BuildPlan(std::span<const engine::SequenceChunk> chunks, int pad_rows);
  absl::Status UploadPlan(CudaCacheStorage& storage);
  // Launches the whole step on the stream for `shape`: embedding, layers, final norm, lm_head.
  absl::Status RunCompute(const StepShape& shape);
  absl::Status RunLayer(int layer, const StepShape& shape);
  // Runs `shape` through its CUDA graph, capturing it first if needed.
  absl::Status RunGraph(const StepShape& shape);
  // Commits the caches and copies the rows they keep from the step into the pools.
  absl::Status StoreNewRows(std::span<const engine::SequenceChunk> chunks);
  void DropGraphs();
  kernels::cuda::StepView View(const StepShape& shape) const;
  kernels::cuda::LayerKv Kv(int layer) const;

  model::ModelConfig config_;
  CudaBackendOptions options_;
  std::string device_name_;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  CudaWeights weights_;

  // The step layout: host (pinned) and device copies, and the table capacity they hold.
  PinnedMemory plan_host_;
  DeviceMemory plan_device_;
  int64_t table_capacity_ = 0;
  PlanLayout layout_{};
  int64_t plan_used_bytes_ = 0;
  CudaCacheStorage* storage_ = nullptr;  // the pools of the current step
  uint64_t storage_serial_ = 0;          // its serial (0: none yet)
  int32_t block_size_ = 0;               // theirs
  // Per layer pool bases on the device, for WriteCacheRows, and the storage they belong to.
  DeviceMemory layer_keys_, layer_values_, layer_local_;
  uint64_t layer_pointers_serial_ = 0;
  PinnedMemory writes_host_;
  DeviceMemory writes_device_;

  // Step buffers, R = max_step_rows.
  DeviceMemory x_;            // (R, hidden) fp32: the residual stream
  DeviceMemory normed_;       // (R, hidden) bf16
  DeviceMemory qkv_;          // (R, (nh + 2 nkv) d) fp32
  DeviceMemory q_;            // (R, nh, d) bf16, after RoPE
  DeviceMemory phi_q_;        // (R, nh, 2d) fp32; models with rattention layers
  DeviceMemory step_keys_;    // (layers, R, nkv, d) bf16, after RoPE
  DeviceMemory step_values_;  // (layers, R, nkv, d) bf16
  DeviceMemory softmax_out_;  // (R, nh, d) fp32: rattention prefill's softmax branch
  DeviceMemory linear_out_;   // (R, nh, d) fp32: its linear branch
  DeviceMemory mixed_;        // (R, nh, d) bf16: attention output, o_proj's input
  DeviceMemory mlp_;          // (R, 2 I) fp32: gate and up
  DeviceMemory activation_;   // (R, I) bf16
  DeviceMemory logits_;       // (R, vocab) fp32
  DeviceMemory decode_workspace_;
  DeviceMemory cublas_workspace_;
  PinnedMemory logits_host_;  // (R, vocab) fp32

  std::map<StepShape, cudaGraphExec_t> graphs_;
  int64_t graph_replays_ = 0;
  std::vector<int32_t> table_scratch_;  // host: the block tables of a step before packing
};

}  // namespace rattn::cuda

#endif  // RATTN_ENGINE_CUDA_CUDA_BACKEND_H_
