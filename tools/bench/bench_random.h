// Draws for rattn-bench from a std::mt19937_64, whose output the C++ standard fixes bit for bit.
// The <random> distributions are left to each standard library, so these are written out here:
// one --seed gives the same prompt lengths, token ids and arrival times with any compiler.
#ifndef RATTN_TOOLS_BENCH_BENCH_RANDOM_H_
#define RATTN_TOOLS_BENCH_BENCH_RANDOM_H_

#include <cstdint>
#include <random>

namespace rattn::bench {

using BenchRng = std::mt19937_64;

// A generator for one use (`stream`: prompts, arrivals, ...) of the run's seed, so that a change
// in how many draws one use makes does not shift the others.
BenchRng MakeRng(uint64_t seed, uint32_t stream);

// Uniform on [0, 1), 53 random bits.
double UniformUnit(BenchRng& rng);

// Uniform on the integers lo .. hi, both included; requires lo <= hi. Unbiased (rejection).
int64_t UniformInt(BenchRng& rng, int64_t lo, int64_t hi);

// Standard normal (Box-Muller).
double StandardNormal(BenchRng& rng);

// Exponential with mean 1 / rate; requires rate > 0. The gap between Poisson arrivals.
double Exponential(BenchRng& rng, double rate);

}  // namespace rattn::bench

#endif  // RATTN_TOOLS_BENCH_BENCH_RANDOM_H_
