// rattn-bench: a load generator for a rattn server over gRPC.
//
//   rattn-bench --concurrency=16 --duration=60s --prompt_len=uniform:64:512 --output_len=128
//   rattn-bench --request_rate=4 --max_concurrency=64 --json_out=bench.json
//
// Prints a summary table on stdout (and writes it as JSON to --json_out). Exit status: 0 when at
// least one measured request ended OK, 1 otherwise or on an error, 130 after an interrupt.
#include <atomic>
#include <csignal>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "engine/util/logging.h"
#include "engine/util/status_macros.h"
#include "rattn/v1/rattn.grpc.pb.h"
#include "tools/bench/bench_options.h"
#include "tools/bench/bench_report.h"
#include "tools/bench/bench_stats.h"
#include "tools/bench/load_generator.h"
#include "tools/common/grpc_client.h"

ABSL_FLAG(std::string, target, "localhost:50051", "Server address (host:port or a gRPC URI)");
ABSL_FLAG(std::string, auth_token, "",
          "Bearer token, sent as 'authorization: Bearer TOKEN' metadata");
ABSL_FLAG(std::string, tls_ca, "", "PEM file of root certificates; when set, connect with TLS");

ABSL_FLAG(int, concurrency, 0,
          "Fixed-concurrency mode: keep this many requests in flight (the default mode, with 1)");
ABSL_FLAG(double, request_rate, 0,
          "Request-rate mode: start requests at Poisson arrivals of this mean rate per second");
ABSL_FLAG(int, max_concurrency, 0,
          "Request-rate mode: at most this many in flight; a later arrival waits for a free slot "
          "and its latencies count from when it is sent (0: 4096)");
ABSL_FLAG(absl::Duration, warmup, absl::Seconds(5),
          "Warm-up: requests that start in it are sent but left out of every statistic");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(30), "Length of the measured phase");
ABSL_FLAG(int64_t, num_requests, 0,
          "Stop after this many measured requests; the measured phase then ends when the last "
          "of them ends, if before --duration (0: no cap)");
ABSL_FLAG(std::string, prompt_len, "128",
          "Prompt length in random token ids: N, uniform:A:B or normal:MEAN:STD (clipped to >= 1)");
ABSL_FLAG(std::string, output_len, "128",
          "max_new_tokens per request, with ignore_eos: N, uniform:A:B or normal:MEAN:STD");
ABSL_FLAG(std::string, prompt_text, "",
          "A fixed text prompt for every request instead of random token ids");
ABSL_FLAG(double, temperature, 0, "Sampling temperature (0: greedy)");
ABSL_FLAG(uint64_t, seed, 0,
          "Seed of prompt lengths, token ids, output lengths and arrival times; request i also "
          "samples with seed + i");
ABSL_FLAG(absl::Duration, request_timeout, absl::InfiniteDuration(), "Deadline of each request");
ABSL_FLAG(std::string, json_out, "", "Write the report as JSON to this file");
ABSL_FLAG(bool, progress, true, "Show progress on stderr");

namespace {

using rattn::bench::BenchOptions;

constexpr absl::Duration kModelInfoTimeout = absl::Seconds(10);

constexpr char kUsage[] = R"(rattn-bench: load a rattn server through Generate streams and
report throughput and latency.

Definitions:
  measured requests   those sent after the warm-up and before the end of the measured phase;
                      ok / failed counts and every latency are theirs (latencies of ok ones)
  TTFT                send -> first chunk with tokens
  inter-token latency time between successive token chunks of a request, divided evenly among
                      the tokens of the later chunk
  e2e latency         send -> end of the stream
  output tokens/s     output tokens that arrived during the measured phase (from any request)
                      / its length
  completed output tokens/s
                      output tokens of the requests that ended ok during the measured phase
                      / its length
  requests/s          requests that ended ok during the measured phase / its length

See --help for the flags.)";

std::atomic<bool> interrupted{false};

// A first interrupt ends the run early, with a report; a second one kills the process.
void OnInterrupt(int) {
  interrupted.store(true);
  std::signal(SIGINT, SIG_DFL);
}

absl::StatusOr<BenchOptions> OptionsFromFlags() {
  BenchOptions options;
  options.target = absl::GetFlag(FLAGS_target);
  const int concurrency = absl::GetFlag(FLAGS_concurrency);
  options.request_rate = absl::GetFlag(FLAGS_request_rate);
  if (options.request_rate != 0) {
    if (concurrency != 0) {
      return absl::InvalidArgumentError(
          "--concurrency and --request_rate choose different modes; give one");
    }
    options.mode = rattn::bench::LoadMode::kRequestRate;
  } else {
    options.concurrency = concurrency == 0 ? 1 : concurrency;
  }
  options.max_concurrency = absl::GetFlag(FLAGS_max_concurrency);
  options.warmup = absl::GetFlag(FLAGS_warmup);
  options.duration = absl::GetFlag(FLAGS_duration);
  options.num_requests = absl::GetFlag(FLAGS_num_requests);
  RATTN_ASSIGN_OR_RETURN(options.prompt_len,
                         rattn::bench::LengthDistribution::Parse(absl::GetFlag(FLAGS_prompt_len)));
  RATTN_ASSIGN_OR_RETURN(options.output_len,
                         rattn::bench::LengthDistribution::Parse(absl::GetFlag(FLAGS_output_len)));
  options.prompt_text = absl::GetFlag(FLAGS_prompt_text);
  options.temperature = static_cast<float>(absl::GetFlag(FLAGS_temperature));
  options.seed = absl::GetFlag(FLAGS_seed);
  options.request_timeout = absl::GetFlag(FLAGS_request_timeout);
  RATTN_RETURN_IF_ERROR(options.Validate());
  return options;
}

