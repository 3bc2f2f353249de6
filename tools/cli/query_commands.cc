// rattn-cli's one-call subcommands.
#include "tools/cli/query_commands.h"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "tools/cli/cli_format.h"

namespace rattn::cli {
namespace {

void Print(const std::string& text) { std::fwrite(text.data(), 1, text.size(), stdout); }

}  // namespace

absl::Status RunInfo(v1::RattnService::Stub& stub, const CallSetup& setup) {
  grpc::ClientContext context;
  tools::PrepareContext(*setup.client, setup.timeout, context);
  v1::ModelInfo info;
  grpc::Status status = stub.GetModelInfo(&context, v1::GetModelInfoRequest(), &info);
  if (!status.ok()) return tools::FromGrpcStatus(status);
  Print(FormatModelInfo(info));
  return absl::OkStatus();
}

absl::Status RunLoad(v1::RattnService::Stub& stub, const CallSetup& setup) {
  grpc::ClientContext context;
  tools::PrepareContext(*setup.client, setup.timeout, context);
  v1::LoadInfo load;
  grpc::Status status = stub.GetLoad(&context, v1::GetLoadRequest(), &load);
  if (!status.ok()) return tools::FromGrpcStatus(status);
  Print(FormatLoadInfo(load));
  return absl::OkStatus();
}

absl::Status RunTokenize(v1::RattnService::Stub& stub, const CallSetup& setup,
                         const std::string& text, std::optional<bool> add_bos) {
  grpc::ClientContext context;
  tools::PrepareContext(*setup.client, setup.timeout, context);
  v1::TokenizeRequest request;
  request.set_text(text);
  if (add_bos.has_value()) request.set_add_bos(*add_bos);
  v1::TokenizeResponse response;
  grpc::Status status = stub.Tokenize(&context, request, &response);
  if (!status.ok()) return tools::FromGrpcStatus(status);
  // The same comma list that `detokenize` and `generate --token_ids` read.
  Print(absl::StrCat(absl::StrJoin(response.token_ids(), ","), "\n"));
  return absl::OkStatus();
}

absl::Status RunDetokenize(v1::RattnService::Stub& stub, const CallSetup& setup,
                           const std::vector<int32_t>& token_ids) {
  grpc::ClientContext context;
  tools::PrepareContext(*setup.client, setup.timeout, context);
  v1::DetokenizeRequest request;
  request.mutable_token_ids()->Add(token_ids.begin(), token_ids.end());
  v1::DetokenizeResponse response;
  grpc::Status status = stub.Detokenize(&context, request, &response);
  if (!status.ok()) return tools::FromGrpcStatus(status);
  Print(absl::StrCat(response.text(), "\n"));
  return absl::OkStatus();
}

absl::Status RunAbort(v1::RattnService::Stub& stub, const CallSetup& setup,
                      const std::string& request_id) {
  grpc::ClientContext context;
  tools::PrepareContext(*setup.client, setup.timeout, context);
  v1::AbortRequest request;
  request.set_request_id(request_id);
  v1::AbortResponse response;
  return tools::FromGrpcStatus(stub.Abort(&context, request, &response));
}

absl::StatusOr<bool> RunHealth(const std::shared_ptr<grpc::Channel>& channel,
                               const CallSetup& setup, const std::string& service) {
  std::unique_ptr<grpc::health::v1::Health::Stub> stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext context;
  tools::PrepareContext(*setup.client, setup.timeout, context);
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  grpc::health::v1::HealthCheckResponse response;
  grpc::Status status = stub->Check(&context, request, &response);
  if (!status.ok()) return tools::FromGrpcStatus(status);
  Print(absl::StrCat(grpc::health::v1::HealthCheckResponse::ServingStatus_Name(response.status()),
                     "\n"));
  return response.status() == grpc::health::v1::HealthCheckResponse::SERVING;
}

}  // namespace rattn::cli
