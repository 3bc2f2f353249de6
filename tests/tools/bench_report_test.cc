// rattn-bench's options check and report: JSON layout and values, the summary table, and writing
// the file.
#include "tools/bench/bench_report.h"

#include <cstdio>
#include <fstream>
#include <sstream>

#include "gtest/gtest.h"
#include "tools/bench/bench_options.h"

namespace rattn::bench {
namespace {

BenchStats SomeStats() {
  BenchStats stats;
  stats.requests_ok = 40;
  stats.requests_failed = 2;
  stats.failures_by_code["UNAVAILABLE"] = 2;
  stats.measured_seconds = 10;
  stats.window_output_tokens = 5000;
  stats.output_tokens_per_second = 500;
  stats.completed_output_tokens = 4800;
  stats.completed_output_tokens_per_second = 480;
  stats.completed_requests = 38;
  stats.requests_per_second = 3.8;
  stats.ttft = SummarizeLatencies({0.010, 0.020, 0.030});
  stats.itl = SummarizeLatencies({});
  stats.e2e = SummarizeLatencies({1.0, 2.0});
  return stats;
}

TEST(BenchOptionsTest, DefaultsAreValidAndBadValuesNameTheirFlag) {
  EXPECT_TRUE(BenchOptions().Validate().ok());
  auto refused = [](auto edit, const char* flag) {
    BenchOptions options;
    edit(options);
    absl::Status status = options.Validate();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << flag;
    EXPECT_NE(status.message().find(flag), std::string::npos) << status;
  };
  refused([](BenchOptions& o) { o.concurrency = 0; }, "--concurrency");
  refused([](BenchOptions& o) { o.concurrency = BenchOptions::kMaxInFlight + 1; }, "--concurrency");
  refused([](BenchOptions& o) { o.mode = LoadMode::kRequestRate; }, "--request_rate");
  refused(
      [](BenchOptions& o) {
        o.mode = LoadMode::kRequestRate;
        o.request_rate = 2;
        o.max_concurrency = -1;
      },
      "--max_concurrency");
  refused([](BenchOptions& o) { o.duration = absl::ZeroDuration(); }, "--duration");
  refused([](BenchOptions& o) { o.warmup = absl::Seconds(-1); }, "--warmup");
  refused([](BenchOptions& o) { o.num_requests = -1; }, "--num_requests");
  refused([](BenchOptions& o) { o.temperature = -0.5f; }, "--temperature");
}

TEST(BenchReportJsonTest, HoldsConfigCountsRatesAndLatenciesInSeconds) {
  BenchOptions options;
  options.target = "example:1234";
  options.concurrency = 8;
  options.prompt_len = *LengthDistribution::Parse("uniform:16:64");
  const nlohmann::json json = BenchReportJson(options, {"tiny", "cpu"}, SomeStats());

  const nlohmann::json& config = json.at("config");
  EXPECT_EQ(config.at("target"), "example:1234");
  EXPECT_EQ(config.at("model"), "tiny");
  EXPECT_EQ(config.at("mode"), "concurrency");
  EXPECT_EQ(config.at("concurrency"), 8);
  EXPECT_FALSE(config.contains("request_rate"));
  EXPECT_EQ(config.at("prompt_len"), "uniform:16:64");
  EXPECT_EQ(config.at("output_len"), "128");
  EXPECT_DOUBLE_EQ(config.at("duration_s").get<double>(), 30.0);

  EXPECT_EQ(json.at("requests").at("ok"), 40);
  EXPECT_EQ(json.at("requests").at("failed"), 2);
  EXPECT_EQ(json.at("requests").at("failures_by_code").at("UNAVAILABLE"), 2);
  EXPECT_DOUBLE_EQ(json.at("output_tokens_per_s").get<double>(), 500.0);
  EXPECT_DOUBLE_EQ(json.at("requests_per_s").get<double>(), 3.8);
  EXPECT_DOUBLE_EQ(json.at("ttft_s").at("p50").get<double>(), 0.020);
  EXPECT_DOUBLE_EQ(json.at("e2e_s").at("mean").get<double>(), 1.5);
  EXPECT_EQ(json.at("itl_s").at("count"), 0);
  EXPECT_TRUE(json.at("itl_s").at("p99").is_null());
}

TEST(BenchReportJsonTest, RateModeAndTextPromptShowTheirOwnFields) {
  BenchOptions options;
  options.mode = LoadMode::kRequestRate;
  options.request_rate = 2.5;
  options.max_concurrency = 16;
  options.prompt_text = "Hello";
  const nlohmann::json config = BenchReportJson(options, {}, SomeStats()).at("config");
  EXPECT_EQ(config.at("mode"), "request_rate");
  EXPECT_DOUBLE_EQ(config.at("request_rate").get<double>(), 2.5);
  EXPECT_EQ(config.at("max_concurrency"), 16);
  EXPECT_FALSE(config.contains("concurrency"));
  EXPECT_EQ(config.at("prompt_text"), "Hello");
  EXPECT_FALSE(config.contains("prompt_len"));
}

TEST(BenchSummaryTableTest, ShowsRatesFailuresAndLatenciesInMilliseconds) {
  const std::string table = BenchSummaryTable(BenchOptions(), {"tiny", "cpu"}, SomeStats());
  EXPECT_NE(table.find("40 / 2 (UNAVAILABLE 2)"), std::string::npos) << table;
  EXPECT_NE(table.find("500.0"), std::string::npos) << table;
  // TTFT mean, p50, p90, p99 in ms.
  EXPECT_NE(table.find("20.00      20.00      28.00      29.80"), std::string::npos) << table;
  // No inter-token samples.
  EXPECT_NE(table.find("-          -          -          -"), std::string::npos) << table;
}

TEST(WriteJsonFileTest, WritesWhatReadsBackAndReportsAnUnwritablePath) {
  const std::string path = ::testing::TempDir() + "/bench_report_test.json";
  const nlohmann::json json = BenchReportJson(BenchOptions(), {"tiny", "cpu"}, SomeStats());
  ASSERT_TRUE(WriteJsonFile(path, json).ok());
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(nlohmann::json::parse(text.str()), json);
  std::remove(path.c_str());

  EXPECT_FALSE(WriteJsonFile("/nonexistent-directory/report.json", json).ok());
}

}  // namespace
}  // namespace rattn::bench
