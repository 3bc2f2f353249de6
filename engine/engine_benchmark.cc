// Output throughput of the whole engine (scheduler, caches, CPU backend, sampler; no RPC) on the
// ~125M-parameter models: C requests of 128 prompt and 128 output tokens submitted together, at
// C = 1, 4, 16 and 64, for all full_attention and for the 3:1 rattention mix with w = 512. Also
// reports the cache bytes one request holds at 4,096 tokens in each mix, and the machine's
// sgemm rate and copy bandwidth from the same run.
//
//   build/release/engine/engine_benchmark
#include <benchmark/benchmark.h>

#include <condition_variable>
#include <mutex>

#include "engine/benchmark_models.h"
#include "engine/engine.h"

namespace rattn {
namespace {

using bench::Mix;

constexpr int kPromptTokens = 128;
constexpr int kOutputTokens = 128;
constexpr int kContextForBytes = 4096;

std::unique_ptr<engine::Engine> MakeEngine(Mix mix, int concurrency) {
  engine::EngineOptions options;
  options.cache.memory_budget_bytes = int64_t{4} << 30;
  options.cache.max_sequences = std::max(concurrency, 4);
  options.max_tokens_per_step = 2048;
  auto created = engine::Engine::Create(bench::LoadBackend125M(mix), nullptr, options);
  return created.ok() ? std::move(*created) : nullptr;
}

void BM_EngineThroughput(benchmark::State& state) {
  const Mix mix = static_cast<Mix>(state.range(0));
  const int concurrency = static_cast<int>(state.range(1));
  auto engine = MakeEngine(mix, concurrency);
  if (engine == nullptr) {
    state.SkipWithError("engine could not start");
    return;
  }
  const int vocab = engine->config().vocab_size;
  int64_t generated = 0;
  for (auto _ : state) {
    std::mutex mutex;
    std::condition_variable done;
    int finished = 0;
    for (int i = 0; i < concurrency; ++i) {
      engine::GenerateRequest request;
      for (int t = 0; t < kPromptTokens; ++t) {
        request.prompt.push_back((i * 131 + t * 7919 + 17) % vocab);
      }
      request.sampling.temperature = 0.0f;
      request.stopping.max_new_tokens = kOutputTokens;
      request.stopping.ignore_eos = true;
      auto id = engine->Submit(request, [&](engine::GenerationEvent event) {
        if (!event.done) return;
        std::lock_guard<std::mutex> lock(mutex);
        generated += event.completion_tokens;
        ++finished;
        done.notify_all();
      });
      if (!id.ok()) state.SkipWithError("submit failed");
    }
    std::unique_lock<std::mutex> lock(mutex);
    done.wait(lock, [&] { return finished == concurrency; });
  }
  state.counters["output tokens/s"] =
      benchmark::Counter(static_cast<double>(generated), benchmark::Counter::kIsRate);
  state.counters["cache MiB/request@4096"] =
      static_cast<double>(engine->caches().BytesFor(kContextForBytes)) / (1 << 20);
  state.SetLabel(bench::MixLabel(mix));
}

BENCHMARK(BM_EngineThroughput)
    ->ArgNames({"mix", "concurrency"})
    ->ArgsProduct({{0, 1}, {1, 4, 16, 64}})
    ->Iterations(1)
    ->UseRealTime()
    ->Unit(benchmark::kSecond);

const bool limits_registered = (bench::RegisterMachineLimits(), true);

}  // namespace
}  // namespace rattn

BENCHMARK_MAIN();
