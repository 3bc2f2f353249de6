// Benchmark models and machine limits; see benchmark_models.h.
#include "engine/benchmark_models.h"

#include <benchmark/benchmark.h>
#include <omp.h>

#include <cstring>
#include <filesystem>
#include <vector>

#include "engine/model/checkpoint.h"
#include "engine/model/random_checkpoint.h"
#include "engine/util/logging.h"
#include "kernels/cpu/gemm.h"

namespace rattn::bench {
namespace {

void MemoryCopy(benchmark::State& state) {
  const size_t bytes = size_t{1} << 29;  // 512 MiB, far beyond the caches
  std::vector<char> from(bytes, 1), to(bytes, 0);
  const int threads = omp_get_max_threads();
  for (auto _ : state) {
#pragma omp parallel for num_threads(threads)
    for (int t = 0; t < threads; ++t) {
      size_t begin = bytes / threads * t;
      size_t end = t == threads - 1 ? bytes : begin + bytes / threads;
      std::memcpy(to.data() + begin, from.data() + begin, end - begin);
    }
    benchmark::DoNotOptimize(to.data());
  }
  state.counters["GB/s"] =
      benchmark::Counter(2.0 * bytes / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}

void GemmPeak(benchmark::State& state) {
  const int n = 2048;
  std::vector<float> a(size_t{n} * n, 0.5f), b(size_t{n} * n, 0.25f), c(size_t{n} * n);
  kernels::cpu::UseCallerThreadsForBlas();
  for (auto _ : state) {
    kernels::cpu::MatMulTransposedWeights(a.data(), kernels::cpu::WeightMatrix::Float(b.data()), n,
                                          n, n, c.data(), 0.0f, omp_get_max_threads());
    benchmark::DoNotOptimize(c.data());
  }
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * n * n * n / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}

}  // namespace

std::string MixLabel(Mix mix) {
  return mix == Mix::kAllFull ? "all full_attention" : "3:1 rattention/full, w=512";
}

model::ModelConfig Config125M(Mix mix) {
  model::ModelConfig c;
  c.vocab_size = 32000;
  c.hidden_size = 768;
  c.intermediate_size = 2048;
  c.num_layers = 12;
  c.num_heads = 12;
  c.num_kv_heads = 4;
  c.head_dim = 64;
  c.sliding_window = 512;
  c.max_position_embeddings = 32768;
  for (int i = 0; i < c.num_layers; ++i) {
    bool global = mix == Mix::kAllFull || i % 4 == 3;
    c.layer_types.push_back(global ? model::LayerType::kFullAttention
                                   : model::LayerType::kRAttention);
  }
  return c;
}

std::unique_ptr<cpu::CpuBackend> LoadBackend125M(Mix mix) {
  const std::string dir = (std::filesystem::temp_directory_path() /
                           ("rattn_bench_125m_" + std::to_string(static_cast<int>(mix))))
                              .string();
  if (!std::filesystem::exists(dir + "/config.json")) {
    absl::Status written = model::WriteRandomCheckpoint(
        Config125M(mix), {.seed = 1, .dtype = model::DType::kBF16}, dir);
    if (!written.ok()) {
      RATTN_LOG(ERROR) << written;
      return nullptr;
    }
  }
  auto checkpoint = model::Checkpoint::Open(dir);
  if (!checkpoint.ok()) {
    RATTN_LOG(ERROR) << checkpoint.status();
    return nullptr;
  }
  auto backend = cpu::CpuBackend::Create(**checkpoint);
  if (!backend.ok()) {
    RATTN_LOG(ERROR) << backend.status();
    return nullptr;
  }
  return std::move(*backend);
}

void RegisterMachineLimits() {
  benchmark::RegisterBenchmark("BM_MemoryCopy", MemoryCopy)
      ->Iterations(10)
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("BM_GemmPeak", GemmPeak)
      ->Iterations(5)
      ->Unit(benchmark::kMillisecond);
}

}  // namespace rattn::bench
