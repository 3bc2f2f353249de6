// rattn-cli: a terminal client for a rattn server.
//
//   rattn-cli generate "Once upon a time" --max_new_tokens=64 --temperature=0.8
//   rattn-cli generate 1,2,3 --token_ids --n=3 --logprobs=5
//   rattn-cli info | load | health | tokenize TEXT | detokenize IDS | abort REQUEST_ID
//
// Exit status: 0 on success, 1 when the call failed (printed as "rattn-cli: CODE: message") or
// health is not SERVING, 2 on a usage error.
#include <cstdio>
#include <iostream>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "engine/util/status_macros.h"
#include "tools/cli/cli_args.h"
#include "tools/cli/generate_command.h"
#include "tools/cli/query_commands.h"
#include "tools/common/grpc_client.h"

ABSL_FLAG(std::string, target, "localhost:50051", "Server address (host:port or a gRPC URI)");
ABSL_FLAG(std::string, auth_token, "",
          "Bearer token, sent as 'authorization: Bearer TOKEN' metadata");
ABSL_FLAG(std::string, tls_ca, "", "PEM file of root certificates; when set, connect with TLS");
ABSL_FLAG(std::optional<absl::Duration>, timeout, std::nullopt,
          "Deadline of each call, e.g. 30s or 2m (default: none for generate, 10s otherwise)");

ABSL_FLAG(std::optional<int>, max_new_tokens, std::nullopt, "generate: tokens per sample (16)");
ABSL_FLAG(std::optional<float>, temperature, std::nullopt, "generate: 0 is greedy (1.0)");
ABSL_FLAG(std::optional<float>, top_p, std::nullopt, "generate: nucleus mass (1.0)");
ABSL_FLAG(std::optional<int>, top_k, std::nullopt, "generate: 0 keeps every token (0)");
ABSL_FLAG(std::optional<float>, min_p, std::nullopt, "generate: (0.0)");
ABSL_FLAG(std::optional<float>, repetition_penalty, std::nullopt, "generate: (1.0)");
ABSL_FLAG(std::optional<float>, presence_penalty, std::nullopt, "generate: (0.0)");
ABSL_FLAG(std::optional<float>, frequency_penalty, std::nullopt, "generate: (0.0)");
ABSL_FLAG(std::optional<uint64_t>, seed, std::nullopt,
          "generate: sample i of n uses seed + i (default: the server draws one)");
ABSL_FLAG(std::string, stop, "",
          "generate: stop strings; repeat the flag or give a comma list ('\\,' is a comma)");
ABSL_FLAG(int, n, 1,
          "generate: samples of the prompt; with n > 1 each sample's text is printed when the "
          "call ends, under a line '--- sample I (FINISH_REASON) ---'");
ABSL_FLAG(std::optional<int>, logprobs, std::nullopt,
          "generate: print the logprob of every generated token and of its N most likely "
          "alternatives (N <= 20) as a table on stderr after the call");
ABSL_FLAG(bool, ignore_eos, false, "generate: keep going past end-of-sequence");
ABSL_FLAG(bool, token_ids, false, "generate: PROMPT is comma-separated token ids, not text");
ABSL_FLAG(bool, unary, false, "generate: call GenerateUnary instead of the streaming Generate");
ABSL_FLAG(std::optional<bool>, add_bos, std::nullopt,
          "generate, tokenize: begin a text prompt with BOS (default: when the tokenizer has one)");
ABSL_FLAG(std::string, request_id, "",
          "generate: the request id, for `abort` (default: the server assigns one)");
ABSL_FLAG(std::string, service, "", "health: the service to ask about (empty: the server)");

namespace {

using rattn::cli::CallSetup;

constexpr char kUsage[] = R"(rattn-cli: a terminal client for a rattn server.

Usage: rattn-cli COMMAND [ARGS] [--flags]

Commands:
  generate PROMPT     stream a generation ("-" reads the prompt from stdin); text goes to
                      stdout as it arrives, a summary line to stderr: finish reasons, prompt
                      and completion tokens, time to first token, total time and tokens/s
                      (completion tokens of all samples / total time)
  info                the model and server
  load                queue, throughput and cache pool usage
  health              grpc.health.v1 Check; exit status 0 only when SERVING
  tokenize TEXT       print the token ids of TEXT
  detokenize IDS      print the text of comma-separated token ids
  abort REQUEST_ID    end a live request

See --help for the flags.)";

