// rattn.v1.RattnService: checks each call's admission (drain, bearer token), converts requests
// for the engine and hands generation to the calls of generate_calls.h. The other methods
// answer at once.
#ifndef RATTN_SERVER_RATTN_SERVICE_H_
#define RATTN_SERVER_RATTN_SERVICE_H_

#include <atomic>
#include <string>

#include "engine/engine.h"
#include "grpcpp/grpcpp.h"
#include "rattn/v1/rattn.grpc.pb.h"
#include "server/metrics.h"

namespace rattn::server {

namespace pb = ::rattn::v1;

class RattnService final : public pb::RattnService::CallbackService {
 public:
  // `engine` and `metrics` (may be null) outlive the service. `auth_token` empty: no token is
  // asked for.
  RattnService(engine::Engine* engine, ServerMetrics* metrics, pb::ModelInfo model_info,
               std::string auth_token);

  // From now on new calls get UNAVAILABLE; calls in flight carry on.
  void StartDrain() { draining_.store(true); }
  // What GetLoad reports as `serving` (set by the server's health watch).
  void SetServing(bool serving) { serving_.store(serving); }

  grpc::ServerWriteReactor<pb::GenerateResponse>* Generate(
      grpc::CallbackServerContext* context, const pb::GenerateRequest* request) override;
  grpc::ServerUnaryReactor* GenerateUnary(grpc::CallbackServerContext* context,
                                          const pb::GenerateRequest* request,
                                          pb::GenerateResult* result) override;
  grpc::ServerUnaryReactor* Abort(grpc::CallbackServerContext* context,
                                  const pb::AbortRequest* request,
                                  pb::AbortResponse* response) override;
  grpc::ServerUnaryReactor* Tokenize(grpc::CallbackServerContext* context,
                                     const pb::TokenizeRequest* request,
                                     pb::TokenizeResponse* response) override;
  grpc::ServerUnaryReactor* Detokenize(grpc::CallbackServerContext* context,
                                       const pb::DetokenizeRequest* request,
                                       pb::DetokenizeResponse* response) override;
  grpc::ServerUnaryReactor* GetModelInfo(grpc::CallbackServerContext* context,
                                         const pb::GetModelInfoRequest* request,
                                         pb::ModelInfo* response) override;
  grpc::ServerUnaryReactor* GetLoad(grpc::CallbackServerContext* context,
                                    const pb::GetLoadRequest* request,
                                    pb::LoadInfo* response) override;

 private:
  // UNAVAILABLE while draining; UNAUTHENTICATED without the token when one is set.
  absl::Status Admit(grpc::CallbackServerContext* context) const;
  // Admission and conversion of a generation request, with its id and default seed assigned.
  absl::StatusOr<engine::GenerateRequest> Prepare(grpc::CallbackServerContext* context,
                                                  const pb::GenerateRequest& message);
  // Finishes a unary call with `status`.
  grpc::ServerUnaryReactor* Answer(grpc::CallbackServerContext* context,
                                   const absl::Status& status);
  // The status for a request that did not parse (`parsed`): the admission's refusal first.
  absl::Status RefuseUnparsed(grpc::CallbackServerContext* context, const absl::Status& parsed);
  // Installs a handler for unary `method` that parses its request (request_parser.h) and hands
  // it to `handler`, in place of gRPC's parsing.
  template <typename Request, typename Response>
  void ParseRequestsOf(const char* method,
                       grpc::ServerUnaryReactor* (RattnService::*handler)(
                           grpc::CallbackServerContext*, const Request*, Response*));

  engine::Engine* engine_;
  ServerMetrics* metrics_;
  const pb::ModelInfo model_info_;
  const std::string auth_token_;
  const std::string id_prefix_;  // random per process, so ids differ across restarts
  std::atomic<uint64_t> next_id_{0};
  std::atomic<uint64_t> next_seed_;
  std::atomic<bool> draining_{false};
  std::atomic<bool> serving_{true};
};

}  // namespace rattn::server

#endif  // RATTN_SERVER_RATTN_SERVICE_H_
