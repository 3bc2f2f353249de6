// The CUDA backend's benchmark, every figure a ratio against a limit measured in the same run:
//   - decode step time at batch 1, 16, 64 and 256 against the floor the bytes it must move give
//     at the device-to-device copy bandwidth (weights, window KV and states of local layers,
//     global KV, logits);
//   - prefill throughput in TFLOP/s against a cuBLAS bf16 GEMM.
// Drives the backend directly with the engine's cache pools (no scheduler), on a random bf16
// checkpoint written under the temporary directory. Prints a table and writes the full report
// (markdown) to --report.
//
// Usage: cuda_benchmark [--report=FILE] [--context=N] [--steps=N] [--small]
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/cache/cache_manager.h"
#include "engine/cuda/cuda_backend.h"
#include "engine/cuda/device_memory.h"
#include "engine/model/checkpoint.h"
#include "engine/model/random_checkpoint.h"
#include "engine/util/status_macros.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/gemm.h"

namespace rattn::cuda {
namespace {

namespace kc = kernels::cuda;

struct Flags {
  std::string report;
  int context = 2048;  // positions in the cache of every decoding sequence
  int steps = 20;      // timed decode steps per batch size
  bool small = false;  // a ~125M model instead of ~0.8B (quick checks)
};

bool ParseFlags(int argc, char** argv, Flags* flags) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&](const char* name) -> const char* {
      const std::string prefix = std::string(name) + "=";
      return arg.rfind(prefix, 0) == 0 ? argv[i] + prefix.size() : nullptr;
    };
    if (const char* v = value("--report")) {
      flags->report = v;
    } else if (const char* v = value("--context")) {
      if (!absl::SimpleAtoi(v, &flags->context) || flags->context < 1 || flags->context > 32768) {
        std::fprintf(stderr, "--context must be an integer in [1, 32768]\n");
        return false;
      }
    } else if (const char* v = value("--steps")) {
      if (!absl::SimpleAtoi(v, &flags->steps) || flags->steps < 1 || flags->steps > 10000) {
        std::fprintf(stderr, "--steps must be an integer in [1, 10000]\n");
        return false;
      }
    } else if (arg == "--small") {
      flags->small = true;
    } else {
      std::fprintf(stderr,
                   "unknown flag %s\nusage: %s [--report=FILE] [--context=N] [--steps=N] "
                   "[--small]\n",
                   arg.c_str(), argv[0]);
      return false;
    }
  }
  return true;
}

// 3:1 rattention / full attention, window 512.
model::ModelConfig BenchConfig(bool small) {
  model::ModelConfig c;
  c.vocab_size = 32000;
  c.hidden_size = small ? 768 : 2048;
  c.intermediate_size = small ? 2048 : 5632;
  c.num_layers = small ? 12 : 16;
  c.num_heads = small ? 12 : 16;
  c.num_kv_heads = small ? 4 : 8;
  c.head_dim = small ? 64 : 128;
  c.sliding_window = 512;
  c.max_position_embeddings = 32768;
  for (int i = 0; i < c.num_layers; ++i) {
    c.layer_types.push_back(i % 4 == 3 ? model::LayerType::kFullAttention
                                       : model::LayerType::kRAttention);
  }
  return c;
}

// Milliseconds of `body` on the default stream of the current device, by events.
template <typename Body>
absl::StatusOr<double> TimeMs(Body body) {
  cudaEvent_t start, stop;
  RATTN_CUDA_RETURN_IF_ERROR(cudaEventCreate(&start));
  RATTN_CUDA_RETURN_IF_ERROR(cudaEventCreate(&stop));
  RATTN_CUDA_RETURN_IF_ERROR(cudaEventRecord(start));
  absl::Status status = body();
  RATTN_CUDA_RETURN_IF_ERROR(cudaEventRecord(stop));
  RATTN_CUDA_RETURN_IF_ERROR(cudaEventSynchronize(stop));
  float ms = 0;
  RATTN_CUDA_RETURN_IF_ERROR(cudaEventElapsedTime(&ms, start, stop));
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  if (!status.ok()) return status;
  return ms;
}

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

