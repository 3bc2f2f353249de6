// The CUDA forward pass; see cuda_backend.h. Math: docs/model-format.md.
#include "engine/cuda/cuda_backend.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "engine/util/logging.h"
#include "engine/util/status_macros.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/gemm.h"
#include "kernels/cuda/linear_attention.h"

namespace rattn::cuda {
namespace {

namespace kc = kernels::cuda;
using engine::LogitsMode;
using engine::SequenceChunk;
using kc::bf16;

// Chunks of at most this many rows go to the decode kernels; longer ones are prefill tiles.
constexpr int kDecodeMaxRows = 4;
// cuBLAS gets a workspace of its own, so that it never allocates (which graph capture forbids).
constexpr int64_t kCublasWorkspaceBytes = int64_t{32} << 20;
// Sections of the step layout start at multiples of this.
constexpr int64_t kAlignment = 256;

int64_t Align(int64_t bytes) { return (bytes + kAlignment - 1) / kAlignment * kAlignment; }

double MiB(int64_t bytes) { return static_cast<double>(bytes) / (1 << 20); }

// The batch size a decode step of `rows` rows is padded to for its CUDA graph: the next power
// of two, or 0 when above `max`.
// The padded batch of a decode-only step of `rows` rows replayed from a graph, 0 for none: the
// next power of two, within the graph limit and the step buffers' rows.
int GraphBatch(int rows, int max_graph_batch, int max_step_rows) {
  int batch = 1;
  while (batch < rows) batch *= 2;
  return batch <= max_graph_batch && batch <= max_step_rows ? batch : 0;
}

template <typename T>
void CopySection(const std::vector<T>& values, char* base, int64_t offset) {
  if (!values.empty()) std::memcpy(base + offset, values.data(), values.size() * sizeof(T));
}

}  // namespace

bool CudaDeviceAvailable() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();
    return false;
  }
  return count > 0;
}

absl::Status CudaBackendOptions::Validate() const {
  if (device < 0) return absl::InvalidArgumentError("cuda backend: device must be >= 0");
  if (max_step_rows < 1 || max_step_rows > (1 << 20)) {
    return absl::InvalidArgumentError(
        absl::StrCat("cuda backend: max_step_rows must be in [1, 1048576], got ", max_step_rows));
  }
  if (max_graph_batch < 0) {
    return absl::InvalidArgumentError("cuda backend: max_graph_batch must be >= 0");
  }
  return absl::OkStatus();
}

bool CudaBackend::StepShape::operator<(const StepShape& o) const {
  auto key = [](const StepShape& s) {
    return std::tie(s.rows, s.sequences, s.decode_sequences, s.max_decode_rows, s.prefill_sequences,
                    s.prefill_tiles, s.prefill_rows, s.logit_rows, s.max_keys_global,
                    s.max_keys_local);
  };
  return key(*this) < key(o);
}

absl::StatusOr<std::unique_ptr<CudaBackend>> CudaBackend::Create(
    const model::Checkpoint& checkpoint, const CudaBackendOptions& options) {
  RATTN_RETURN_IF_ERROR(options.Validate());
  const model::ModelConfig& config = checkpoint.config();
  if (std::find(std::begin(kc::kHeadDims), std::end(kc::kHeadDims), config.head_dim) ==
      std::end(kc::kHeadDims)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cuda backend: head_dim ", config.head_dim,
        " is not one the CUDA kernels are built for (32, 64, 128); use --backend=cpu"));
  }
  const auto start = std::chrono::steady_clock::now();
  std::unique_ptr<CudaBackend> backend(new CudaBackend(config, options));
  RATTN_RETURN_IF_ERROR(backend->Initialize(checkpoint));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const auto [free_bytes, total_bytes] = DeviceMemoryInfo();
  RATTN_LOG(INFO) << "cuda backend: " << config.NumParameters() / 1e6 << "M parameters ("
                  << MiB(backend->weights_.TotalBytes()) << " MiB bf16) on "
                  << backend->device_name_ << " from " << checkpoint.directory() << " in "
                  << seconds << " s; steps of up to " << options.max_step_rows << " rows; "
                  << MiB(free_bytes) << " MiB of " << MiB(total_bytes) << " MiB free";
  return backend;
}

CudaBackend::CudaBackend(model::ModelConfig config, const CudaBackendOptions& options)
    : config_(std::move(config)), options_(options) {}

CudaBackend::~CudaBackend() {
  cudaSetDevice(options_.device);
  DropGraphs();
  if (cublas_ != nullptr) cublasDestroy(cublas_);
  if (stream_ != nullptr) cudaStreamDestroy(stream_);
}