struct UsageError {
  std::string message;
};

absl::StatusOr<std::string> ReadPrompt(const std::string& argument) {
  if (argument != "-") return argument;
  std::string text(std::istreambuf_iterator<char>(std::cin), {});
  if (std::cin.bad()) return absl::DataLossError("cannot read the prompt from stdin");
  return text;
}

absl::StatusOr<rattn::cli::GenerateOptions> GenerateOptionsFromFlags(const std::string& prompt) {
  rattn::cli::GenerateOptions options;
  rattn::v1::GenerateRequest& request = options.request;
  request.set_request_id(absl::GetFlag(FLAGS_request_id));
  if (absl::GetFlag(FLAGS_token_ids)) {
    RATTN_ASSIGN_OR_RETURN(std::vector<int32_t> ids, rattn::cli::ParseTokenIds(prompt));
    request.mutable_token_ids()->mutable_ids()->Add(ids.begin(), ids.end());
  } else {
    request.set_text(prompt);
    if (auto add_bos = absl::GetFlag(FLAGS_add_bos)) request.set_add_bos(*add_bos);
  }

  rattn::v1::SamplingParams& sampling = *request.mutable_sampling();
  if (auto v = absl::GetFlag(FLAGS_temperature)) sampling.set_temperature(*v);
  if (auto v = absl::GetFlag(FLAGS_top_k)) sampling.set_top_k(*v);
  if (auto v = absl::GetFlag(FLAGS_top_p)) sampling.set_top_p(*v);
  if (auto v = absl::GetFlag(FLAGS_min_p)) sampling.set_min_p(*v);
  if (auto v = absl::GetFlag(FLAGS_repetition_penalty)) sampling.set_repetition_penalty(*v);
  if (auto v = absl::GetFlag(FLAGS_presence_penalty)) sampling.set_presence_penalty(*v);
  if (auto v = absl::GetFlag(FLAGS_frequency_penalty)) sampling.set_frequency_penalty(*v);
  if (auto v = absl::GetFlag(FLAGS_seed)) sampling.set_seed(*v);

  rattn::v1::StoppingCriteria& stopping = *request.mutable_stopping();
  if (auto v = absl::GetFlag(FLAGS_max_new_tokens)) {
    if (*v < 0) return absl::InvalidArgumentError("--max_new_tokens must be >= 0");
    stopping.set_max_new_tokens(*v);
  }
  RATTN_ASSIGN_OR_RETURN(std::vector<std::string> stops,
                         rattn::cli::SplitEscapedList(absl::GetFlag(FLAGS_stop)));
  for (std::string& stop : stops) stopping.add_stop(std::move(stop));
  stopping.set_ignore_eos(absl::GetFlag(FLAGS_ignore_eos));

  if (auto v = absl::GetFlag(FLAGS_logprobs)) {
    if (*v < 0) return absl::InvalidArgumentError("--logprobs must be >= 0");
    request.mutable_logprobs()->set_top_logprobs(*v);
  }
  if (absl::GetFlag(FLAGS_n) < 1) return absl::InvalidArgumentError("--n must be >= 1");
  request.set_n(absl::GetFlag(FLAGS_n));
  options.unary = absl::GetFlag(FLAGS_unary);
  options.timeout = absl::GetFlag(FLAGS_timeout).value_or(absl::InfiniteDuration());
  return options;
}

