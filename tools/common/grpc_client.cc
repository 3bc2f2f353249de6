// Channel, credentials and per-call setup for the command-line clients.
#include "tools/common/grpc_client.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "engine/util/file_util.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"

namespace rattn::tools {
namespace {

// Generous enough for a unary result with per-token logprobs of a long generation; the server
// enforces its own limit on what it sends.
constexpr int kMaxReceiveMessageBytes = 64 << 20;

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const ClientOptions& options) {
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (options.tls_ca_file.empty()) {
    credentials = grpc::InsecureChannelCredentials();
  } else {
    absl::StatusOr<std::string> roots = ReadSmallFile(options.tls_ca_file, /*max_bytes=*/16 << 20);
    if (!roots.ok()) return roots.status();
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = *std::move(roots);
    credentials = grpc::SslCredentials(ssl);
  }
  grpc::ChannelArguments arguments;
  arguments.SetMaxReceiveMessageSize(kMaxReceiveMessageBytes);
  return grpc::CreateCustomChannel(options.target, credentials, arguments);
}

void PrepareContext(const ClientOptions& options, absl::Duration timeout,
                    grpc::ClientContext& context) {
  if (!options.auth_token.empty()) {
    context.AddMetadata("authorization", absl::StrCat("Bearer ", options.auth_token));
  }
  if (timeout != absl::InfiniteDuration()) {
    context.set_deadline(std::chrono::system_clock::now() + absl::ToChronoNanoseconds(timeout));
  }
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

}  // namespace rattn::tools
