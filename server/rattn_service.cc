#include "server/rattn_service.h"

#include <random>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/tokenizer/incremental_detokenizer.h"
#include "engine/util/status_macros.h"
#include "server/generate_calls.h"
#include "server/request_convert.h"
#include "server/request_parser.h"
#include "server/status_util.h"

namespace rattn::server {
namespace {

// The index of `method` in RattnService, as the generated code numbers methods.
int MethodIndex(const char* method) {
  const google::protobuf::ServiceDescriptor* service =
      pb::GenerateRequest::descriptor()->file()->FindServiceByName("RattnService");
  return service->FindMethodByName(method)->index();
}

uint64_t RandomWord() {
  std::random_device device;
  return (static_cast<uint64_t>(device()) << 32) ^ device();
}

// Compares every byte whatever the first difference, so that the time taken does not tell an
// attacker how much of a guess was right.
bool SameSecret(absl::string_view given, absl::string_view secret) {
  if (given.size() != secret.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < given.size(); ++i) diff |= given[i] ^ secret[i];
  return diff == 0;
}

}  // namespace

RattnService::RattnService(engine::Engine* engine, ServerMetrics* metrics, pb::ModelInfo model_info,
                           std::string auth_token)
    : engine_(engine),
      metrics_(metrics),
      model_info_(std::move(model_info)),
      auth_token_(std::move(auth_token)),
      id_prefix_(absl::StrFormat("%08x", static_cast<uint32_t>(RandomWord()))),
      next_seed_(RandomWord()) {
  // Requests that carry strings are parsed here, not by gRPC (request_parser.h). The handlers
  // replace those the generated base class installed, with the same response types.
  ParseRequestsOf("GenerateUnary", &RattnService::GenerateUnary);
  ParseRequestsOf("Abort", &RattnService::Abort);
  ParseRequestsOf("Tokenize", &RattnService::Tokenize);
  MarkMethodCallback(
      MethodIndex("Generate"),
      new grpc::internal::CallbackServerStreamingHandler<grpc::ByteBuffer, pb::GenerateResponse>(
          [this](grpc::CallbackServerContext* context, const grpc::ByteBuffer* payload)
              -> grpc::ServerWriteReactor<pb::GenerateResponse>* {
            pb::GenerateRequest message;
            const absl::Status parsed = ParseRequest(*payload, &message);
            if (parsed.ok()) return Generate(context, &message);
            auto* call = new GenerateStreamCall(engine_, metrics_);
            call->Start(RefuseUnparsed(context, parsed));
            return call;
          }));
}

template <typename Request, typename Response>
void RattnService::ParseRequestsOf(const char* method,
                                   grpc::ServerUnaryReactor* (RattnService::*handler)(
                                       grpc::CallbackServerContext*, const Request*, Response*)) {
  MarkMethodCallback(
      MethodIndex(method),
      new grpc::internal::CallbackUnaryHandler<grpc::ByteBuffer, Response>(
          [this, handler](grpc::CallbackServerContext* context, const grpc::ByteBuffer* payload,
                          Response* response) -> grpc::ServerUnaryReactor* {
            Request request;
            const absl::Status parsed = ParseRequest(*payload, &request);
            if (parsed.ok()) return (this->*handler)(context, &request, response);
            return Answer(context, RefuseUnparsed(context, parsed));
          }));
}

absl::Status RattnService::RefuseUnparsed(grpc::CallbackServerContext* context,
                                          const absl::Status& parsed) {
  absl::Status status = Admit(context);  // counts its own refusals
  if (status.ok()) {
    status = parsed;
    if (metrics_ != nullptr) metrics_->CountRejected(status.code());
  }
  return status;
}

absl::Status RattnService::Admit(grpc::CallbackServerContext* context) const {
  absl::Status status;
  if (draining_.load()) {
    status = absl::UnavailableError("the server is shutting down");
  } else if (!auth_token_.empty()) {
    const auto& metadata = context->client_metadata();
    auto it = metadata.find("authorization");
    absl::string_view given;
    if (it != metadata.end()) given = absl::string_view(it->second.data(), it->second.size());
    constexpr absl::string_view kScheme = "Bearer ";
    if (!absl::StartsWith(given, kScheme) ||
        !SameSecret(given.substr(kScheme.size()), auth_token_)) {
      status = absl::UnauthenticatedError("missing or wrong bearer token");
    }
  }
  if (!status.ok() && metrics_ != nullptr) metrics_->CountRejected(status.code());
  return status;
}

absl::StatusOr<engine::GenerateRequest> RattnService::Prepare(grpc::CallbackServerContext* context,
                                                              const pb::GenerateRequest& message) {
  RATTN_RETURN_IF_ERROR(Admit(context));
  absl::StatusOr<engine::GenerateRequest> request =
      ToEngineRequest(message, engine_->tokenizer(), next_seed_.fetch_add(0x9e3779b97f4a7c15));
  if (!request.ok()) {
    if (metrics_ != nullptr) metrics_->CountRejected(request.status().code());
    return request.status();
  }
  if (request->id.empty()) {
    request->id = absl::StrCat("rattn-", id_prefix_, "-", next_id_.fetch_add(1));
  }
  return request;
}

grpc::ServerUnaryReactor* RattnService::Answer(grpc::CallbackServerContext* context,
                                               const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

grpc::ServerWriteReactor<pb::GenerateResponse>* RattnService::Generate(
    grpc::CallbackServerContext* context, const pb::GenerateRequest* message) {
  auto* call = new GenerateStreamCall(engine_, metrics_);
  call->Start(Prepare(context, *message));
  return call;
}

grpc::ServerUnaryReactor* RattnService::GenerateUnary(grpc::CallbackServerContext* context,
                                                      const pb::GenerateRequest* message,
                                                      pb::GenerateResult* result) {
  auto* call = new GenerateUnaryCall(engine_, metrics_, result);
  call->Start(Prepare(context, *message));
  return call;
}

grpc::ServerUnaryReactor* RattnService::Abort(grpc::CallbackServerContext* context,
                                              const pb::AbortRequest* request,
                                              pb::AbortResponse* /*response*/) {
  absl::Status status = Admit(context);
  if (status.ok()) status = ValidateRequestId(request->request_id());
  if (status.ok() && request->request_id().empty()) {
    status = absl::InvalidArgumentError("request_id: is empty");
  }
  if (status.ok()) status = engine_->Cancel(request->request_id());
  return Answer(context, status);
}

grpc::ServerUnaryReactor* RattnService::Tokenize(grpc::CallbackServerContext* context,
                                                 const pb::TokenizeRequest* request,
                                                 pb::TokenizeResponse* response) {
  absl::Status status = Admit(context);
  if (status.ok()) {
    std::optional<bool> add_bos;
    if (request->has_add_bos()) add_bos = request->add_bos();
    absl::StatusOr<std::vector<int32_t>> ids =
        EncodeText(engine_->tokenizer(), request->text(), add_bos);
    if (ids.ok()) {
      response->mutable_token_ids()->Add(ids->begin(), ids->end());
    } else {
      status = ids.status();
    }
  }
  return Answer(context, status);
}

grpc::ServerUnaryReactor* RattnService::Detokenize(grpc::CallbackServerContext* context,
                                                   const pb::DetokenizeRequest* request,
                                                   pb::DetokenizeResponse* response) {
  absl::Status status = Admit(context);
  const engine::Tokenizer* tokenizer = engine_->tokenizer();
  if (status.ok() && tokenizer == nullptr) {
    status = absl::FailedPreconditionError("the model has no tokenizer");
  }
  for (int i = 0; status.ok() && i < request->token_ids_size(); ++i) {
    const int32_t id = request->token_ids(i);
    if (id < 0 || id >= engine_->config().vocab_size) {
      status = absl::InvalidArgumentError(absl::StrCat("token_ids[", i, "]: ", id,
                                                       " is outside the vocabulary [0, ",
                                                       engine_->config().vocab_size, ")"));
    }
  }
  if (status.ok()) {
    engine::IncrementalDetokenizer detokenizer(*tokenizer,
                                               engine::IncrementalDetokenizer::Start::kTextStart);
    std::string* text = response->mutable_text();
    for (int32_t id : request->token_ids()) text->append(detokenizer.Append(id));
    text->append(detokenizer.Flush());
  }
  return Answer(context, status);
}

grpc::ServerUnaryReactor* RattnService::GetModelInfo(grpc::CallbackServerContext* context,
                                                     const pb::GetModelInfoRequest* /*request*/,
                                                     pb::ModelInfo* response) {
  absl::Status status = Admit(context);
  if (status.ok()) *response = model_info_;
  return Answer(context, status);
}

grpc::ServerUnaryReactor* RattnService::GetLoad(grpc::CallbackServerContext* context,
                                                const pb::GetLoadRequest* /*request*/,
                                                pb::LoadInfo* response) {
  absl::Status status = Admit(context);
  if (status.ok()) {
    const engine::LoadSnapshot load = engine_->Load();
    response->set_waiting(load.waiting);
    response->set_running(load.running);
    response->set_preempted(load.preempted);
    response->set_preemptions(load.preemptions);
    for (const engine::PoolUsage& usage : load.pools) {
      pb::PoolLoad* pool = response->add_pools();
      pool->set_name(usage.name);
      pool->set_total(usage.total);
      pool->set_used(usage.used);
      pool->set_usage_ratio(usage.total > 0
                                ? static_cast<double>(usage.used) / static_cast<double>(usage.total)
                                : 0.0);
      pool->set_unit_bytes(usage.unit_bytes);
    }
    response->set_tokens_per_second(load.tokens_per_second);
    response->set_version(model_info_.version());
    response->set_serving(serving_.load() && !draining_.load());
  }
  return Answer(context, status);
}

}  // namespace rattn::server
