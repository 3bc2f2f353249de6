// The fp32 CPU forward pass; see cpu_backend.h. Math: docs/model-format.md.
#include "engine/cpu/cpu_backend.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <vector>

#include "engine/util/logging.h"
#include "engine/util/status_macros.h"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/gemm.h"

namespace rattn::cpu {
namespace {

namespace kc = kernels::cpu;
using engine::LogitsMode;
using engine::SequenceChunk;

// Chunks of at least this many rows attend tile by tile, as GEMMs.
constexpr int kMinTileRows = 8;
constexpr int kMaxTileRows = 64;
// A tile's score matrix (query rows x heads per kv head x keys) stays under this many floats.
constexpr int64_t kTileScoreBudget = int64_t{4} << 20;

// Grows `buffer` to at least `size` elements; never shrinks, so steady-state steps allocate
// nothing.
float* Ensure(std::vector<float>& buffer, size_t size) {
  if (buffer.size() < size) buffer.resize(size);
  return buffer.data();
}

}  // namespace

absl::StatusOr<std::unique_ptr<CpuBackend>> CpuBackend::Create(const model::Checkpoint& checkpoint,
                                                               const CpuBackendOptions& options) {
  if (options.num_threads < 0) {
    return absl::InvalidArgumentError("cpu backend: num_threads must be >= 0");
  }
  auto start = std::chrono::steady_clock::now();
  RATTN_ASSIGN_OR_RETURN(CpuWeights weights,
                         CpuWeights::Load(checkpoint, options.weight_precision));
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const model::ModelConfig& config = checkpoint.config();
  std::unique_ptr<CpuBackend> backend(new CpuBackend(config, std::move(weights), options));
  RATTN_LOG(INFO) << "cpu backend: " << config.NumParameters() / 1e6 << "M parameters ("
                  << backend->weights_.TotalBytes() / (1 << 20) << " MiB) from "
                  << checkpoint.directory() << " in " << seconds << " s; " << backend->num_threads_
                  << " threads";
  return backend;
}

CpuBackend::CpuBackend(model::ModelConfig config, CpuWeights weights,
                       const CpuBackendOptions& options)
    : config_(std::move(config)),
      weights_(std::move(weights)),
      num_threads_(options.num_threads > 0 ? options.num_threads : omp_get_max_threads()) {
  kc::UseCallerThreadsForBlas();
  thread_scratch_.resize(num_threads_);
}

absl::Status CpuBackend::Forward(std::span<const SequenceChunk> chunks,
                                 std::vector<float>* logits) {
  RATTN_RETURN_IF_ERROR(engine::ValidateChunks(config_, chunks));
  PrepareRows(chunks);

  const int hidden = config_.hidden_size;
  float* x = Ensure(hidden_, rows_.size() * hidden);
  for (size_t c = 0, r = 0; c < chunks.size(); ++c) {
    for (int32_t token : chunks[c].tokens) {
      kc::WeightsToFloat(weights_.embed.view(), static_cast<int64_t>(token) * hidden, hidden,
                         x + r++ * hidden);
    }
  }
  const size_t step_floats = rows_.size() * config_.num_layers * config_.kv_width();
  Ensure(step_keys_, step_floats);
  Ensure(step_values_, step_floats);
  for (int layer = 0; layer < config_.num_layers; ++layer) RunLayer(layer, chunks);
  ComputeLogits(chunks, logits);
  StoreNewRows(chunks);
  return absl::OkStatus();
}

void CpuBackend::StoreNewRows(std::span<const SequenceChunk> chunks) {
  const int64_t n = static_cast<int64_t>(rows_.size());
  const int kv_width = config_.kv_width();
  for (size_t c = 0; c < chunks.size(); ++c) {
    engine::SequenceCache& cache = *chunks[c].cache;
    const int64_t start = cache.length();
    const int64_t end = start + static_cast<int64_t>(chunks[c].tokens.size());
    cache.Commit(end);
    for (int layer = 0; layer < config_.num_layers; ++layer) {
      // Local layers keep only the positions still in the window after the step.
      const int64_t from =
          config_.IsLocal(layer) ? std::max(start, end - config_.sliding_window - 1) : start;
      const kernels::PagedKv<float> view = cache.Kv(layer);
      const int64_t layer_offset = layer * n * kv_width;
      for (int64_t position = from; position < end; ++position) {
        const int64_t row = chunk_first_row_[c] + (position - start);
        std::memcpy(view.KeyRow(position), step_keys_.data() + layer_offset + row * kv_width,
                    sizeof(float) * kv_width);
        std::memcpy(view.ValueRow(position), step_values_.data() + layer_offset + row * kv_width,
                    sizeof(float) * kv_width);
      }
    }
  }
}

void CpuBackend::PrepareRows(std::span<const SequenceChunk> chunks) {
  rows_.clear();
  chunk_first_row_.assign(1, 0);
  for (size_t c = 0; c < chunks.size(); ++c) {
    int64_t start = chunks[c].cache->length();
    for (size_t i = 0; i < chunks[c].tokens.size(); ++i) {
      rows_.push_back({static_cast<int>(c), start + static_cast<int64_t>(i)});
    }
    chunk_first_row_.push_back(static_cast<int>(rows_.size()));
  }
  views_.resize(chunks.size());

  // Attention work: long chunks in tiles sized for their widest (global) key range.
  query_tiles_.clear();
  single_rows_.clear();
  for (size_t c = 0; c < chunks.size(); ++c) {
    const int begin = chunk_first_row_[c];
    const int end = chunk_first_row_[c + 1];
    if (end - begin < kMinTileRows) {
      for (int r = begin; r < end; ++r) single_rows_.push_back(r);
      continue;
    }
    for (int r = begin; r < end;) {
      const int64_t keys = rows_[std::min(end, r + kMaxTileRows) - 1].position + 1;
      const int64_t fit = kTileScoreBudget / (config_.group_size() * keys);
      const int tile = static_cast<int>(std::clamp<int64_t>(fit, 1, kMaxTileRows));
      query_tiles_.push_back({static_cast<int>(c), r, std::min(tile, end - r)});
      r += tile;
    }
  }

  const int n = static_cast<int>(rows_.size());
  const int half = config_.head_dim / 2;
  const bool folds = config_.NumRlaLayers() > 0;
  float* cos = Ensure(rope_cos_, static_cast<size_t>(n) * half);
  float* sin = Ensure(rope_sin_, static_cast<size_t>(n) * half);
  float* fold_cos = Ensure(fold_cos_, static_cast<size_t>(n) * half);
  float* fold_sin = Ensure(fold_sin_, static_cast<size_t>(n) * half);
#pragma omp parallel for num_threads(num_threads_)
  for (int r = 0; r < n; ++r) {
    int64_t position = rows_[r].position;
    kc::RopeCosSin(position, config_.rope_theta, config_.head_dim, cos + r * half, sin + r * half);
    int64_t leaving = position - config_.sliding_window - 1;
    if (folds && leaving >= 0) {
      kc::RopeCosSin(leaving, config_.rope_theta, config_.head_dim, fold_cos + r * half,
                     fold_sin + r * half);
    }
  }
}

void CpuBackend::RunLayer(int layer, std::span<const SequenceChunk> chunks) {
  const CpuLayerWeights& w = weights_.layers[layer];
  const int n = static_cast<int>(rows_.size());
  const int hidden = config_.hidden_size;
  const int d = config_.head_dim;
  const int nh = config_.num_heads;
  const int q_width = config_.query_width();
  const int kv_width = config_.kv_width();
  const int qkv_width = q_width + 2 * kv_width;
  const int inter = config_.intermediate_size;
  const int half = d / 2;
  const bool rla = config_.HasRla(layer);
  const float eps = static_cast<float>(config_.rms_norm_eps);

  float* x = hidden_.data();
  float* normed = Ensure(normed_, static_cast<size_t>(n) * hidden);
  float* qkv = Ensure(qkv_, static_cast<size_t>(n) * qkv_width);
  float* phi_q = rla ? Ensure(phi_q_, static_cast<size_t>(n) * nh * 2 * d) : nullptr;

  kc::RmsNormRows(x, w.input_norm.data(), n, hidden, eps, normed);
  kc::MatMulTransposedWeights(normed, w.qkv.view(), n, hidden, qkv_width, qkv, 0.0f, num_threads_);

  // New rows stay in the step's buffers; caches are read for earlier positions only.
  float* step_keys = step_keys_.data() + static_cast<int64_t>(layer) * n * kv_width;
  float* step_values = step_values_.data() + static_cast<int64_t>(layer) * n * kv_width;
  for (size_t c = 0; c < chunks.size(); ++c) {
    const int64_t first = static_cast<int64_t>(chunk_first_row_[c]) * kv_width;
    views_[c] = {chunks[c].cache->Kv(layer), chunks[c].cache->length(), step_keys + first,
                 step_values + first};
  }
#pragma omp parallel for num_threads(num_threads_)
  for (int r = 0; r < n; ++r) {
    float* q = qkv + static_cast<int64_t>(r) * qkv_width;
    float* k = q + q_width;
    float* v = k + kv_width;
    if (rla) {
      // The linear branch reads q and k before RoPE.
      for (int h = 0; h < nh; ++h) {
        kc::ApplyFeatureMap(q + h * d, d, config_.rla_feature_map,
                            phi_q + (static_cast<int64_t>(r) * nh + h) * 2 * d);
      }
    }
    kc::ApplyRope(q, nh, d, rope_cos_.data() + r * half, rope_sin_.data() + r * half);
    kc::ApplyRope(k, config_.num_kv_heads, d, rope_cos_.data() + r * half,
                  rope_sin_.data() + r * half);
    std::memcpy(step_keys + static_cast<int64_t>(r) * kv_width, k, sizeof(float) * kv_width);
    std::memcpy(step_values + static_cast<int64_t>(r) * kv_width, v, sizeof(float) * kv_width);
  }

  SoftmaxAttention(layer);
  if (rla) ResidualLinearAttention(layer, chunks);

  kc::MatMulTransposedWeights(attention_.data(), w.o.view(), n, q_width, hidden, x, 1.0f,
                              num_threads_);
  kc::RmsNormRows(x, w.post_norm.data(), n, hidden, eps, normed);
  float* mlp = Ensure(mlp_, static_cast<size_t>(n) * 2 * inter);
  float* activation = Ensure(activation_, static_cast<size_t>(n) * inter);
  kc::MatMulTransposedWeights(normed, w.gate_up.view(), n, hidden, 2 * inter, mlp, 0.0f,
                              num_threads_);
  kc::SiluMulRows(mlp, n, inter, activation);
  kc::MatMulTransposedWeights(activation, w.down.view(), n, inter, hidden, x, 1.0f, num_threads_);
}

void CpuBackend::SoftmaxAttention(int layer) {
  const int n = static_cast<int>(rows_.size());
  const int d = config_.head_dim;
  const int nkv = config_.num_kv_heads;
  const int group = config_.group_size();
  const int q_width = config_.query_width();
  const int qkv_width = q_width + 2 * config_.kv_width();
  const int window = config_.IsLocal(layer) ? config_.sliding_window : -1;
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  float* out = Ensure(attention_, static_cast<size_t>(n) * q_width);

  // Work items: (tile, kv head) for prefill tiles, then (row, slice of kv heads) for single rows.
  // With at least as many single rows as threads a slice is every head, so key and value rows
  // are read whole; fewer rows split the heads so that every thread has work.
  const int num_tiles = static_cast<int>(query_tiles_.size());
  const int num_single = static_cast<int>(single_rows_.size());
  const int slices = num_single == 0
                         ? 1
                         : std::min(nkv, std::max(1, (num_threads_ + num_single - 1) / num_single));
  const int per_slice = (nkv + slices - 1) / slices;
  const int tile_items = num_tiles * nkv;

#pragma omp parallel for schedule(dynamic) num_threads(num_threads_)
  for (int item = 0; item < tile_items + num_single * slices; ++item) {
    std::vector<float>& scratch = thread_scratch_[omp_get_thread_num()];
    if (item < tile_items) {
      const QueryTile& tile = query_tiles_[item / nkv];
      kc::QueryTileParams params;
      params.queries = qkv_.data() + static_cast<int64_t>(tile.first_row) * qkv_width;
      params.query_stride = qkv_width;
      params.out = out + static_cast<int64_t>(tile.first_row) * q_width;
      params.out_stride = q_width;
      params.num_rows = tile.num_rows;
      params.first_position = rows_[tile.first_row].position;
      params.kv_head = item % nkv;
      params.group_size = group;
      params.head_dim = d;
      params.window = window;
      params.scale = scale;
      kc::AttendQueryTile(params, views_[tile.chunk],
                          Ensure(scratch, kc::QueryTileWorkspaceFloats(params)));
      continue;
    }
    const int single = item - tile_items;
    const int r = single_rows_[single / slices];
    const int kv_begin = (single % slices) * per_slice;
    const int kv_end = std::min(nkv, kv_begin + per_slice);
    if (kv_begin >= kv_end) continue;
    const int64_t last = rows_[r].position;
    const int64_t first = window < 0 ? 0 : std::max<int64_t>(0, last - window);
    float* scores =
        Ensure(scratch, static_cast<size_t>(kv_end - kv_begin) * group * (last - first + 1));
    kc::AttendKvHeads(qkv_.data() + static_cast<int64_t>(r) * qkv_width, views_[rows_[r].chunk],
                      kv_begin, kv_end, group, d, first, last, scale, scores,
                      out + static_cast<int64_t>(r) * q_width);
  }
}

void CpuBackend::ResidualLinearAttention(int layer, std::span<const SequenceChunk> chunks) {
  const CpuLayerWeights& w = weights_.layers[layer];
  const int n = static_cast<int>(rows_.size());
  const int d = config_.head_dim;
  const int nh = config_.num_heads;
  const int nkv = config_.num_kv_heads;
  const int group = config_.group_size();
  const int q_width = config_.query_width();
  const int half = d / 2;
  const int num_chunks = static_cast<int>(chunks.size());
  float* linear = Ensure(linear_attention_, static_cast<size_t>(n) * q_width);

  // Rows of one sequence run in order (each reads the state its predecessors folded into);
  // sequences and kv heads are independent.
#pragma omp parallel for schedule(dynamic) num_threads(num_threads_)
  for (int item = 0; item < num_chunks * nkv; ++item) {
    const int c = item / nkv;
    const int g = item % nkv;
    const kernels::SplitKv<float>& view = views_[c];
    float* state = chunks[c].cache->RlaState(layer) + static_cast<int64_t>(g) * 2 * d * d;
    float* scratch = Ensure(thread_scratch_[omp_get_thread_num()], 3 * d);
    float* key = scratch;        // (d): the leaving key, RoPE undone
    float* phi_k = scratch + d;  // (2d)
    for (int r = chunk_first_row_[c]; r < chunk_first_row_[c + 1]; ++r) {
      const int64_t leaving = rows_[r].position - config_.sliding_window - 1;
      if (leaving >= 0) {
        std::memcpy(key, view.KeyRow(leaving) + g * d, sizeof(float) * d);
        kc::ApplyInverseRope(key, 1, d, fold_cos_.data() + r * half, fold_sin_.data() + r * half);
        kc::ApplyFeatureMap(key, d, config_.rla_feature_map, phi_k);
        kc::FoldIntoState(phi_k, view.ValueRow(leaving) + g * d, d, state);
      }
      for (int h = g * group; h < (g + 1) * group; ++h) {
        kc::ReadState(phi_q_.data() + (static_cast<int64_t>(r) * nh + h) * 2 * d, state, d,
                      linear + static_cast<int64_t>(r) * q_width + h * d);
      }
    }
  }

  // Each branch through its own per-head RMSNorm, then their sum.
  const float eps = static_cast<float>(config_.rla_norm_eps);
  float* mixed = attention_.data();
#pragma omp parallel for num_threads(num_threads_)
  for (int r = 0; r < n; ++r) {
    float* softmax_row = mixed + static_cast<int64_t>(r) * q_width;
    float* linear_row = linear + static_cast<int64_t>(r) * q_width;
    kc::RmsNormHeads(softmax_row, w.swa_norm.data(), nh, d, eps);
    kc::RmsNormHeads(linear_row, w.rla_norm.data(), nh, d, eps);
    for (int i = 0; i < q_width; ++i) softmax_row[i] += linear_row[i];
  }
}

void CpuBackend::ComputeLogits(std::span<const SequenceChunk> chunks, std::vector<float>* logits) {
  const int hidden = config_.hidden_size;
  const float eps = static_cast<float>(config_.rms_norm_eps);
  std::vector<int> selected;
  for (size_t c = 0; c < chunks.size(); ++c) {
    int first = chunk_first_row_[c];
    int end = chunk_first_row_[c + 1];
    if (chunks[c].logits == LogitsMode::kLast) selected.push_back(end - 1);
    if (chunks[c].logits == LogitsMode::kAll) {
      for (int r = first; r < end; ++r) selected.push_back(r);
    }
  }
  const int count = static_cast<int>(selected.size());
  float* normed = Ensure(normed_, static_cast<size_t>(count) * hidden);
  for (int i = 0; i < count; ++i) {
    kc::RmsNormRows(hidden_.data() + static_cast<int64_t>(selected[i]) * hidden,
                    weights_.final_norm.data(), 1, hidden, eps,
                    normed + static_cast<int64_t>(i) * hidden);
  }
  logits->resize(static_cast<size_t>(count) * config_.vocab_size);
  kc::MatMulTransposedWeights(normed, weights_.output_projection().view(), count, hidden,
                              config_.vocab_size, logits->data(), 0.0f, num_threads_);
}

}  // namespace rattn::cpu
