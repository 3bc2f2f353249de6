// rattn-cli generate: streaming and unary generation printed for a person.
#include "tools/cli/generate_command.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "tools/cli/cli_format.h"

namespace rattn::cli {
namespace {

using Clock = std::chrono::steady_clock;

// Deadline of each Detokenize call made to label logprob tables.
constexpr absl::Duration kLookupTimeout = absl::Seconds(10);

double SecondsBetween(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

void WriteStdout(const std::string& text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
}

// What one sample produced, gathered from chunks or from a unary result.
struct SampleOutput {
  std::string text;
  google::protobuf::RepeatedPtrField<v1::TokenLogprob> logprobs;
  v1::FinishReason finish_reason = v1::FINISH_REASON_UNSPECIFIED;
  uint32_t completion_tokens = 0;
};

// Labels token ids with their text, one Detokenize call per distinct id.
class TokenTextCache {
 public:
  TokenTextCache(v1::RattnService::Stub& stub, const tools::ClientOptions& client)
      : stub_(stub), client_(client) {}

  std::string operator()(int32_t id) {
    auto it = texts_.find(id);
    if (it != texts_.end()) return it->second;
    grpc::ClientContext context;
    tools::PrepareContext(client_, kLookupTimeout, context);
    v1::DetokenizeRequest request;
    request.add_token_ids(id);
    v1::DetokenizeResponse response;
    grpc::Status status = stub_.Detokenize(&context, request, &response);
    std::string text = status.ok() ? QuoteTokenText(response.text()) : "?";
    texts_.emplace(id, text);
    return text;
  }

 private:
  v1::RattnService::Stub& stub_;
  const tools::ClientOptions& client_;
  absl::flat_hash_map<int32_t, std::string> texts_;
};

// Prints the held texts of several samples, the logprob tables and the summary line.
void PrintResults(v1::RattnService::Stub& stub, const tools::ClientOptions& client,
                  const GenerateOptions& options, const std::vector<SampleOutput>& samples,
                  GenerateSummary summary, bool streamed_text) {
  bool ends_with_newline = true;
  if (!streamed_text) {
    for (size_t i = 0; i < samples.size(); ++i) {
      if (samples.size() > 1) {
        WriteStdout(absl::StrCat(i == 0 || ends_with_newline ? "" : "\n", "--- sample ", i, " (",
                                 FinishReasonName(samples[i].finish_reason), ") ---\n"));
      }
      WriteStdout(samples[i].text);
      ends_with_newline = samples[i].text.empty() || samples[i].text.back() == '\n';
    }
  } else if (!samples.empty()) {
    ends_with_newline = samples[0].text.empty() || samples[0].text.back() == '\n';
  }
  // A terminal gets its prompt back on a fresh line; a pipe gets exactly the generated text.
  if (!ends_with_newline && isatty(fileno(stdout))) WriteStdout("\n");

  if (options.request.logprobs().has_top_logprobs()) {
    TokenTextCache token_text(stub, client);
    for (size_t i = 0; i < samples.size(); ++i) {
      std::fputs(FormatLogprobTable(i, samples[i].logprobs, std::ref(token_text)).c_str(), stderr);
    }
  }
  for (const SampleOutput& sample : samples) {
    summary.finish_reasons.push_back(sample.finish_reason);
    summary.completion_tokens += sample.completion_tokens;
  }
  std::fprintf(stderr, "%s\n", FormatSummaryLine(summary).c_str());
}

size_t SampleCount(const v1::GenerateRequest& request) {
  return request.n() == 0 ? 1 : request.n();
}

absl::Status RunStreaming(v1::RattnService::Stub& stub, const tools::ClientOptions& client,
                          const GenerateOptions& options) {
  std::vector<SampleOutput> samples(SampleCount(options.request));
  const bool stream_text = samples.size() == 1;
  GenerateSummary summary;
  grpc::ClientContext context;
  tools::PrepareContext(client, options.timeout, context);

  const Clock::time_point sent = Clock::now();
  std::unique_ptr<grpc::ClientReader<v1::GenerateResponse>> reader =
      stub.Generate(&context, options.request);
  v1::GenerateResponse response;
  std::string error_message;
  while (reader->Read(&response)) {
    summary.request_id = response.request_id();
    if (response.has_chunk()) {
      const v1::Chunk& chunk = response.chunk();
      if (chunk.index() >= samples.size()) continue;
      if (chunk.token_ids_size() > 0 && !summary.ttft_seconds.has_value()) {
        summary.ttft_seconds = SecondsBetween(sent, Clock::now());
      }
      SampleOutput& sample = samples[chunk.index()];
      sample.text += chunk.text();
      sample.logprobs.MergeFrom(chunk.logprobs());
      if (stream_text) WriteStdout(chunk.text());
    } else if (response.has_completion()) {
      const v1::Completion& completion = response.completion();
      if (completion.index() >= samples.size()) continue;
      samples[completion.index()].finish_reason = completion.finish_reason();
      samples[completion.index()].completion_tokens = completion.completion_tokens();
      summary.prompt_tokens = completion.prompt_tokens();
    } else if (response.has_error()) {
      error_message = response.error().message();
    }
  }
  grpc::Status status = reader->Finish();
  summary.e2e_seconds = SecondsBetween(sent, Clock::now());
  if (!status.ok()) {
    if (stream_text && !samples[0].text.empty()) WriteStdout("\n");
    return tools::FromGrpcStatus(status);
  }
  if (!error_message.empty()) return absl::InternalError(error_message);
  PrintResults(stub, client, options, samples, std::move(summary), stream_text);
  return absl::OkStatus();
}

absl::Status RunUnary(v1::RattnService::Stub& stub, const tools::ClientOptions& client,
                      const GenerateOptions& options) {
  grpc::ClientContext context;
  tools::PrepareContext(client, options.timeout, context);
  v1::GenerateResult result;
  const Clock::time_point sent = Clock::now();
  grpc::Status status = stub.GenerateUnary(&context, options.request, &result);
  GenerateSummary summary;
  summary.e2e_seconds = SecondsBetween(sent, Clock::now());
  if (!status.ok()) return tools::FromGrpcStatus(status);

  summary.request_id = result.request_id();
  summary.prompt_tokens = result.prompt_tokens();
  if (result.has_timings()) {
    summary.ttft_seconds = result.timings().time_to_first_token_seconds();
    summary.ttft_from_server = true;
  }
  std::vector<SampleOutput> samples(result.samples_size());
  for (const v1::SampleResult& result_sample : result.samples()) {
    if (result_sample.index() >= samples.size()) continue;
    SampleOutput& sample = samples[result_sample.index()];
    sample.text = result_sample.text();
    sample.logprobs = result_sample.logprobs();
    sample.finish_reason = result_sample.finish_reason();
    sample.completion_tokens = result_sample.completion_tokens();
  }
  PrintResults(stub, client, options, samples, std::move(summary), /*streamed_text=*/false);
  return absl::OkStatus();
}

}  // namespace

absl::Status RunGenerate(v1::RattnService::Stub& stub, const tools::ClientOptions& client,
                         const GenerateOptions& options) {
  return options.unary ? RunUnary(stub, client, options) : RunStreaming(stub, client, options);
}

}  // namespace rattn::cli
