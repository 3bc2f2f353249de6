// What the command-line clients share about talking to a rattn server: the channel (plaintext or
// TLS), the per-call bearer token and deadline, and turning a finished call's grpc::Status into
// an absl::Status (the codes are the same, one to one).
#ifndef RATTN_TOOLS_COMMON_GRPC_CLIENT_H_
#define RATTN_TOOLS_COMMON_GRPC_CLIENT_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/support/status.h"

namespace rattn::tools {

struct ClientOptions {
  std::string target = "localhost:50051";  // host:port, or any gRPC target URI
  std::string tls_ca_file;                 // PEM root certificates; non-empty: connect with TLS
  std::string auth_token;                  // non-empty: sent as "authorization: Bearer <token>"
};

// Makes the channel. Fails only when the CA file cannot be read: connecting happens on the first
// call, whose status then says why it could not.
absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const ClientOptions& options);

// Adds the bearer token to `context` and, unless `timeout` is infinite, a deadline `timeout`
// from now. Call before the RPC starts.
void PrepareContext(const ClientOptions& options, absl::Duration timeout,
                    grpc::ClientContext& context);

absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace rattn::tools

#endif  // RATTN_TOOLS_COMMON_GRPC_CLIENT_H_