absl::Status CudaBackend::Initialize(const model::Checkpoint& checkpoint) {
  int count = 0;
  RATTN_CUDA_RETURN_IF_ERROR(cudaGetDeviceCount(&count));
  if (options_.device >= count) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cuda backend: device ", options_.device, " asked for, but ", count, " device(s) found"));
  }
  RATTN_CUDA_RETURN_IF_ERROR(cudaSetDevice(options_.device));
  cudaDeviceProp properties;
  RATTN_CUDA_RETURN_IF_ERROR(cudaGetDeviceProperties(&properties, options_.device));
  device_name_ = absl::StrCat(properties.name, " (compute capability ", properties.major, ".",
                              properties.minor, ")");
  RATTN_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  RATTN_RETURN_IF_ERROR(kc::CublasStatus(cublasCreate(&cublas_), "cublasCreate"));
  RATTN_RETURN_IF_ERROR(kc::CublasStatus(cublasSetStream(cublas_, stream_), "cublasSetStream"));

  RATTN_ASSIGN_OR_RETURN(cpu::CpuWeights host,
                         cpu::CpuWeights::Load(checkpoint, cpu::WeightPrecision::kAsStored));
  const int64_t weight_bytes = CudaWeights::BytesFor(host);
  table_capacity_ = static_cast<int64_t>(options_.max_step_rows) * 16;
  layout_ = LayoutFor(table_capacity_);
  const int64_t step_bytes = StepBufferBytes() + layout_.bytes + kCublasWorkspaceBytes;
  const auto [free_bytes, total_bytes] = DeviceMemoryInfo();
  if (free_bytes >= 0 && weight_bytes + step_bytes > free_bytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat("cuda backend: the model needs ", MiB(weight_bytes),
                     " MiB of device memory for its bf16 ", "weights and ", MiB(step_bytes),
                     " MiB for steps of ", options_.max_step_rows, " rows, but ", device_name_,
                     " has ", MiB(free_bytes), " MiB free of ", MiB(total_bytes), " MiB"));
  }
  RATTN_ASSIGN_OR_RETURN(weights_, CudaWeights::Upload(host));
  RATTN_ASSIGN_OR_RETURN(cublas_workspace_,
                         DeviceMemory::Allocate(kCublasWorkspaceBytes, "cuBLAS workspace"));
  RATTN_RETURN_IF_ERROR(kc::CublasStatus(
      cublasSetWorkspace(cublas_, cublas_workspace_.get(), cublas_workspace_.bytes()),
      "cublasSetWorkspace"));
  return AllocateStepBuffers();
}

std::vector<std::pair<DeviceMemory*, int64_t>> CudaBackend::StepBuffers() {
  const int64_t r = options_.max_step_rows;
  const model::ModelConfig& c = config_;
  const int64_t qkv_width = c.query_width() + 2 * c.kv_width();
  const bool rla = c.NumRlaLayers() > 0;
  return {
      {&x_, r * c.hidden_size * 4},
      {&normed_, r * c.hidden_size * 2},
      {&qkv_, r * qkv_width * 4},
      {&q_, r * c.query_width() * 2},
      {&phi_q_, rla ? r * c.query_width() * 2 * 4 : 0},
      {&step_keys_, c.num_layers * r * c.kv_width() * 2},
      {&step_values_, c.num_layers * r * c.kv_width() * 2},
      {&softmax_out_, rla ? r * c.query_width() * 4 : 0},
      {&linear_out_, rla ? r * c.query_width() * 4 : 0},
      {&mixed_, r * c.query_width() * 2},
      {&mlp_, r * 2 * c.intermediate_size * 4},
      {&activation_, r * c.intermediate_size * 2},
      {&logits_, r * c.vocab_size * 4},
  };
}

int64_t CudaBackend::StepBufferBytes() {
  int64_t bytes = 0;
  for (const auto& [buffer, size] : StepBuffers()) bytes += size;
  return bytes;
}