// Device-to-device copy rate in GB/s counting reads plus writes (2 x bytes per copy).
absl::StatusOr<double> CopyBandwidth() {
  const int64_t bytes = int64_t{1} << 30;
  RATTN_ASSIGN_OR_RETURN(DeviceMemory from, DeviceMemory::Allocate(bytes, "bandwidth source"));
  RATTN_ASSIGN_OR_RETURN(DeviceMemory to, DeviceMemory::Allocate(bytes, "bandwidth target"));
  RATTN_CUDA_RETURN_IF_ERROR(cudaMemset(from.get(), 1, bytes));
  std::vector<double> rates;
  for (int rep = 0; rep < 8; ++rep) {
    RATTN_ASSIGN_OR_RETURN(double ms, TimeMs([&] {
                             return kc::CudaStatus(cudaMemcpyAsync(to.get(), from.get(), bytes,
                                                                   cudaMemcpyDeviceToDevice),
                                                   "cudaMemcpyAsync");
                           }));
    if (rep > 0) rates.push_back(2.0 * bytes / (ms * 1e-3) / 1e9);
  }
  return *std::max_element(rates.begin(), rates.end());
}

// cuBLAS bf16 GEMM (fp32 accumulation and output, as the backend's) at n^3, TFLOP/s.
absl::StatusOr<double> GemmPeak() {
  const int n = 8192;
  const int64_t elements = int64_t{n} * n;
  RATTN_ASSIGN_OR_RETURN(DeviceMemory a, DeviceMemory::Allocate(elements * 2, "gemm a"));
  RATTN_ASSIGN_OR_RETURN(DeviceMemory b, DeviceMemory::Allocate(elements * 2, "gemm b"));
  RATTN_ASSIGN_OR_RETURN(DeviceMemory c, DeviceMemory::Allocate(elements * 4, "gemm c"));
  RATTN_CUDA_RETURN_IF_ERROR(cudaMemset(a.get(), 0, elements * 2));
  RATTN_CUDA_RETURN_IF_ERROR(cudaMemset(b.get(), 0, elements * 2));
  cublasHandle_t handle;
  RATTN_RETURN_IF_ERROR(kc::CublasStatus(cublasCreate(&handle), "cublasCreate"));
  std::vector<double> rates;
  absl::Status status;
  for (int rep = 0; rep < 6 && status.ok(); ++rep) {
    auto ms = TimeMs([&] {
      return kc::GemmBf16(handle, a.as<kc::bf16>(), b.as<kc::bf16>(), n, n, n, 0.0f, c.as<float>());
    });
    if (!ms.ok()) status = ms.status();
    if (ms.ok() && rep > 0) rates.push_back(2.0 * n * n * double(n) / (*ms * 1e-3) / 1e12);
  }
  cublasDestroy(handle);
  RATTN_RETURN_IF_ERROR(status);
  return *std::max_element(rates.begin(), rates.end());
}

// Bytes one decode step of `batch` sequences at `context` cached positions must move at least.
double DecodeFloorBytes(const model::ModelConfig& c, int64_t weight_bytes, int batch, int context) {
  const double kv_row = 2.0 * c.kv_width() * 2;  // keys and values, bf16
  const double window = std::min<int64_t>(context, c.sliding_window + 1);
  double per_sequence = 0;
  for (int l = 0; l < c.num_layers; ++l) {
    if (c.IsLocal(l)) {
      per_sequence += window * kv_row;
      if (c.HasRla(l)) per_sequence += 2.0 * c.rla_state_floats() * 4;  // read and write
    } else {
      per_sequence += (context + 1) * kv_row;
    }
  }
  per_sequence += c.vocab_size * 4.0;  // the logits row
  return weight_bytes + batch * per_sequence;
}

// Multiply-adds times two of a prefill of `tokens` fresh positions: the GEMMs (lm_head for
// the last row only) and attention (QK^T and PV over the keys each row sees).
double PrefillFlops(const model::ModelConfig& c, int tokens) {
  const double h = c.hidden_size;
  const double per_token_gemm = h * (c.query_width() + 2.0 * c.kv_width()) + c.query_width() * h +
                                3.0 * h * c.intermediate_size;
  double flops = 2.0 * per_token_gemm * c.num_layers * tokens + 2.0 * h * c.vocab_size;
  for (int l = 0; l < c.num_layers; ++l) {
    double keys = 0;
    for (int t = 0; t < tokens; ++t) {
      keys += c.IsLocal(l) ? std::min(t + 1, c.sliding_window + 1) : t + 1;
    }
    flops += 4.0 * c.num_heads * c.head_dim * keys;
    if (c.HasRla(l)) {
      // phi(Q) S and the state update: 2d x d per head per token, twice.
      flops += 2.0 * 2 * (2.0 * c.head_dim * c.head_dim) * c.num_heads * tokens;
    }
  }
  return flops;
}

struct Sequences {
  std::unique_ptr<engine::CacheManager> manager;
  std::vector<std::unique_ptr<engine::PagedSequenceCache>> caches;
};

