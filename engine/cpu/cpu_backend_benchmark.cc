// Prefill and decode throughput of the CPU backend on a ~125M-parameter model (12 layers,
// hidden 768, 12 heads, 4 kv heads, intermediate 2048, vocab 32000), in two layer mixes:
// all full_attention, and 3:1 rattention/full_attention with w = 512.
//
//   build/release/engine/cpu_backend_benchmark [--benchmark_filter=Decode]
//
// Checkpoints are written once per run (bf16, random weights) under $TMPDIR.
#include <benchmark/benchmark.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/cpu/cpu_backend.h"
#include "engine/model/checkpoint.h"
#include "engine/model/random_checkpoint.h"
#include "engine/standalone_sequence_cache.h"
#include "engine/util/logging.h"

namespace rattn {
namespace {

enum Mix { kAllFull = 0, kRattention3to1 = 1 };

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
    bool global = mix == kAllFull || i % 4 == 3;
    c.layer_types.push_back(global ? model::LayerType::kFullAttention
                                   : model::LayerType::kRAttention);
  }
  return c;
}

// One backend per mix, created on first use and kept for the whole run.
cpu::CpuBackend& Backend(Mix mix) {
  static std::map<Mix, std::unique_ptr<cpu::CpuBackend>> backends;
  auto& backend = backends[mix];
  if (backend == nullptr) {
    std::string dir = (std::filesystem::temp_directory_path() /
                       ("rattn_bench_125m_" + std::to_string(mix)))
                          .string();
    if (!std::filesystem::exists(dir + "/config.json")) {
      absl::Status written = model::WriteRandomCheckpoint(
          Config125M(mix), {.seed = 1, .dtype = model::DType::kBF16}, dir);
      if (!written.ok()) RATTN_LOG(ERROR) << written;
    }
    auto checkpoint = model::Checkpoint::Open(dir);
    if (!checkpoint.ok()) RATTN_LOG(ERROR) << checkpoint.status();
    backend = std::move(*cpu::CpuBackend::Create(**checkpoint));
  }
  return *backend;
}

std::vector<int32_t> Tokens(int count, int vocab) {
  std::vector<int32_t> tokens(count);
  for (int i = 0; i < count; ++i) tokens[i] = (i * 7919 + 13) % vocab;
  return tokens;
}

// A cache holding `context` prefilled tokens, computed once per (mix, context) and copied.
const engine::StandaloneSequenceCache& PrefilledCache(Mix mix, int context) {
  static std::map<std::pair<Mix, int>, std::unique_ptr<engine::StandaloneSequenceCache>> caches;
  auto& cache = caches[{mix, context}];
  if (cache == nullptr) {
    cpu::CpuBackend& backend = Backend(mix);
    cache = std::make_unique<engine::StandaloneSequenceCache>(backend.config());
    std::vector<int32_t> tokens = Tokens(context, backend.config().vocab_size);
    std::vector<float> logits;
    for (int start = 0; start < context; start += 512) {
      int size = std::min(512, context - start);
      (void)cache->Reserve(start + size);
      engine::SequenceChunk chunk{cache.get(), std::span(tokens.data() + start, size),
                                  engine::LogitsMode::kNone};
      absl::Status status = backend.Forward({&chunk, 1}, &logits);
      if (!status.ok()) RATTN_LOG(ERROR) << status;
    }
  }
  return *cache;
}

void BM_Prefill(benchmark::State& state) {
  const Mix mix = static_cast<Mix>(state.range(0));
  const int prompt = static_cast<int>(state.range(1));
  cpu::CpuBackend& backend = Backend(mix);
  std::vector<int32_t> tokens = Tokens(prompt, backend.config().vocab_size);
  std::vector<float> logits;
  for (auto _ : state) {
    engine::StandaloneSequenceCache cache(backend.config());
    (void)cache.Reserve(prompt);
    engine::SequenceChunk chunk{&cache, tokens, engine::LogitsMode::kLast};
    if (!backend.Forward({&chunk, 1}, &logits).ok()) state.SkipWithError("forward failed");
  }
  state.counters["tokens/s"] =
      benchmark::Counter(static_cast<double>(prompt), benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(mix == kAllFull ? "all full_attention" : "3:1 rattention/full, w=512");
}

void BM_Decode(benchmark::State& state) {
  const Mix mix = static_cast<Mix>(state.range(0));
  const int batch = static_cast<int>(state.range(1));
  const int context = static_cast<int>(state.range(2));
  cpu::CpuBackend& backend = Backend(mix);
  std::vector<std::unique_ptr<engine::StandaloneSequenceCache>> caches;
  for (int i = 0; i < batch; ++i) {
    caches.push_back(std::make_unique<engine::StandaloneSequenceCache>(PrefilledCache(mix, context)));
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
  state.SetLabel(mix == kAllFull ? "all full_attention" : "3:1 rattention/full, w=512");
}

BENCHMARK(BM_Prefill)
    ->ArgNames({"mix", "prompt"})
    ->ArgsProduct({{kAllFull, kRattention3to1}, {512, 2048}})
    ->Iterations(2)
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Decode)
    ->ArgNames({"mix", "batch", "context"})
    ->ArgsProduct({{kAllFull, kRattention3to1}, {1, 16, 64}, {1024, 4096}})
    ->Iterations(40)
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace rattn

BENCHMARK_MAIN();