absl::Status CudaBackend::AllocateStepBuffers() {
  for (const auto& [buffer, size] : StepBuffers()) {
    RATTN_ASSIGN_OR_RETURN(*buffer, DeviceMemory::Allocate(size, "cuda backend step buffers"));
  }
  const int64_t r = options_.max_step_rows;
  RATTN_ASSIGN_OR_RETURN(logits_host_,
                         PinnedMemory::Allocate(r * config_.vocab_size * 4, "logits"));
  RATTN_ASSIGN_OR_RETURN(plan_host_, PinnedMemory::Allocate(layout_.bytes, "step layout"));
  RATTN_ASSIGN_OR_RETURN(plan_device_, DeviceMemory::Allocate(layout_.bytes, "step layout"));
  const int64_t write_bytes = r * static_cast<int64_t>(sizeof(kc::CacheWrite));
  RATTN_ASSIGN_OR_RETURN(writes_host_, PinnedMemory::Allocate(write_bytes, "cache writes"));
  RATTN_ASSIGN_OR_RETURN(writes_device_, DeviceMemory::Allocate(write_bytes, "cache writes"));
  const int64_t layers = config_.num_layers;
  RATTN_ASSIGN_OR_RETURN(layer_keys_, DeviceMemory::Allocate(layers * 8, "pool pointers"));
  RATTN_ASSIGN_OR_RETURN(layer_values_, DeviceMemory::Allocate(layers * 8, "pool pointers"));
  RATTN_ASSIGN_OR_RETURN(layer_local_, DeviceMemory::Allocate(layers, "pool pointers"));
  return absl::OkStatus();
}

CudaBackend::PlanLayout CudaBackend::LayoutFor(int64_t table_entries) const {
  const int64_t r = options_.max_step_rows;
  PlanLayout l;
  int64_t at = 0;
  auto section = [&at](int64_t bytes) {
    const int64_t offset = at;
    at += Align(bytes);
    return offset;
  };
  l.tokens = section(4 * r);
  l.row_sequence = section(4 * r);
  l.row_position = section(4 * r);
  l.logit_rows = section(4 * r);
  l.sequences = section(static_cast<int64_t>(sizeof(kc::StepSequence)) * r);
  l.decode_sequences = section(4 * r);
  l.prefill_sequences = section(4 * r);
  l.prefill_rows = section(4 * r);
  l.tiles = section(static_cast<int64_t>(sizeof(kc::PrefillTile)) * r);
  l.block_tables = section(4 * table_entries);
  l.bytes = at;
  return l;
}

absl::StatusOr<std::unique_ptr<engine::CacheStorage>> CudaBackend::NewCacheStorage() {
  RATTN_CUDA_RETURN_IF_ERROR(cudaSetDevice(options_.device));
  return std::make_unique<CudaCacheStorage>(this, options_.device, stream_);
}

