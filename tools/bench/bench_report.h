// rattn-bench's report: the summary table printed at the end and the JSON written to --json_out.
// Latencies are in seconds in the JSON and in milliseconds in the table; bench_stats.h defines
// every number.
//
// JSON layout:
//   {"config": {"target", "model", "backend", "mode", "concurrency" | "request_rate" and
//               "max_concurrency", "warmup_s", "duration_s", "num_requests", "prompt_len"
//               (or "prompt_text"), "output_len", "temperature", "seed"},
//    "requests": {"ok", "failed", "failures_by_code": {"CODE": n}},
//    "measured_s", "output_tokens", "output_tokens_per_s",
//    "completed_output_tokens", "completed_output_tokens_per_s",
//    "completed_requests", "requests_per_s",
//    "ttft_s" | "itl_s" | "e2e_s": {"count", "mean", "p50", "p90", "p99"}}
// A statistic with no samples is null. rattn-bench adds "interrupted": true when a signal ended
// the run early.
#ifndef RATTN_TOOLS_BENCH_BENCH_REPORT_H_
#define RATTN_TOOLS_BENCH_BENCH_REPORT_H_

#include <string>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"
#include "tools/bench/bench_options.h"
#include "tools/bench/bench_stats.h"

namespace rattn::bench {

// What the server said it serves (GetModelInfo).
struct ServedModel {
  std::string name;
  std::string backend;
};

nlohmann::json BenchReportJson(const BenchOptions& options, const ServedModel& model,
                               const BenchStats& stats);

std::string BenchSummaryTable(const BenchOptions& options, const ServedModel& model,
                              const BenchStats& stats);

// Writes `json`, indented, to `path` (replacing it).
absl::Status WriteJsonFile(const std::string& path, const nlohmann::json& json);

}  // namespace rattn::bench

#endif  // RATTN_TOOLS_BENCH_BENCH_REPORT_H_
