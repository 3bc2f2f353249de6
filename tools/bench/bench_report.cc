// rattn-bench's summary table and JSON report.
#include "tools/bench/bench_report.h"

#include <cmath>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace rattn::bench {
namespace {

// A statistic without samples (NaN) is null in the JSON value itself, not only once printed.
nlohmann::json Number(double value) {
  return std::isnan(value) ? nlohmann::json(nullptr) : nlohmann::json(value);
}

nlohmann::json LatencyJson(const LatencySummary& latency) {
  return {{"count", latency.count},
          {"mean", Number(latency.mean)},
          {"p50", Number(latency.p50)},
          {"p90", Number(latency.p90)},
          {"p99", Number(latency.p99)}};
}

std::string Millis(double seconds) {
  return std::isnan(seconds) ? "-" : absl::StrFormat("%.2f", seconds * 1e3);
}

std::string LatencyRow(absl::string_view name, const LatencySummary& latency) {
  return absl::StrFormat("%-22s %10s %10s %10s %10s %8d\n", name, Millis(latency.mean),
                         Millis(latency.p50), Millis(latency.p90), Millis(latency.p99),
                         latency.count);
}

std::string LoadDescription(const BenchOptions& options) {
  if (options.mode == LoadMode::kConcurrency) {
    return absl::StrCat(options.concurrency, " in flight");
  }
  return absl::StrCat(
      options.request_rate, " requests/s (Poisson), at most ",
      options.max_concurrency > 0 ? options.max_concurrency : BenchOptions::kMaxInFlight,
      " in flight");
}

}  // namespace

nlohmann::json BenchReportJson(const BenchOptions& options, const ServedModel& model,
                               const BenchStats& stats) {
  nlohmann::json config = {{"target", options.target},
                           {"model", model.name},
                           {"backend", model.backend},
                           {"mode", LoadModeName(options.mode)},
                           {"warmup_s", absl::ToDoubleSeconds(options.warmup)},
                           {"duration_s", absl::ToDoubleSeconds(options.duration)},
                           {"num_requests", options.num_requests},
                           {"output_len", options.output_len.ToString()},
                           {"temperature", options.temperature},
                           {"seed", options.seed}};
  if (options.mode == LoadMode::kConcurrency) {
    config["concurrency"] = options.concurrency;
  } else {
    config["request_rate"] = options.request_rate;
    config["max_concurrency"] = options.max_concurrency;
  }
  if (options.prompt_text.empty()) {
    config["prompt_len"] = options.prompt_len.ToString();
  } else {
    config["prompt_text"] = options.prompt_text;
  }
  return {{"config", config},
          {"requests",
           {{"ok", stats.requests_ok},
            {"failed", stats.requests_failed},
            {"failures_by_code", stats.failures_by_code}}},
          {"measured_s", stats.measured_seconds},
          {"output_tokens", stats.window_output_tokens},
          {"output_tokens_per_s", stats.output_tokens_per_second},
          {"completed_output_tokens", stats.completed_output_tokens},
          {"completed_output_tokens_per_s", stats.completed_output_tokens_per_second},
          {"completed_requests", stats.completed_requests},
          {"requests_per_s", stats.requests_per_second},
          {"ttft_s", LatencyJson(stats.ttft)},
          {"itl_s", LatencyJson(stats.itl)},
          {"e2e_s", LatencyJson(stats.e2e)},
          {"server_ttft_s", LatencyJson(stats.server_ttft)},
          {"server_prefill_s", LatencyJson(stats.server_prefill)}};
}

std::string BenchSummaryTable(const BenchOptions& options, const ServedModel& model,
                              const BenchStats& stats) {
  std::string out;
  auto row = [&out](absl::string_view name, absl::string_view value) {
    absl::StrAppendFormat(&out, "%-32s %s\n", name, value);
  };
  row("target", absl::StrCat(options.target, " (", model.name, ", ", model.backend, ")"));
  row("load", LoadDescription(options));
  row("prompt", options.prompt_text.empty()
                    ? absl::StrCat(options.prompt_len.ToString(), " random tokens")
                    : absl::StrCat(options.prompt_text.size(), " bytes of fixed text"));
  row("output", absl::StrCat(options.output_len.ToString(), " tokens"));
  row("measured", absl::StrFormat("%.2f s after %.2f s of warm-up", stats.measured_seconds,
                                  absl::ToDoubleSeconds(options.warmup)));
  std::string failures;
  for (const auto& [code, count] : stats.failures_by_code) {
    absl::StrAppend(&failures, failures.empty() ? " (" : ", ", code, " ", count);
  }
  if (!failures.empty()) failures += ")";
  row("requests ok / failed",
      absl::StrCat(stats.requests_ok, " / ", stats.requests_failed, failures));
  row("output tokens/s",
      absl::StrFormat("%.1f (%d tokens arrived in the window)", stats.output_tokens_per_second,
                      stats.window_output_tokens));
  row("completed output tokens/s",
      absl::StrFormat("%.1f", stats.completed_output_tokens_per_second));
  row("requests/s", absl::StrFormat("%.2f (%d ended ok in the window)", stats.requests_per_second,
                                    stats.completed_requests));
  absl::StrAppendFormat(&out, "\n%-22s %10s %10s %10s %10s %8s\n", "latency (ms)", "mean", "p50",
                        "p90", "p99", "count");
  out += LatencyRow("time to first token", stats.ttft);
  out += LatencyRow("inter-token", stats.itl);
  out += LatencyRow("end to end", stats.e2e);
  out += LatencyRow("server: first token", stats.server_ttft);
  out += LatencyRow("server: prefill", stats.server_prefill);
  return out;
}

absl::Status WriteJsonFile(const std::string& path, const nlohmann::json& json) {
  std::ofstream out(path, std::ios::trunc);
  if (!out) return absl::PermissionDeniedError(absl::StrCat("cannot open ", path, " to write"));
  out << json.dump(2) << "\n";
  out.close();
  if (!out) return absl::DataLossError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

}  // namespace rattn::bench