// Runs `command` with `args`; a UsageError is reported apart from a failed call.
absl::StatusOr<int> RunCommand(const std::string& command, const std::vector<std::string>& args,
                               UsageError& usage) {
  auto expect_args = [&](size_t count, const char* what) {
    if (args.size() == count) return true;
    usage.message = absl::StrCat(command, " takes ", what);
    return false;
  };
  rattn::tools::ClientOptions client;
  client.target = absl::GetFlag(FLAGS_target);
  client.tls_ca_file = absl::GetFlag(FLAGS_tls_ca);
  client.auth_token = absl::GetFlag(FLAGS_auth_token);
  RATTN_ASSIGN_OR_RETURN(std::shared_ptr<grpc::Channel> channel, rattn::tools::MakeChannel(client));
  std::unique_ptr<rattn::v1::RattnService::Stub> stub = rattn::v1::RattnService::NewStub(channel);
  CallSetup setup{&client, absl::GetFlag(FLAGS_timeout).value_or(absl::Seconds(10))};

  if (command == "generate") {
    if (!expect_args(1, "one PROMPT argument")) return 2;
    RATTN_ASSIGN_OR_RETURN(std::string prompt, ReadPrompt(args[0]));
    RATTN_ASSIGN_OR_RETURN(rattn::cli::GenerateOptions options, GenerateOptionsFromFlags(prompt));
    RATTN_RETURN_IF_ERROR(rattn::cli::RunGenerate(*stub, client, options));
  } else if (command == "info") {
    if (!expect_args(0, "no arguments")) return 2;
    RATTN_RETURN_IF_ERROR(rattn::cli::RunInfo(*stub, setup));
  } else if (command == "load") {
    if (!expect_args(0, "no arguments")) return 2;
    RATTN_RETURN_IF_ERROR(rattn::cli::RunLoad(*stub, setup));
  } else if (command == "health") {
    if (!expect_args(0, "no arguments")) return 2;
    RATTN_ASSIGN_OR_RETURN(bool serving,
                           rattn::cli::RunHealth(channel, setup, absl::GetFlag(FLAGS_service)));
    return serving ? 0 : 1;
  } else if (command == "tokenize") {
    if (!expect_args(1, "one TEXT argument")) return 2;
    RATTN_RETURN_IF_ERROR(
        rattn::cli::RunTokenize(*stub, setup, args[0], absl::GetFlag(FLAGS_add_bos)));
  } else if (command == "detokenize") {
    if (!expect_args(1, "one IDS argument (comma-separated token ids)")) return 2;
    RATTN_ASSIGN_OR_RETURN(std::vector<int32_t> ids, rattn::cli::ParseTokenIds(args[0]));
    RATTN_RETURN_IF_ERROR(rattn::cli::RunDetokenize(*stub, setup, ids));
  } else if (command == "abort") {
    if (!expect_args(1, "one REQUEST_ID argument")) return 2;
    RATTN_RETURN_IF_ERROR(rattn::cli::RunAbort(*stub, setup, args[0]));
  } else {
    usage.message = absl::StrCat("unknown command '", command, "'");
    return 2;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(kUsage);
  // --stop may be repeated; absl would keep only its last value.
  std::vector<std::string> merged_args =
      rattn::cli::MergeRepeatedFlag(std::vector<std::string>(argv, argv + argc), "stop");
  std::vector<char*> merged_argv;
  for (std::string& arg : merged_args) merged_argv.push_back(arg.data());
  std::vector<char*> positional =
      absl::ParseCommandLine(static_cast<int>(merged_argv.size()), merged_argv.data());
  if (positional.size() < 2) {
    std::fprintf(stderr, "%s\n", kUsage);
    return 2;
  }
  std::vector<std::string> args(positional.begin() + 2, positional.end());

  UsageError usage;
  absl::StatusOr<int> exit_code = RunCommand(positional[1], args, usage);
  if (!exit_code.ok()) {
    std::fprintf(stderr, "rattn-cli: %s: %s\n",
                 absl::StatusCodeToString(exit_code.status().code()).c_str(),
                 std::string(exit_code.status().message()).c_str());
    return 1;
  }
  if (!usage.message.empty()) {
    std::fprintf(stderr, "rattn-cli: %s (see --help)\n", usage.message.c_str());
  }
  return *exit_code;
}
