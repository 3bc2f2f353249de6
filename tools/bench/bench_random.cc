// Portable draws for rattn-bench.
#include "tools/bench/bench_random.h"

#include <cmath>
#include <numbers>

namespace rattn::bench {

BenchRng MakeRng(uint64_t seed, uint32_t stream) {
  // std::seed_seq's mixing is specified by the standard, like the engine itself.
  std::seed_seq sequence{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32), stream};
  return BenchRng(sequence);
}

double UniformUnit(BenchRng& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

int64_t UniformInt(BenchRng& rng, int64_t lo, int64_t hi) {
  const uint64_t span = static_cast<uint64_t>(hi) - static_cast<uint64_t>(lo);
  if (span == UINT64_MAX) return static_cast<int64_t>(rng());
  const uint64_t range = span + 1;
  // Draws above `limit` fall in an incomplete last cycle of residues and would favour the low
  // ones; draw again.
  const uint64_t limit = UINT64_MAX - (UINT64_MAX % range + 1) % range;
  uint64_t draw = rng();
  while (draw > limit) draw = rng();
  return static_cast<int64_t>(static_cast<uint64_t>(lo) + draw % range);
}

double StandardNormal(BenchRng& rng) {
  // 1 - UniformUnit is in (0, 1], so the logarithm is finite.
  const double radius = std::sqrt(-2.0 * std::log(1.0 - UniformUnit(rng)));
  return radius * std::cos(2.0 * std::numbers::pi * UniformUnit(rng));
}

double Exponential(BenchRng& rng, double rate) { return -std::log(1.0 - UniformUnit(rng)) / rate; }

}  // namespace rattn::bench
