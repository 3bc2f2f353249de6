// rattn-bench's options: filled from flags in bench_main.cc (or directly by tests), checked once
// by Validate(), then read-only.
#ifndef RATTN_TOOLS_BENCH_BENCH_OPTIONS_H_
#define RATTN_TOOLS_BENCH_BENCH_OPTIONS_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "tools/bench/length_distribution.h"

namespace rattn::bench {

enum class LoadMode {
  kConcurrency,  // `concurrency` requests always in flight
  kRequestRate,  // Poisson arrivals at `request_rate`, at most `max_concurrency` in flight
};

// "concurrency" or "request_rate".
const char* LoadModeName(LoadMode mode);

struct BenchOptions {
  // At these counts one stream per request is cheap; far beyond, the client would measure itself.
  static constexpr int kMaxInFlight = 4096;

  std::string target = "localhost:50051";
  LoadMode mode = LoadMode::kConcurrency;
  int concurrency = 1;
  double request_rate = 0;  // requests per second
  // kRequestRate: an arrival that finds this many requests in flight waits for one to end, and
  // its latencies count from when it is sent. 0: kMaxInFlight.
  int max_concurrency = 0;

  // Requests that start during warm-up are sent but not measured; the measurement window follows
  // it for `duration`, or ends early when `num_requests` measured requests have all ended.
  absl::Duration warmup = absl::Seconds(5);
  absl::Duration duration = absl::Seconds(30);
  int64_t num_requests = 0;  // 0: no cap

  LengthDistribution prompt_len = LengthDistribution::Fixed(128);  // random token ids
  LengthDistribution output_len = LengthDistribution::Fixed(128);  // max_new_tokens, ignore_eos
  std::string prompt_text;  // non-empty: every prompt is this text, and prompt_len is unused
  float temperature = 0;
  uint64_t seed = 0;  // prompts, lengths and arrivals; request i samples with seed + i
  absl::Duration request_timeout = absl::InfiniteDuration();

  // INVALID_ARGUMENT naming the flag when a value is out of range.
  absl::Status Validate() const;
};

}  // namespace rattn::bench

#endif  // RATTN_TOOLS_BENCH_BENCH_OPTIONS_H_
