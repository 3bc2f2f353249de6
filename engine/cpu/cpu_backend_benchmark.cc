// Prefill and decode throughput of the CPU backend on a ~125M-parameter model (12 layers,
// hidden 768, 12 heads, 4 kv heads, intermediate 2048, vocab 32000), in two layer mixes:
// all full_attention, and 3:1 rattention/full_attention with w = 512.
//
//   build/release/engine/cpu_backend_benchmark [--benchmark_filter=Decode]
//
// Checkpoints are written once per run (bf16, random weights) under $TMPDIR. Two limits are
// measured in the same run so the results read as ratios: BM_MemoryCopy (the machine's copy
// bandwidth, which bounds decode) and BM_GemmPeak (OpenBLAS sgemm, which bounds prefill). Decode
// reports the bytes a step must move (fp32 weights, KV rows read, rla states) as "GB/s"; prefill
// reports the FLOPs it must do (projections, attention, folds) as "GFLOP/s".
#include <benchmark/benchmark.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/benchmark_models.h"
#include "engine/cache/cache_manager.h"
#include "engine/cpu/cpu_backend.h"
#include "engine/util/logging.h"

namespace rattn {
namespace {

using bench::Mix;

constexpr int kMaxBatch = 64;
constexpr int kDecodeIterations = 40;

// One backend per mix, created on first use and kept for the whole run.
cpu::CpuBackend& Backend(Mix mix) {
  static std::map<Mix, std::unique_ptr<cpu::CpuBackend>> backends;
  auto& backend = backends[mix];
  if (backend == nullptr) backend = bench::LoadBackend125M(mix);
  return *backend;
}

std::vector<int32_t> Tokens(int count, int vocab) {
  std::vector<int32_t> tokens(count);
  for (int i = 0; i < count; ++i) tokens[i] = (i * 7919 + 13) % vocab;
  return tokens;
}

// Pools with room for `sequences` sequences of `length` positions.
std::unique_ptr<engine::CacheManager> Pools(const model::ModelConfig& config, int sequences,
                                            int64_t length) {
  return std::move(*engine::CacheManager::Create(
      config, engine::PoolsFor(config, engine::CacheOptions{}.block_size, sequences, length)));
}

// Pools for one (mix, context) with a sequence holding `context` prefilled tokens, kept while
// consecutive benchmarks use the same pair.
struct DecodeSetup {
  Mix mix;
  int context = 0;
  std::unique_ptr<engine::CacheManager> pools;
  std::unique_ptr<engine::PagedSequenceCache> prefilled;
};

DecodeSetup& PrefilledSetup(Mix mix, int context, int batch_limit, int64_t max_length) {
  static DecodeSetup setup;
  if (setup.pools != nullptr && setup.mix == mix && setup.context == context) return setup;
  setup.prefilled.reset();
  setup.pools.reset();
  cpu::CpuBackend& backend = Backend(mix);
  setup = {mix, context, Pools(backend.config(), batch_limit + 1, max_length), nullptr};
  setup.prefilled = std::move(*setup.pools->NewSequence(max_length));
  std::vector<int32_t> tokens = Tokens(context, backend.config().vocab_size);
  std::vector<float> logits;
  for (int start = 0; start < context; start += 512) {
    int size = std::min(512, context - start);
    (void)setup.prefilled->Reserve(start + size);
    engine::SequenceChunk chunk{setup.prefilled.get(), std::span(tokens.data() + start, size),
                                engine::LogitsMode::kNone};
    absl::Status status = backend.Forward({&chunk, 1}, &logits);
    if (!status.ok()) RATTN_LOG(ERROR) << status;
  }
  return setup;
}

// Cache bytes one decode row reads at `context` (keys and values), plus rla state read+write.
double CacheBytesPerRow(const model::ModelConfig& c, int64_t context) {
  double bytes = 0;
  for (int layer = 0; layer < c.num_layers; ++layer) {
    int64_t keys = c.IsLocal(layer) ? std::min<int64_t>(context, c.sliding_window + 1) : context;
    bytes += 2.0 * keys * c.kv_width() * sizeof(float);
    if (c.HasRla(layer)) bytes += 2.0 * c.rla_state_floats() * sizeof(float);
  }
  return bytes;
}

// FLOPs of a prefill of `prompt` tokens from position 0 with logits for the last one.
double PrefillFlops(const model::ModelConfig& c, int64_t prompt) {
  const double h = c.hidden_size;
  const double per_token_layer = 2.0 * (h * (c.query_width() + 2 * c.kv_width()) +
                                        c.query_width() * h + 3.0 * h * c.intermediate_size);
  double flops = per_token_layer * c.num_layers * prompt + 2.0 * h * c.vocab_size;
  const double d = c.head_dim;
  for (int layer = 0; layer < c.num_layers; ++layer) {
    for (int64_t t = 0; t < prompt; ++t) {
      int64_t keys = c.IsLocal(layer) ? std::min<int64_t>(t + 1, c.sliding_window + 1) : t + 1;
      flops += 4.0 * c.num_heads * d * keys;
      if (c.HasRla(layer)) {
        flops += 4.0 * d * d * (c.num_heads + (t > c.sliding_window ? c.num_kv_heads : 0));
      }
    }
  }
  return flops;
}

void BM_Prefill(benchmark::State& state) {
  const Mix mix = static_cast<Mix>(state.range(0));
  const int prompt = static_cast<int>(state.range(1));
  cpu::CpuBackend& backend = Backend(mix);
  std::vector<int32_t> tokens = Tokens(prompt, backend.config().vocab_size);
  std::vector<float> logits;
  auto pools = Pools(backend.config(), 1, prompt);
  for (auto _ : state) {
    auto cache = std::move(*pools->NewSequence(prompt));
    (void)cache->Reserve(prompt);
    engine::SequenceChunk chunk{cache.get(), tokens, engine::LogitsMode::kLast};
    if (!backend.Forward({&chunk, 1}, &logits).ok()) state.SkipWithError("forward failed");
  }
  state.counters["tokens/s"] = benchmark::Counter(static_cast<double>(prompt),
                                                  benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GFLOP/s"] = benchmark::Counter(PrefillFlops(backend.config(), prompt) / 1e9,
                                                 benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(bench::MixLabel(mix));
}

void BM_Decode(benchmark::State& state) {
  const Mix mix = static_cast<Mix>(state.range(0));
  const int context = static_cast<int>(state.range(1));
  const int batch = static_cast<int>(state.range(2));
  cpu::CpuBackend& backend = Backend(mix);
  DecodeSetup& setup = PrefilledSetup(mix, context, kMaxBatch, context + kDecodeIterations);
  // Private copies, so that no two sequences share memory.
  std::vector<std::unique_ptr<engine::PagedSequenceCache>> caches;
  for (int i = 0; i < batch; ++i) {
    caches.push_back(std::move(*setup.pools->Fork(*setup.prefilled, context + kDecodeIterations,
                                                  engine::ForkMode::kCopyAll)));
  }
  std::vector<int32_t> next = Tokens(batch, backend.config().vocab_size);
  std::vector<engine::SequenceChunk> chunks(batch);
  std::vector<float> logits;
  for (auto _ : state) {
    for (int i = 0; i < batch; ++i) {
      (void)caches[i]->Reserve(caches[i]->length() + 1);
      chunks[i] = {caches[i].get(), std::span(&next[i], 1), engine::LogitsMode::kLast};
    }
    if (!backend.Forward(chunks, &logits).ok()) state.SkipWithError("forward failed");
  }
  state.counters["tokens/s"] =
      benchmark::Counter(static_cast<double>(batch), benchmark::Counter::kIsIterationInvariantRate);
  const double bytes = static_cast<double>(backend.streamed_weight_bytes()) +
                       batch * CacheBytesPerRow(backend.config(), context);
  state.counters["GB/s"] =
      benchmark::Counter(bytes / 1e9, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(bench::MixLabel(mix));
}

const bool limits_registered = (bench::RegisterMachineLimits(), true);
BENCHMARK(BM_Prefill)
    ->ArgNames({"mix", "prompt"})
    ->ArgsProduct({{0, 1}, {512, 2048}})
    ->Iterations(2)
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Decode)
    ->ArgNames({"mix", "context", "batch"})
    ->ArgsProduct({{0, 1}, {256, 1024, 4096}, {1, 16, kMaxBatch}})
    ->Iterations(kDecodeIterations)
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace rattn

BENCHMARK_MAIN();