int64_t CudaBackend::CacheMemoryAvailable() const {
  if (cudaSetDevice(options_.device) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return std::max<int64_t>(0, DeviceMemoryInfo().first);
}

absl::StatusOr<CudaCacheStorage*> CudaBackend::StorageOf(std::span<const SequenceChunk> chunks) {
  CudaCacheStorage* storage = nullptr;
  for (size_t i = 0; i < chunks.size(); ++i) {
    auto* candidate = dynamic_cast<CudaCacheStorage*>(&chunks[i].cache->storage());
    if (candidate == nullptr || candidate->owner() != this) {
      return absl::InvalidArgumentError(
          absl::StrCat("chunk ", i,
                       ": its cache is not in this CUDA backend's device pools (make the pools "
                       "with the backend's NewCacheStorage())"));
    }
    if (storage != nullptr && candidate != storage) {
      return absl::InvalidArgumentError(
          absl::StrCat("chunk ", i, ": every cache of a step must come from the same pools"));
    }
    storage = candidate;
  }
  return storage;
}

absl::StatusOr<CudaBackend::StepShape> CudaBackend::BuildPlan(std::span<const SequenceChunk> chunks,
                                                              int pad_rows) {
  const int w = config_.sliding_window;
  std::vector<int32_t> tokens, row_sequence, row_position, logit_rows, decode, prefill,
      prefill_rows;
  std::vector<kc::StepSequence> sequences;
  std::vector<kc::PrefillTile> tiles;
  table_scratch_.clear();
  StepShape shape;
  for (size_t c = 0; c < chunks.size(); ++c) {
    const SequenceChunk& chunk = chunks[c];
    kc::StepSequence s;
    s.first_row = static_cast<int32_t>(tokens.size());
    s.num_rows = static_cast<int32_t>(chunk.tokens.size());
    s.start = static_cast<int32_t>(chunk.cache->length());
    s.global_table = static_cast<int32_t>(table_scratch_.size());
    for (int32_t block : chunk.cache->BlockTable(/*local=*/false)) table_scratch_.push_back(block);
    s.window_table = static_cast<int32_t>(table_scratch_.size());
    for (int32_t block : chunk.cache->BlockTable(/*local=*/true)) table_scratch_.push_back(block);
    s.rla_slot = chunk.cache->rla_slot();
    const int32_t index = static_cast<int32_t>(c);
    for (int i = 0; i < s.num_rows; ++i) {
      tokens.push_back(chunk.tokens[i]);
      row_sequence.push_back(index);
      row_position.push_back(s.start + i);
    }
    const int32_t end = s.start + s.num_rows;
    if (s.num_rows <= kDecodeMaxRows) {
      decode.push_back(index);
      shape.max_decode_rows = std::max(shape.max_decode_rows, s.num_rows);
      shape.max_keys_global = std::max(shape.max_keys_global, end);
      shape.max_keys_local = std::max(shape.max_keys_local, std::min(end, w + 1));
    } else {
      prefill.push_back(index);
      for (int r = 0; r < s.num_rows; r += kc::kPrefillTileRows) {
        tiles.push_back({index, s.first_row + r, std::min(kc::kPrefillTileRows, s.num_rows - r)});
      }
      for (int r = 0; r < s.num_rows; ++r) prefill_rows.push_back(s.first_row + r);
    }
    if (chunk.logits == LogitsMode::kLast) logit_rows.push_back(end - 1 - s.start + s.first_row);
    if (chunk.logits == LogitsMode::kAll) {
      for (int r = 0; r < s.num_rows; ++r) logit_rows.push_back(s.first_row + r);
    }
    sequences.push_back(s);
  }
  // Padding for a CUDA graph's batch: single rows at position 0 of no sequence's cache (they
  // read only their own step row, fold nothing, and nothing of them is stored).
  while (static_cast<int>(tokens.size()) < pad_rows) {
    kc::StepSequence s;
    s.first_row = static_cast<int32_t>(tokens.size());
    s.num_rows = 1;
    s.rla_slot = -1;
    const int32_t index = static_cast<int32_t>(sequences.size());
    tokens.push_back(0);
    row_sequence.push_back(index);
    row_position.push_back(0);
    decode.push_back(index);
    logit_rows.push_back(s.first_row);
    sequences.push_back(s);
    shape.max_decode_rows = std::max(shape.max_decode_rows, 1);
  }
  shape.rows = static_cast<int>(tokens.size());
  shape.sequences = static_cast<int>(sequences.size());
  shape.decode_sequences = static_cast<int>(decode.size());
  shape.prefill_sequences = static_cast<int>(prefill.size());
  shape.prefill_tiles = static_cast<int>(tiles.size());
  shape.prefill_rows = static_cast<int>(prefill_rows.size());
  shape.logit_rows = static_cast<int>(logit_rows.size());
  if (pad_rows > 0) {
    // A graph's launches must not depend on the lengths: bound the keys by the context.
    shape.max_keys_global = config_.max_position_embeddings;
    shape.max_keys_local = std::min(config_.max_position_embeddings, w + 1);
  }

  if (static_cast<int64_t>(table_scratch_.size()) > table_capacity_) {
    // Room for the tables: a new layout moves the device addresses graphs were captured with.
    table_capacity_ = std::max<int64_t>(table_scratch_.size(), 2 * table_capacity_);
    layout_ = LayoutFor(table_capacity_);
    RATTN_ASSIGN_OR_RETURN(plan_host_, PinnedMemory::Allocate(layout_.bytes, "step layout"));
    RATTN_ASSIGN_OR_RETURN(plan_device_, DeviceMemory::Allocate(layout_.bytes, "step layout"));
    DropGraphs();
  }
  char* base = plan_host_.as<char>();
  CopySection(tokens, base, layout_.tokens);
  CopySection(row_sequence, base, layout_.row_sequence);
  CopySection(row_position, base, layout_.row_position);
  CopySection(logit_rows, base, layout_.logit_rows);
  CopySection(sequences, base, layout_.sequences);
  CopySection(decode, base, layout_.decode_sequences);
  CopySection(prefill, base, layout_.prefill_sequences);
  CopySection(prefill_rows, base, layout_.prefill_rows);
  CopySection(tiles, base, layout_.tiles);
  CopySection(table_scratch_, base, layout_.block_tables);
  plan_used_bytes_ = layout_.block_tables + static_cast<int64_t>(table_scratch_.size()) * 4;
  return shape;
}

absl::Status CudaBackend::UploadPlan(CudaCacheStorage& storage) {
  if (layer_pointers_serial_ != storage.serial()) {
    std::vector<void*> keys(config_.num_layers), values(config_.num_layers);
    std::vector<uint8_t> local(config_.num_layers);
    for (int layer = 0; layer < config_.num_layers; ++layer) {
      keys[layer] = storage.keys(layer);
      values[layer] = storage.values(layer);
      local[layer] = config_.IsLocal(layer) ? 1 : 0;
    }
    RATTN_CUDA_RETURN_IF_ERROR(
        cudaMemcpy(layer_keys_.get(), keys.data(), keys.size() * 8, cudaMemcpyHostToDevice));
    RATTN_CUDA_RETURN_IF_ERROR(
        cudaMemcpy(layer_values_.get(), values.data(), values.size() * 8, cudaMemcpyHostToDevice));
    RATTN_CUDA_RETURN_IF_ERROR(
        cudaMemcpy(layer_local_.get(), local.data(), local.size(), cudaMemcpyHostToDevice));
    layer_pointers_serial_ = storage.serial();
  }
  RATTN_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(plan_device_.get(), plan_host_.get(),
                                             static_cast<size_t>(plan_used_bytes_),
                                             cudaMemcpyHostToDevice, stream_));
  return absl::OkStatus();
}