absl::StatusOr<Sequences> MakeSequences(CudaBackend& backend, int count, int64_t max_length) {
  Sequences s;
  RATTN_ASSIGN_OR_RETURN(std::unique_ptr<engine::CacheStorage> storage, backend.NewCacheStorage());
  RATTN_ASSIGN_OR_RETURN(
      s.manager, engine::CacheManager::Create(
                     backend.config(), engine::PoolsFor(backend.config(), 16, count, max_length),
                     std::move(storage)));
  for (int i = 0; i < count; ++i) {
    RATTN_ASSIGN_OR_RETURN(auto cache, s.manager->NewSequence(max_length));
    s.caches.push_back(std::move(cache));
  }
  return s;
}

// Runs `tokens` through each sequence in chunks of up to `chunk` rows per step, several
// sequences per step up to that budget.
absl::Status Prefill(CudaBackend& backend, Sequences& s, const std::vector<int32_t>& tokens,
                     int chunk) {
  std::vector<float> logits;
  size_t next = 0;
  while (next < s.caches.size()) {
    std::vector<engine::SequenceChunk> chunks;
    int rows = 0;
    while (next < s.caches.size() && rows < chunk) {
      engine::PagedSequenceCache& cache = *s.caches[next];
      const int64_t done = cache.length();
      const int count = static_cast<int>(
          std::min<int64_t>(chunk - rows, static_cast<int64_t>(tokens.size()) - done));
      RATTN_RETURN_IF_ERROR(cache.Reserve(done + count));
      chunks.push_back({&cache, std::span<const int32_t>(tokens.data() + done, count),
                        engine::LogitsMode::kLast});
      rows += count;
      if (done + count == static_cast<int64_t>(tokens.size())) ++next;
    }
    RATTN_RETURN_IF_ERROR(backend.Forward(chunks, &logits));
  }
  return absl::OkStatus();
}

struct DecodeRow {
  int batch;
  double step_ms, floor_ms, floor_bytes;
  double tokens_per_s() const { return batch / (step_ms * 1e-3); }
};

absl::StatusOr<DecodeRow> BenchDecode(CudaBackend& backend, int batch, int context, int steps,
                                      double bandwidth_gbs, int64_t weight_bytes) {
  const model::ModelConfig& c = backend.config();
  RATTN_ASSIGN_OR_RETURN(Sequences s, MakeSequences(backend, batch, context + steps + 8));
  std::vector<int32_t> prompt(context);
  for (int i = 0; i < context; ++i) prompt[i] = (i * 7919) % c.vocab_size;
  RATTN_RETURN_IF_ERROR(Prefill(backend, s, prompt, 2048));
  std::vector<int32_t> next(batch, 1);
  std::vector<float> logits;
  std::vector<double> times;
  for (int step = 0; step < steps + 2; ++step) {
    std::vector<engine::SequenceChunk> chunks;
    for (int b = 0; b < batch; ++b) {
      RATTN_RETURN_IF_ERROR(s.caches[b]->Reserve(s.caches[b]->length() + 1));
      chunks.push_back(
          {s.caches[b].get(), std::span<const int32_t>(&next[b], 1), engine::LogitsMode::kLast});
    }
    const auto start = std::chrono::steady_clock::now();
    RATTN_RETURN_IF_ERROR(backend.Forward(chunks, &logits));
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    if (step >= 2) times.push_back(ms);  // the first steps capture graphs
  }
  DecodeRow row;
  row.batch = batch;
  row.step_ms = Median(times);
  row.floor_bytes = DecodeFloorBytes(c, weight_bytes, batch, context);
  row.floor_ms = row.floor_bytes / (bandwidth_gbs * 1e9) * 1e3;
  return row;
}

struct PrefillRow {
  int tokens;
  double ms, tflops;
};

absl::StatusOr<PrefillRow> BenchPrefill(CudaBackend& backend, int tokens, int chunk) {
  const model::ModelConfig& c = backend.config();
  std::vector<int32_t> prompt(tokens);
  for (int i = 0; i < tokens; ++i) prompt[i] = (i * 104729) % c.vocab_size;
  std::vector<double> times;
  for (int rep = 0; rep < 3; ++rep) {
    RATTN_ASSIGN_OR_RETURN(Sequences s, MakeSequences(backend, 1, tokens + 1));
    RATTN_CUDA_RETURN_IF_ERROR(cudaDeviceSynchronize());
    const auto start = std::chrono::steady_clock::now();
    RATTN_RETURN_IF_ERROR(Prefill(backend, s, prompt, chunk));
    times.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
            .count());
  }
  PrefillRow row;
  row.tokens = tokens;
  row.ms = *std::min_element(times.begin(), times.end());
  row.tflops = PrefillFlops(c, tokens) / (row.ms * 1e-3) / 1e12;
  return row;
}

