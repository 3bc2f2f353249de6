// rattn-server: serves a RAttention model over gRPC.
//
//   rattn-server --model_dir=models/rattn-fortunes --listen=0.0.0.0:50051
//
// SIGTERM or SIGINT starts a drain (see Server::Drain); the process exits 0 once it is done.
#include <csignal>
#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "engine/util/file_util.h"
#include "engine/util/logging.h"
#include "engine/util/status_macros.h"
#include "server/model_loader.h"
#include "server/request_parser.h"
#include "server/server.h"

ABSL_FLAG(std::string, model_dir, "", "Model directory (config.json, *.safetensors, tokenizer)");
ABSL_FLAG(std::string, backend, "auto", "auto, cpu or cuda (auto: cuda when available)");
ABSL_FLAG(int, threads, 0, "CPU backend threads (0: every core)");
ABSL_FLAG(std::string, weights, "as_stored",
          "CPU weight precision: as_stored (16-bit checkpoints stay 16-bit) or f32");
ABSL_FLAG(std::string, listen, "0.0.0.0:50051", "gRPC listen address (port 0 picks one)");
ABSL_FLAG(std::string, metrics_listen, "0.0.0.0:9090",
          "Prometheus /metrics listen address; empty turns the endpoint off");
ABSL_FLAG(std::string, memory_budget, "1GiB",
          "Cache memory: bytes (512MiB, 4GiB) or a fraction of available memory (0.5)");
ABSL_FLAG(int, block_size, 16, "Positions per cache block");
ABSL_FLAG(int, max_sequences, 256, "Sequences that may hold caches at once");
ABSL_FLAG(int, max_tokens_per_step, 2048, "Token budget of one engine step (decode + prefill)");
ABSL_FLAG(int, max_waiting, 1024, "Queued requests; more are refused with RESOURCE_EXHAUSTED");
ABSL_FLAG(std::string, max_message_size, "16MiB", "Largest gRPC message in or out");
ABSL_FLAG(std::string, tls_cert, "", "PEM certificate chain; with --tls_key, serve TLS");
ABSL_FLAG(std::string, tls_key, "", "PEM private key");
ABSL_FLAG(std::string, auth_token_file, "",
          "File holding a bearer token that RattnService calls must present");
ABSL_FLAG(bool, reflection, true, "Serve gRPC server reflection");
ABSL_FLAG(absl::Duration, drain_timeout, absl::Seconds(30),
          "On SIGTERM, how long in-flight requests may run before they are cancelled");
ABSL_FLAG(absl::Duration, stall_timeout, absl::Seconds(30),
          "Health turns NOT_SERVING when work waits and no engine step ends for this long");
ABSL_FLAG(absl::Duration, max_connection_age, absl::InfiniteDuration(),
          "Close connections older than this gracefully, so clients rebalance onto new replicas "
          "(inf: never)");
ABSL_FLAG(std::string, log_level, "info", "debug, info, warning or error");

namespace rattn::server {
namespace {

absl::StatusOr<std::string> ReadToken(const std::string& path) {
  if (path.empty()) return std::string();
  absl::StatusOr<std::string> text = ReadSmallFile(path, /*max_bytes=*/4096);
  if (!text.ok())
    return absl::Status(text.status().code(),
                        absl::StrCat("--auth_token_file: ", text.status().message()));
  std::string token(absl::StripAsciiWhitespace(*text));
  if (token.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--auth_token_file: ", path, " is empty"));
  }
  return token;
}

absl::StatusOr<ServerOptions> OptionsFromFlags() {
  ServerOptions options;
  options.model_dir = absl::GetFlag(FLAGS_model_dir);
  RATTN_ASSIGN_OR_RETURN(options.backend, ParseBackendKind(absl::GetFlag(FLAGS_backend)));
  options.num_threads = absl::GetFlag(FLAGS_threads);
  const std::string weights = absl::GetFlag(FLAGS_weights);
  if (weights == "f32") {
    options.weight_precision = cpu::WeightPrecision::kFloat32;
  } else if (weights != "as_stored") {
    return absl::InvalidArgumentError(
        absl::StrCat("--weights: must be as_stored or f32, got '", weights, "'"));
  }
  options.listen_address = absl::GetFlag(FLAGS_listen);
  options.metrics_address = absl::GetFlag(FLAGS_metrics_listen);
  absl::StatusOr<MemoryBudget> budget = MemoryBudget::Parse(absl::GetFlag(FLAGS_memory_budget));
  if (!budget.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--memory_budget: ", budget.status().message()));
  }
  options.memory_budget = *budget;
  options.block_size = absl::GetFlag(FLAGS_block_size);
  options.max_sequences = absl::GetFlag(FLAGS_max_sequences);
  options.max_tokens_per_step = absl::GetFlag(FLAGS_max_tokens_per_step);
  options.max_waiting = absl::GetFlag(FLAGS_max_waiting);
  absl::StatusOr<int64_t> message = ParseByteSize(absl::GetFlag(FLAGS_max_message_size));
  if (!message.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--max_message_size: ", message.status().message()));
  }
  options.max_message_bytes = *message;
  options.tls_cert_file = absl::GetFlag(FLAGS_tls_cert);
  options.tls_key_file = absl::GetFlag(FLAGS_tls_key);
  RATTN_ASSIGN_OR_RETURN(options.auth_token, ReadToken(absl::GetFlag(FLAGS_auth_token_file)));
  options.reflection = absl::GetFlag(FLAGS_reflection);
  options.drain_timeout = absl::GetFlag(FLAGS_drain_timeout);
  options.stall_timeout = absl::GetFlag(FLAGS_stall_timeout);
  options.max_connection_age = absl::GetFlag(FLAGS_max_connection_age);
  RATTN_RETURN_IF_ERROR(options.Validate());
  return options;
}

// Blocks SIGTERM and SIGINT in this thread and every thread started after it, so that
// WaitForSignal() receives them.
void BlockStopSignals(sigset_t* signals) {
  sigemptyset(signals);
  sigaddset(signals, SIGTERM);
  sigaddset(signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, signals, nullptr);
}

int Run() {
  absl::StatusOr<LogLevel> level = ParseLogLevel(absl::GetFlag(FLAGS_log_level));
  if (!level.ok()) {
    std::fprintf(stderr, "rattn-server: --log_level: %s\n",
                 std::string(level.status().message()).c_str());
    return 2;
  }
  SetMinLogLevel(*level);
  server::RouteProtobufLogs();
  absl::StatusOr<ServerOptions> options = OptionsFromFlags();
  if (!options.ok()) {
    RATTN_LOG(ERROR) << options.status().message();
    return 2;
  }
  sigset_t signals;
  BlockStopSignals(&signals);

  absl::StatusOr<LoadedModel> model = LoadModel(*options);
  if (!model.ok()) {
    RATTN_LOG(ERROR) << "cannot load the model: " << model.status().message();
    return 1;
  }
  absl::StatusOr<std::unique_ptr<Server>> server = Server::Start(*options, *std::move(model));
  if (!server.ok()) {
    RATTN_LOG(ERROR) << "cannot start: " << server.status().message();
    return 1;
  }
  int signal = 0;
  sigwait(&signals, &signal);
  RATTN_LOG(INFO) << "received " << (signal == SIGTERM ? "SIGTERM" : "SIGINT");
  (*server)->Drain();
  return 0;
}

}  // namespace
}  // namespace rattn::server

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Serves a RAttention model over gRPC.\n  rattn-server --model_dir=DIR [--listen=ADDR]");
  absl::ParseCommandLine(argc, argv);
  return rattn::server::Run();
}