kc::StepView CudaBackend::View(const StepShape& shape) const {
  char* base = plan_device_.as<char>();
  kc::StepView view;
  view.sequences = reinterpret_cast<const kc::StepSequence*>(base + layout_.sequences);
  view.row_sequence = reinterpret_cast<const int32_t*>(base + layout_.row_sequence);
  view.row_position = reinterpret_cast<const int32_t*>(base + layout_.row_position);
  view.block_tables = reinterpret_cast<const int32_t*>(base + layout_.block_tables);
  view.num_sequences = shape.sequences;
  view.num_rows = shape.rows;
  view.block_size = block_size_;
  view.num_heads = config_.num_heads;
  view.num_kv_heads = config_.num_kv_heads;
  view.head_dim = config_.head_dim;
  return view;
}

kc::LayerKv CudaBackend::Kv(int layer) const {
  const int64_t stride = static_cast<int64_t>(options_.max_step_rows) * config_.kv_width();
  kc::LayerKv kv;
  kv.keys = static_cast<const bf16*>(storage_->keys(layer));
  kv.values = static_cast<const bf16*>(storage_->values(layer));
  kv.step_keys = step_keys_.as<bf16>() + layer * stride;
  kv.step_values = step_values_.as<bf16>() + layer * stride;
  kv.local = config_.IsLocal(layer);
  return kv;
}

absl::Status CudaBackend::Forward(std::span<const SequenceChunk> chunks,
                                  std::vector<float>* logits) {
  RATTN_RETURN_IF_ERROR(engine::ValidateChunks(config_, chunks));
  RATTN_ASSIGN_OR_RETURN(CudaCacheStorage * storage, StorageOf(chunks));
  int64_t rows = 0;
  bool decode_only = true;
  for (const SequenceChunk& chunk : chunks) {
    rows += static_cast<int64_t>(chunk.tokens.size());
    decode_only = decode_only && chunk.tokens.size() == 1 && chunk.logits == LogitsMode::kLast;
  }
  if (rows > options_.max_step_rows) {
    return absl::InvalidArgumentError(absl::StrCat("a step of ", rows, " rows is more than the ",
                                                   options_.max_step_rows,
                                                   " the CUDA backend was sized for"));
  }
  if (chunks.empty()) {
    logits->clear();
    return absl::OkStatus();
  }
  RATTN_CUDA_RETURN_IF_ERROR(cudaSetDevice(options_.device));
  if (storage->serial() != storage_serial_) {
    DropGraphs();  // graphs hold the pools' addresses
    storage_ = storage;
    storage_serial_ = storage->serial();
    block_size_ = chunks[0].cache->block_size();
  }
  const int graph_batch = decode_only ? GraphBatch(static_cast<int>(rows), options_.max_graph_batch,
                                                   options_.max_step_rows)
                                      : 0;
  RATTN_ASSIGN_OR_RETURN(const StepShape shape, BuildPlan(chunks, graph_batch));
  RATTN_RETURN_IF_ERROR(EnsureDecodeWorkspace(shape));
  RATTN_RETURN_IF_ERROR(UploadPlan(*storage));
  if (graph_batch > 0) {
    RATTN_RETURN_IF_ERROR(RunGraph(shape));
  } else {
    RATTN_RETURN_IF_ERROR(RunCompute(shape));
  }

  // The logits of the real rows (a graph's padding rows come after them).
  int64_t logit_rows = 0;
  for (const SequenceChunk& chunk : chunks) {
    if (chunk.logits == LogitsMode::kLast) logit_rows += 1;
    if (chunk.logits == LogitsMode::kAll) logit_rows += static_cast<int64_t>(chunk.tokens.size());
  }
  const int64_t logit_floats = logit_rows * config_.vocab_size;
  if (logit_floats > 0) {
    RATTN_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(logits_host_.get(), logits_.get(),
                                               static_cast<size_t>(logit_floats) * 4,
                                               cudaMemcpyDeviceToHost, stream_));
  }
  RATTN_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_));
  logits->assign(logits_host_.as<float>(), logits_host_.as<float>() + logit_floats);
  return StoreNewRows(chunks);
}

