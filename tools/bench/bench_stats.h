// What rattn-bench measures, and the statistics it reports, computed from per-request records
// after the run. No network here: the records could come from anywhere.
//
// Times are seconds since the run began, read from std::chrono::steady_clock.
//
// Definitions (the report and --help repeat them):
//   measured request  a request sent inside the measurement window [begin, end]. Requests sent
//                     during warm-up are sent but not measured.
//   ok / failed       of measured requests, by the call's final status.
//   TTFT              send -> the first chunk carrying tokens (any sample); ok requests only.
//   ITL               between successive token-bearing chunks of sample 0 of an ok request: a
//                     chunk of k tokens that came g seconds after the previous one adds k
//                     latencies of g / k, so every token after the first weighs the same.
//   e2e latency       send -> end of the stream; ok requests only.
//   output tokens/s   tokens that arrived inside the window, from any request whatever its
//                     phase and outcome, / window length: the rate the server delivered while
//                     the load was held.
//   completed output tokens/s
//                     output tokens of the requests (of any phase) that ended ok inside the
//                     window / window length.
//   requests/s        requests (of any phase) that ended ok inside the window / window length.
#ifndef RATTN_TOOLS_BENCH_BENCH_STATS_H_
#define RATTN_TOOLS_BENCH_BENCH_STATS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"

namespace rattn::bench {

// A response chunk that carried tokens.
struct ChunkArrival {
  double time = 0;
  int32_t tokens = 0;
  uint32_t sample = 0;
};

struct RequestRecord {
  double start = 0;                  // when the call was started
  double end = 0;                    // when its final status arrived
  std::vector<ChunkArrival> chunks;  // in arrival order
  absl::StatusCode code = absl::StatusCode::kOk;
  // The server's own view from the last Completion's timings; negative when none arrived. The
  // gap between ttft and the client's TTFT is what the RPC path adds.
  double server_ttft = -1;
  double server_prefill = -1;
};

struct MeasurementWindow {
  double begin = 0;
  double end = 0;
  double seconds() const { return end - begin; }
};

// NaN statistics (JSON null) when count is 0.
struct LatencySummary {
  int64_t count = 0;
  double mean = 0;
  double p50 = 0;
  double p90 = 0;
  double p99 = 0;
};

struct BenchStats {
  int64_t requests_ok = 0;
  int64_t requests_failed = 0;
  std::map<std::string, int64_t> failures_by_code;  // "UNAVAILABLE" -> count
  double measured_seconds = 0;
  int64_t window_output_tokens = 0;
  double output_tokens_per_second = 0;
  int64_t completed_output_tokens = 0;
  double completed_output_tokens_per_second = 0;
  int64_t completed_requests = 0;
  double requests_per_second = 0;
  LatencySummary ttft;
  LatencySummary itl;
  LatencySummary e2e;
  LatencySummary server_ttft;     // the server's received -> first token
  LatencySummary server_prefill;  // the engine's first step -> first token
};

// The q-th percentile (0 <= q <= 100) of ascending `sorted` by linear interpolation between
// closest ranks: rank q / 100 * (n - 1), as numpy's default. NaN when `sorted` is empty.
double Percentile(absl::Span<const double> sorted, double q);

LatencySummary SummarizeLatencies(std::vector<double> values);

BenchStats ComputeBenchStats(absl::Span<const RequestRecord> records, MeasurementWindow window);

}  // namespace rattn::bench

#endif  // RATTN_TOOLS_BENCH_BENCH_STATS_H_
