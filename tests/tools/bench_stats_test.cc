// rattn-bench's statistics: percentiles by linear interpolation, latency summaries, and which
// requests and tokens each number counts.
#include "tools/bench/bench_stats.h"

#include <cmath>
#include <vector>

#include "gtest/gtest.h"

namespace rattn::bench {
namespace {

TEST(PercentileTest, InterpolatesLinearlyBetweenClosestRanks) {
  const std::vector<double> values = {1, 2, 3, 4, 5};
  EXPECT_DOUBLE_EQ(Percentile(values, 0), 1.0);
  EXPECT_DOUBLE_EQ(Percentile(values, 25), 2.0);
  EXPECT_DOUBLE_EQ(Percentile(values, 50), 3.0);
  EXPECT_DOUBLE_EQ(Percentile(values, 90), 4.6);
  EXPECT_DOUBLE_EQ(Percentile(values, 99), 4.96);
  EXPECT_DOUBLE_EQ(Percentile(values, 100), 5.0);
  // numpy.percentile([10, 20, 30, 40], [50, 90]) == [25, 37].
  const std::vector<double> even = {10, 20, 30, 40};
  EXPECT_DOUBLE_EQ(Percentile(even, 50), 25.0);
  EXPECT_DOUBLE_EQ(Percentile(even, 90), 37.0);
}

TEST(PercentileTest, OneValueIsEveryPercentileAndNoneIsNaN) {
  const std::vector<double> one = {0.25};
  EXPECT_DOUBLE_EQ(Percentile(one, 0), 0.25);
  EXPECT_DOUBLE_EQ(Percentile(one, 99), 0.25);
  EXPECT_TRUE(std::isnan(Percentile({}, 50)));
}

TEST(SummarizeLatenciesTest, SortsAndSummarizes) {
  const LatencySummary summary = SummarizeLatencies({0.5, 0.1, 0.4, 0.2, 0.3});
  EXPECT_EQ(summary.count, 5);
  EXPECT_DOUBLE_EQ(summary.mean, 0.3);
  EXPECT_DOUBLE_EQ(summary.p50, 0.3);
  EXPECT_DOUBLE_EQ(summary.p90, 0.46);
  EXPECT_DOUBLE_EQ(summary.p99, 0.496);
}

TEST(SummarizeLatenciesTest, NoSamplesGiveNaN) {
  const LatencySummary summary = SummarizeLatencies({});
  EXPECT_EQ(summary.count, 0);
  EXPECT_TRUE(std::isnan(summary.mean));
  EXPECT_TRUE(std::isnan(summary.p50));
  EXPECT_TRUE(std::isnan(summary.p99));
}

RequestRecord Record(double start, double end, std::vector<ChunkArrival> chunks,
                     absl::StatusCode code = absl::StatusCode::kOk) {
  RequestRecord record;
  record.start = start;
  record.end = end;
  record.chunks = std::move(chunks);
  record.code = code;
  return record;
}

// Window [10, 20]. Each record is commented with what it contributes.
std::vector<RequestRecord> Scenario() {
  return {
      // Warm-up: not measured; 2 tokens inside the window; ends ok inside it with 5 tokens.
      Record(5, 12, {{9, 3, 0}, {11, 2, 0}}),
      // Measured from the window's first instant: TTFT 0.5; sample 0 gives ITL 0.2 and, for a
      // 2-token chunk 0.8 s later, 0.4 twice; sample 1 gives none; e2e 2.5; 5 tokens.
      Record(10, 12.5, {{10.5, 1, 0}, {10.7, 1, 0}, {11.2, 1, 1}, {11.5, 2, 0}}),
      // Measured, ends after the window: TTFT 1, ITL 5, e2e 7; 1 of its 2 tokens in the window.
      Record(15, 22, {{16, 1, 0}, {21, 1, 0}}),
      // Measured failures: no latencies; the second one's token still arrived in the window.
      Record(18, 18.1, {}, absl::StatusCode::kUnavailable),
      Record(19, 25, {{19.5, 1, 0}}, absl::StatusCode::kDeadlineExceeded),
      // Sent after the window (the generator never does): counted nowhere.
      Record(20.5, 21, {{20.8, 4, 0}}),
  };
}

TEST(ComputeBenchStatsTest, CountsMeasuredRequestsAndTheirOutcomes) {
  const BenchStats stats = ComputeBenchStats(Scenario(), {10, 20});
  EXPECT_DOUBLE_EQ(stats.measured_seconds, 10.0);
  EXPECT_EQ(stats.requests_ok, 2);
  EXPECT_EQ(stats.requests_failed, 2);
  ASSERT_EQ(stats.failures_by_code.size(), 2u);
  EXPECT_EQ(stats.failures_by_code.at("UNAVAILABLE"), 1);
  EXPECT_EQ(stats.failures_by_code.at("DEADLINE_EXCEEDED"), 1);
}

TEST(ComputeBenchStatsTest, ThroughputCountsWhatHappenedInsideTheWindow) {
  const BenchStats stats = ComputeBenchStats(Scenario(), {10, 20});
  EXPECT_EQ(stats.window_output_tokens, 2 + 5 + 1 + 1);
  EXPECT_DOUBLE_EQ(stats.output_tokens_per_second, 0.9);
  EXPECT_EQ(stats.completed_requests, 2);
  EXPECT_DOUBLE_EQ(stats.requests_per_second, 0.2);
  EXPECT_EQ(stats.completed_output_tokens, 5 + 5);
  EXPECT_DOUBLE_EQ(stats.completed_output_tokens_per_second, 1.0);
}

TEST(ComputeBenchStatsTest, LatenciesOfOkMeasuredRequests) {
  const BenchStats stats = ComputeBenchStats(Scenario(), {10, 20});
  EXPECT_EQ(stats.ttft.count, 2);
  EXPECT_DOUBLE_EQ(stats.ttft.mean, 0.75);
  EXPECT_DOUBLE_EQ(stats.ttft.p50, 0.75);
  EXPECT_DOUBLE_EQ(stats.ttft.p90, 0.95);

  // {0.2, 0.4, 0.4, 5}
  EXPECT_EQ(stats.itl.count, 4);
  EXPECT_NEAR(stats.itl.mean, 1.5, 1e-12);
  EXPECT_NEAR(stats.itl.p50, 0.4, 1e-12);
  EXPECT_NEAR(stats.itl.p99, 0.4 + 0.97 * 4.6, 1e-12);

  EXPECT_EQ(stats.e2e.count, 2);
  EXPECT_DOUBLE_EQ(stats.e2e.mean, 4.75);
  EXPECT_DOUBLE_EQ(stats.e2e.p99, 2.5 + 0.99 * 4.5);
}

TEST(ComputeBenchStatsTest, EmptyWindowGivesZeroRatesNotInfinities) {
  const BenchStats stats = ComputeBenchStats(Scenario(), {10, 10});
  EXPECT_EQ(stats.output_tokens_per_second, 0.0);
  EXPECT_EQ(stats.requests_per_second, 0.0);
  EXPECT_EQ(stats.requests_ok, 1);  // the request sent at exactly 10
}

TEST(ComputeBenchStatsTest, NoRecordsNoLatencies) {
  const BenchStats stats = ComputeBenchStats({}, {0, 5});
  EXPECT_EQ(stats.requests_ok + stats.requests_failed, 0);
  EXPECT_EQ(stats.ttft.count, 0);
  EXPECT_TRUE(std::isnan(stats.e2e.p50));
}

}  // namespace
}  // namespace rattn::bench