absl::Status Run(const Flags& flags) {
  const model::ModelConfig config = BenchConfig(flags.small);
  const std::string dir = (std::filesystem::temp_directory_path() /
                           (flags.small ? "rattn_cuda_bench_small" : "rattn_cuda_bench"))
                              .string();
  if (!std::filesystem::exists(dir + "/config.json")) {
    std::fprintf(stderr, "writing a random %.0fM-parameter bf16 checkpoint to %s\n",
                 config.NumParameters() / 1e6, dir.c_str());
    RATTN_RETURN_IF_ERROR(
        model::WriteRandomCheckpoint(config, {.seed = 1, .dtype = model::DType::kBF16}, dir));
  }
  RATTN_ASSIGN_OR_RETURN(std::unique_ptr<model::Checkpoint> checkpoint,
                         model::Checkpoint::Open(dir));
  CudaBackendOptions options;
  options.max_step_rows = 2048;
  RATTN_ASSIGN_OR_RETURN(std::unique_ptr<CudaBackend> backend,
                         CudaBackend::Create(*checkpoint, options));
  RATTN_ASSIGN_OR_RETURN(const double bandwidth, CopyBandwidth());
  RATTN_ASSIGN_OR_RETURN(const double gemm, GemmPeak());
  const int64_t weight_bytes = backend->streamed_weight_bytes();

  std::vector<DecodeRow> decode;
  for (int batch : {1, 16, 64, 256}) {
    RATTN_ASSIGN_OR_RETURN(DecodeRow row, BenchDecode(*backend, batch, flags.context, flags.steps,
                                                      bandwidth, weight_bytes));
    decode.push_back(row);
  }
  std::vector<PrefillRow> prefill;
  for (int tokens : {512, 2048, 8192}) {
    RATTN_ASSIGN_OR_RETURN(PrefillRow row, BenchPrefill(*backend, tokens, 2048));
    prefill.push_back(row);
  }

  std::ostringstream out;
  out << absl::StrFormat(
      "# rattn CUDA benchmark\n\n%s; model: %.0fM parameters, %d layers (3:1 rattention/full, "
      "w=%d), hidden %d, %d/%d heads of %d, bf16 weights %.0f MiB\n\n"
      "Limits measured in this run: device-to-device copy %.0f GB/s (reads + writes), cuBLAS "
      "bf16 GEMM 8192^3 %.0f TFLOP/s.\n\n",
      backend->device_name(), config.NumParameters() / 1e6, config.num_layers,
      config.sliding_window, config.hidden_size, config.num_heads, config.num_kv_heads,
      config.head_dim, weight_bytes / 1048576.0, bandwidth, gemm);
  out << absl::StrFormat(
      "## Decode, context %d, median of %d steps (logits copied to the host included)\n\n"
      "| batch | step ms | floor ms | floor / step | tokens/s | floor MiB |\n"
      "|---:|---:|---:|---:|---:|---:|\n",
      flags.context, flags.steps);
  for (const DecodeRow& r : decode) {
    out << absl::StrFormat("| %d | %.3f | %.3f | %.0f%% | %.0f | %.0f |\n", r.batch, r.step_ms,
                           r.floor_ms, 100.0 * r.floor_ms / r.step_ms, r.tokens_per_s(),
                           r.floor_bytes / 1048576.0);
  }
  out << "\n## Prefill, one sequence, chunks of 2048 rows (best of 3)\n\n"
         "| tokens | ms | TFLOP/s | of GEMM peak |\n|---:|---:|---:|---:|\n";
  for (const PrefillRow& r : prefill) {
    out << absl::StrFormat("| %d | %.1f | %.1f | %.0f%% |\n", r.tokens, r.ms, r.tflops,
                           100.0 * r.tflops / gemm);
  }
  out << absl::StrFormat("\nCUDA graph replays: %d; graphs captured: %d\n",
                         backend->graph_replays(), backend->graphs_captured());
  std::fputs(out.str().c_str(), stdout);
  if (!flags.report.empty()) {
    std::ofstream file(flags.report);
    file << out.str();
    if (!file) return absl::InternalError(absl::StrCat("cannot write ", flags.report));
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace rattn::cuda

int main(int argc, char** argv) {
  rattn::cuda::Flags flags;
  if (!rattn::cuda::ParseFlags(argc, argv, &flags)) return 2;
  if (!rattn::cuda::CudaDeviceAvailable()) {
    std::fprintf(stderr, "cuda_benchmark: no CUDA device visible; nothing to measure\n");
    return 1;
  }
  const absl::Status status = rattn::cuda::Run(flags);
  if (!status.ok()) {
    std::fprintf(stderr, "cuda_benchmark: %s\n", std::string(status.message()).c_str());
    return 1;
  }
  return 0;
}