absl::Status CudaBackend::EnsureDecodeWorkspace(const StepShape& shape) {
  const int64_t floats =
      kc::DecodeAttentionWorkspaceFloats(shape.rows, config_.num_heads, config_.head_dim,
                                         std::max(shape.max_keys_global, shape.max_keys_local));
  if (floats * 4 <= decode_workspace_.bytes()) return absl::OkStatus();
  DropGraphs();  // they hold the old workspace's address
  RATTN_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_));
  decode_workspace_ = DeviceMemory();
  RATTN_ASSIGN_OR_RETURN(decode_workspace_,
                         DeviceMemory::Allocate(floats * 4, "decode attention workspace"));
  return absl::OkStatus();
}

absl::Status CudaBackend::RunCompute(const StepShape& shape) {
  const char* base = plan_device_.as<char>();
  const auto* tokens = reinterpret_cast<const int32_t*>(base + layout_.tokens);
  const auto* logit_rows = reinterpret_cast<const int32_t*>(base + layout_.logit_rows);
  const int hidden = config_.hidden_size;
  RATTN_RETURN_IF_ERROR(kc::EmbedRows(weights_.embed.as<bf16>(), tokens, shape.rows, hidden,
                                      x_.as<float>(), stream_));
  for (int layer = 0; layer < config_.num_layers; ++layer) {
    RATTN_RETURN_IF_ERROR(RunLayer(layer, shape));
  }
  if (shape.logit_rows == 0) return absl::OkStatus();
  RATTN_RETURN_IF_ERROR(kc::RmsNormRows(
      x_.as<float>(), logit_rows, weights_.final_norm.as<float>(), shape.logit_rows, hidden,
      static_cast<float>(config_.rms_norm_eps), normed_.as<bf16>(), stream_));
  return kc::GemmBf16(cublas_, normed_.as<bf16>(), weights_.output_projection(), shape.logit_rows,
                      hidden, config_.vocab_size, 0.0f, logits_.as<float>());
}

