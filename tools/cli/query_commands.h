// rattn-cli's one-call subcommands: info, load, health, tokenize, detokenize and abort. Each
// makes one unary call with the given deadline and prints its answer to stdout.
#ifndef RATTN_TOOLS_CLI_QUERY_COMMANDS_H_
#define RATTN_TOOLS_CLI_QUERY_COMMANDS_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "rattn/v1/rattn.grpc.pb.h"
#include "tools/common/grpc_client.h"

namespace rattn::cli {

// What every one-call subcommand needs.
struct CallSetup {
  const tools::ClientOptions* client = nullptr;
  absl::Duration timeout = absl::Seconds(10);
};

absl::Status RunInfo(v1::RattnService::Stub& stub, const CallSetup& setup);
absl::Status RunLoad(v1::RattnService::Stub& stub, const CallSetup& setup);
absl::Status RunTokenize(v1::RattnService::Stub& stub, const CallSetup& setup,
                         const std::string& text, std::optional<bool> add_bos);
absl::Status RunDetokenize(v1::RattnService::Stub& stub, const CallSetup& setup,
                           const std::vector<int32_t>& token_ids);
absl::Status RunAbort(v1::RattnService::Stub& stub, const CallSetup& setup,
                      const std::string& request_id);

// Asks grpc.health.v1.Health about `service` (empty: the whole server) and prints the answer.
// Returns whether it is SERVING; a failed call is an error.
absl::StatusOr<bool> RunHealth(const std::shared_ptr<grpc::Channel>& channel,
                               const CallSetup& setup, const std::string& service);

}  // namespace rattn::cli

#endif  // RATTN_TOOLS_CLI_QUERY_COMMANDS_H_
