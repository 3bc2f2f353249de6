// What the benchmarks share: the ~125M-parameter test models in their two layer mixes, and the
// two machine limits measured in the same run that make benchmark figures read as ratios
// (memory copy bandwidth and OpenBLAS sgemm rate).
#ifndef RATTN_ENGINE_BENCHMARK_MODELS_H_
#define RATTN_ENGINE_BENCHMARK_MODELS_H_

#include <memory>
#include <string>

#include "engine/cpu/cpu_backend.h"
#include "engine/model/model_config.h"

namespace rattn::bench {

enum class Mix {
  kAllFull = 0,         // 12 full_attention layers
  kRattention3to1 = 1,  // rattention, rattention, rattention, full_attention x 3; w = 512
};

std::string MixLabel(Mix mix);

// 12 layers, hidden 768, 12 heads, 4 kv heads, intermediate 2048, vocab 32000.
model::ModelConfig Config125M(Mix mix);

// A CPU backend on the mix's checkpoint (random bf16 weights, written under the temporary
// directory on first use and reused by later runs). Null, after logging why, on failure.
std::unique_ptr<cpu::CpuBackend> LoadBackend125M(Mix mix);

// Registers BM_MemoryCopy (GB/s over a 512 MiB copy, reads plus writes) and BM_GemmPeak
// (GFLOP/s of a 2048^3 sgemm on every core) with Google Benchmark.
void RegisterMachineLimits();

}  // namespace rattn::bench

#endif  // RATTN_ENGINE_BENCHMARK_MODELS_H_