absl::Status CudaBackend::RunLayer(int layer, const StepShape& shape) {
  const CudaLayerWeights& w = weights_.layers[layer];
  const model::ModelConfig& c = config_;
  const int n = shape.rows;
  const int hidden = c.hidden_size;
  const int q_width = c.query_width();
  const int qkv_width = q_width + 2 * c.kv_width();
  const int inter = c.intermediate_size;
  const float eps = static_cast<float>(c.rms_norm_eps);
  const bool rla = c.HasRla(layer);
  const kc::StepView view = View(shape);
  const kc::LayerKv kv = Kv(layer);
  const char* base = plan_device_.as<char>();
  const auto* decode = reinterpret_cast<const int32_t*>(base + layout_.decode_sequences);
  const auto* prefill = reinterpret_cast<const int32_t*>(base + layout_.prefill_sequences);
  const auto* prefill_rows = reinterpret_cast<const int32_t*>(base + layout_.prefill_rows);
  const auto* tiles = reinterpret_cast<const kc::PrefillTile*>(base + layout_.tiles);

  RATTN_RETURN_IF_ERROR(kc::RmsNormRows(x_.as<float>(), nullptr, w.input_norm.as<float>(), n,
                                        hidden, eps, normed_.as<bf16>(), stream_));
  RATTN_RETURN_IF_ERROR(kc::GemmBf16(cublas_, normed_.as<bf16>(), w.qkv.as<bf16>(), n, hidden,
                                     qkv_width, 0.0f, qkv_.as<float>()));
  kc::PrepareQkvParams prepare;
  prepare.step = view;
  prepare.qkv = qkv_.as<float>();
  prepare.rope_theta = c.rope_theta;
  prepare.q = q_.as<bf16>();
  prepare.step_keys = const_cast<bf16*>(kv.step_keys);
  prepare.step_values = const_cast<bf16*>(kv.step_values);
  prepare.phi_q = rla ? phi_q_.as<float>() : nullptr;
  prepare.feature_map = c.rla_feature_map;
  RATTN_RETURN_IF_ERROR(kc::PrepareQkv(prepare, stream_));

  const int window = c.IsLocal(layer) ? c.sliding_window : -1;
  const float scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  if (shape.decode_sequences > 0) {
    kc::DecodeAttentionParams attention;
    attention.step = view;
    attention.kv = kv;
    attention.sequences = decode;
    attention.num_sequences = shape.decode_sequences;
    attention.max_rows_per_sequence = shape.max_decode_rows;
    attention.max_keys = c.IsLocal(layer) ? shape.max_keys_local : shape.max_keys_global;
    attention.q = q_.as<bf16>();
    attention.window = window;
    attention.scale = scale;
    attention.out = mixed_.as<bf16>();
    attention.workspace = decode_workspace_.as<float>();
    attention.workspace_floats = decode_workspace_.bytes() / 4;
    if (rla) {
      kc::RAttentionDecodeParams params;
      params.attention = attention;
      params.phi_q = phi_q_.as<float>();
      params.states = RlaStatesOf(layer);
      params.feature_map = c.rla_feature_map;
      params.rope_theta = c.rope_theta;
      params.swa_norm = w.swa_norm.as<float>();
      params.rla_norm = w.rla_norm.as<float>();
      params.norm_eps = static_cast<float>(c.rla_norm_eps);
      RATTN_RETURN_IF_ERROR(kc::RAttentionDecode(params, stream_));
    } else {
      RATTN_RETURN_IF_ERROR(kc::DecodeAttention(attention, stream_));
    }
  }
  if (shape.prefill_sequences > 0) {
    kc::PrefillAttentionParams attention;
    attention.step = view;
    attention.kv = kv;
    attention.tiles = tiles;
    attention.num_tiles = shape.prefill_tiles;
    attention.q = q_.as<bf16>();
    attention.window = window;
    attention.scale = scale;
    if (rla) {
      attention.out_f32 = softmax_out_.as<float>();
    } else {
      attention.out_bf16 = mixed_.as<bf16>();
    }
    RATTN_RETURN_IF_ERROR(kc::PrefillAttention(attention, stream_));
    if (rla) {
      kc::LinearAttentionPrefillParams linear;
      linear.step = view;
      linear.kv = kv;
      linear.sequences = prefill;
      linear.num_sequences = shape.prefill_sequences;
      linear.phi_q = phi_q_.as<float>();
      linear.states = RlaStatesOf(layer);
      linear.feature_map = c.rla_feature_map;
      linear.rope_theta = c.rope_theta;
      linear.window = c.sliding_window;
      linear.out = linear_out_.as<float>();
      RATTN_RETURN_IF_ERROR(kc::LinearAttentionPrefill(linear, stream_));
      RATTN_RETURN_IF_ERROR(kc::NormAndSumHeads(
          softmax_out_.as<float>(), linear_out_.as<float>(), prefill_rows, shape.prefill_rows,
          w.swa_norm.as<float>(), w.rla_norm.as<float>(), c.num_heads, c.head_dim,
          static_cast<float>(c.rla_norm_eps), mixed_.as<bf16>(), stream_));
    }
  }

  RATTN_RETURN_IF_ERROR(kc::GemmBf16(cublas_, mixed_.as<bf16>(), w.o.as<bf16>(), n, q_width, hidden,
                                     1.0f, x_.as<float>()));
  RATTN_RETURN_IF_ERROR(kc::RmsNormRows(x_.as<float>(), nullptr, w.post_norm.as<float>(), n, hidden,
                                        eps, normed_.as<bf16>(), stream_));
  RATTN_RETURN_IF_ERROR(kc::GemmBf16(cublas_, normed_.as<bf16>(), w.gate_up.as<bf16>(), n, hidden,
                                     2 * inter, 0.0f, mlp_.as<float>()));
  RATTN_RETURN_IF_ERROR(kc::SiluMul(mlp_.as<float>(), n, inter, activation_.as<bf16>(), stream_));
  return kc::GemmBf16(cublas_, activation_.as<bf16>(), w.down.as<bf16>(), n, inter, hidden, 1.0f,
                      x_.as<float>());
}