absl::StatusOr<rattn::v1::ModelInfo> GetModelInfo(rattn::v1::RattnService::Stub& stub,
                                                  const rattn::tools::ClientOptions& client) {
  grpc::ClientContext context;
  rattn::tools::PrepareContext(client, kModelInfoTimeout, context);
  rattn::v1::ModelInfo info;
  grpc::Status status = stub.GetModelInfo(&context, rattn::v1::GetModelInfoRequest(), &info);
  if (!status.ok()) {
    absl::Status error = rattn::tools::FromGrpcStatus(status);
    return absl::Status(error.code(), absl::StrCat("GetModelInfo: ", error.message()));
  }
  if (info.vocab_size() == 0) return absl::FailedPreconditionError("the model has no vocabulary");
  return info;
}

// Warns when the longest prompt and output the specs allow exceed the model's context, which
// would make some requests fail.
void CheckContext(const BenchOptions& options, const rattn::v1::ModelInfo& info) {
  std::optional<int64_t> prompt = options.prompt_len.UpperBound();
  std::optional<int64_t> output = options.output_len.UpperBound();
  if (!options.prompt_text.empty() || !prompt || !output || info.max_context() == 0) return;
  if (*prompt + *output > info.max_context()) {
    RATTN_LOG(WARNING) << "prompts of up to " << *prompt << " tokens plus outputs of up to "
                       << *output << " exceed the model's context of " << info.max_context()
                       << " tokens; such requests will fail or stop short";
  }
}

absl::StatusOr<int> Run() {
  RATTN_ASSIGN_OR_RETURN(BenchOptions options, OptionsFromFlags());
  rattn::tools::ClientOptions client;
  client.target = options.target;
  client.tls_ca_file = absl::GetFlag(FLAGS_tls_ca);
  client.auth_token = absl::GetFlag(FLAGS_auth_token);
  RATTN_ASSIGN_OR_RETURN(std::shared_ptr<grpc::Channel> channel, rattn::tools::MakeChannel(client));
  std::unique_ptr<rattn::v1::RattnService::Stub> stub = rattn::v1::RattnService::NewStub(channel);
  RATTN_ASSIGN_OR_RETURN(rattn::v1::ModelInfo info, GetModelInfo(*stub, client));
  CheckContext(options, info);
  RATTN_LOG(INFO) << "benchmarking " << info.model_name() << " (" << info.backend() << ") at "
                  << options.target << ": " << rattn::bench::LoadModeName(options.mode) << ", "
                  << absl::FormatDuration(options.warmup) << " warm-up, "
                  << absl::FormatDuration(options.duration) << " measured";

  std::signal(SIGINT, OnInterrupt);
  rattn::bench::LoadGenerator generator(*stub, client, options, info.vocab_size());
  rattn::bench::LoadResult result = generator.Run(interrupted, absl::GetFlag(FLAGS_progress));
  std::signal(SIGINT, SIG_DFL);

  const rattn::bench::BenchStats stats =
      rattn::bench::ComputeBenchStats(result.records, result.window);
  const rattn::bench::ServedModel model{info.model_name(), info.backend()};
  if (result.interrupted) {
    std::fputs(
        "rattn-bench: interrupted; the measured phase ended early and the calls then in "
        "flight were cancelled (they count as CANCELLED)\n",
        stderr);
  }
  std::fputs(rattn::bench::BenchSummaryTable(options, model, stats).c_str(), stdout);
  const std::string json_out = absl::GetFlag(FLAGS_json_out);
  if (!json_out.empty()) {
    nlohmann::json report = rattn::bench::BenchReportJson(options, model, stats);
    report["interrupted"] = result.interrupted;
    RATTN_RETURN_IF_ERROR(rattn::bench::WriteJsonFile(json_out, report));
  }
  if (result.interrupted) return 130;
  return stats.requests_ok > 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(kUsage);
  absl::ParseCommandLine(argc, argv);
  absl::StatusOr<int> exit_code = Run();
  if (!exit_code.ok()) {
    std::fprintf(stderr, "rattn-bench: %s: %s\n",
                 absl::StatusCodeToString(exit_code.status().code()).c_str(),
                 std::string(exit_code.status().message()).c_str());
    return 1;
  }
  return *exit_code;
}
