// rattn-bench's statistics over per-request records.
#include "tools/bench/bench_stats.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace rattn::bench {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

bool Inside(double time, MeasurementWindow window) {
  return time >= window.begin && time <= window.end;
}

int64_t OutputTokens(const RequestRecord& record) {
  int64_t tokens = 0;
  for (const ChunkArrival& chunk : record.chunks) tokens += chunk.tokens;
  return tokens;
}

void AddInterTokenLatencies(const RequestRecord& record, std::vector<double>& itl) {
  const ChunkArrival* previous = nullptr;
  for (const ChunkArrival& chunk : record.chunks) {
    if (chunk.sample != 0 || chunk.tokens <= 0) continue;
    if (previous != nullptr) {
      const double per_token = (chunk.time - previous->time) / chunk.tokens;
      itl.insert(itl.end(), chunk.tokens, per_token);
    }
    previous = &chunk;
  }
}

}  // namespace

double Percentile(absl::Span<const double> sorted, double q) {
  if (sorted.empty()) return kNaN;
  const double rank = std::clamp(q, 0.0, 100.0) / 100.0 * static_cast<double>(sorted.size() - 1);
  const size_t below = static_cast<size_t>(std::floor(rank));
  const size_t above = std::min(below + 1, sorted.size() - 1);
  const double fraction = rank - static_cast<double>(below);
  return sorted[below] + fraction * (sorted[above] - sorted[below]);
}

LatencySummary SummarizeLatencies(std::vector<double> values) {
  LatencySummary summary;
  summary.count = static_cast<int64_t>(values.size());
  if (values.empty()) {
    summary.mean = summary.p50 = summary.p90 = summary.p99 = kNaN;
    return summary;
  }
  std::sort(values.begin(), values.end());
  summary.mean = std::accumulate(values.begin(), values.end(), 0.0) / values.size();
  summary.p50 = Percentile(values, 50);
  summary.p90 = Percentile(values, 90);
  summary.p99 = Percentile(values, 99);
  return summary;
}

BenchStats ComputeBenchStats(absl::Span<const RequestRecord> records, MeasurementWindow window) {
  BenchStats stats;
  stats.measured_seconds = window.seconds();
  std::vector<double> ttft;
  std::vector<double> itl;
  std::vector<double> e2e;
  std::vector<double> server_ttft;
  std::vector<double> server_prefill;
  for (const RequestRecord& record : records) {
    const bool ok = record.code == absl::StatusCode::kOk;
    for (const ChunkArrival& chunk : record.chunks) {
      if (Inside(chunk.time, window)) stats.window_output_tokens += chunk.tokens;
    }
    if (ok && Inside(record.end, window)) {
      ++stats.completed_requests;
      stats.completed_output_tokens += OutputTokens(record);
    }
    if (!Inside(record.start, window)) continue;

    if (!ok) {
      ++stats.requests_failed;
      ++stats.failures_by_code[absl::StatusCodeToString(record.code)];
      continue;
    }
    ++stats.requests_ok;
    if (!record.chunks.empty()) ttft.push_back(record.chunks.front().time - record.start);
    AddInterTokenLatencies(record, itl);
    e2e.push_back(record.end - record.start);
    if (record.server_ttft >= 0) server_ttft.push_back(record.server_ttft);
    if (record.server_prefill >= 0) server_prefill.push_back(record.server_prefill);
  }
  if (stats.measured_seconds > 0) {
    stats.output_tokens_per_second = stats.window_output_tokens / stats.measured_seconds;
    stats.completed_output_tokens_per_second =
        stats.completed_output_tokens / stats.measured_seconds;
    stats.requests_per_second = stats.completed_requests / stats.measured_seconds;
  }
  stats.ttft = SummarizeLatencies(std::move(ttft));
  stats.itl = SummarizeLatencies(std::move(itl));
  stats.e2e = SummarizeLatencies(std::move(e2e));
  stats.server_ttft = SummarizeLatencies(std::move(server_ttft));
  stats.server_prefill = SummarizeLatencies(std::move(server_prefill));
  return stats;
}

}  // namespace rattn::bench