kc::RlaStates CudaBackend::RlaStatesOf(int layer) const {
  int index = 0;
  for (int l = 0; l < layer; ++l) index += config_.HasRla(l) ? 1 : 0;
  kc::RlaStates states;
  states.states = static_cast<float*>(storage_->states()) + index * config_.rla_state_floats();
  states.slot_stride = static_cast<int64_t>(config_.NumRlaLayers()) * config_.rla_state_floats();
  return states;
}

absl::Status CudaBackend::RunGraph(const StepShape& shape) {
  auto found = graphs_.find(shape);
  if (found == graphs_.end()) {
    cudaGraph_t graph = nullptr;
    RATTN_CUDA_RETURN_IF_ERROR(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
    const absl::Status computed = RunCompute(shape);
    const cudaError_t ended = cudaStreamEndCapture(stream_, &graph);
    cudaGraphExec_t exec = nullptr;
    absl::Status captured = computed;
    if (captured.ok()) captured = kc::CudaStatus(ended, "cudaStreamEndCapture");
    if (captured.ok()) {
      captured = kc::CudaStatus(cudaGraphInstantiate(&exec, graph, 0), "cudaGraphInstantiate");
    }
    if (graph != nullptr) cudaGraphDestroy(graph);
    if (!captured.ok()) {
      // Run without graphs from now on rather than fail the step.
      cudaGetLastError();
      RATTN_LOG(WARNING) << "cuda backend: CUDA graph capture failed (" << captured.message()
                         << "); decode steps run without graphs";
      options_.max_graph_batch = 0;
      return RunCompute(shape);
    }
    found = graphs_.emplace(shape, exec).first;
    RATTN_LOG(DEBUG) << "cuda backend: captured the graph of decode batch " << shape.rows;
  }
  RATTN_CUDA_RETURN_IF_ERROR(cudaGraphLaunch(found->second, stream_));
  ++graph_replays_;
  return absl::OkStatus();
}

void CudaBackend::DropGraphs() {
  if (graphs_.empty()) return;
  cudaStreamSynchronize(stream_);
  for (auto& [shape, exec] : graphs_) cudaGraphExecDestroy(exec);
  graphs_.clear();
}

absl::Status CudaBackend::StoreNewRows(std::span<const SequenceChunk> chunks) {
  const int block_size = block_size_;
  const bool has_global = config_.NumGlobalLayers() > 0;
  const bool has_local = config_.NumLocalLayers() > 0;
  auto* writes = writes_host_.as<kc::CacheWrite>();
  int32_t count = 0;
  int32_t first_row = 0;
  for (const SequenceChunk& chunk : chunks) {
    engine::SequenceCache& cache = *chunk.cache;
    const int64_t start = cache.length();
    const int64_t end = start + static_cast<int64_t>(chunk.tokens.size());
    cache.Commit(end);
    const std::span<const int32_t> global = cache.BlockTable(/*local=*/false);
    const std::span<const int32_t> window = cache.BlockTable(/*local=*/true);
    const int64_t window_from = end - config_.sliding_window - 1;
    for (int64_t p = start; p < end; ++p) {
      kc::CacheWrite write;
      write.step_row = first_row + static_cast<int32_t>(p - start);
      if (has_global) {
        write.global_row =
            global[p / block_size] * block_size + static_cast<int32_t>(p % block_size);
      }
      if (has_local && p >= window_from) {
        write.window_row =
            window[p / block_size] * block_size + static_cast<int32_t>(p % block_size);
      }
      if (write.global_row >= 0 || write.window_row >= 0) writes[count++] = write;
    }
    first_row += static_cast<int32_t>(chunk.tokens.size());
  }
  if (count == 0) return absl::OkStatus();
  RATTN_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(writes_device_.get(), writes_host_.get(),
                                             count * sizeof(kc::CacheWrite), cudaMemcpyHostToDevice,
                                             stream_));
  kc::CacheWriteParams params;
  params.writes = writes_device_.as<kc::CacheWrite>();
  params.num_writes = count;
  params.layer_keys = layer_keys_.as<bf16* const>();
  params.layer_values = layer_values_.as<bf16* const>();
  params.layer_local = layer_local_.as<uint8_t>();
  params.num_layers = config_.num_layers;
  params.step_keys = step_keys_.as<bf16>();
  params.step_values = step_values_.as<bf16>();
  params.step_layer_stride = static_cast<int64_t>(options_.max_step_rows) * config_.kv_width();
  params.kv_width = config_.kv_width();
  RATTN_RETURN_IF_ERROR(kc::WriteCacheRows(params, stream_));
  // The pinned writes are refilled by the next step.
  RATTN_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_));
  return absl::OkStatus();
}

}  // namespace rattn::cuda
