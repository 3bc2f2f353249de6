// The two generation calls, as gRPC callback reactors: GenerateStreamCall writes a response per
// engine event as the client takes them; GenerateUnaryCall gathers the whole result. Both own
// themselves: gRPC calls OnDone() once the call is over and they delete themselves there.
//
// Lifetime: a call is finished only after the engine's last event for its request (the one with
// `done` set) has arrived, so the engine never reaches a deleted call. A client that cancels or
// lets its deadline expire has the request cancelled in the engine, which frees its caches
// within one step and then sends that last event.
#ifndef RATTN_SERVER_GENERATE_CALLS_H_
#define RATTN_SERVER_GENERATE_CALLS_H_

#include <atomic>
#include <deque>
#include <mutex>
#include <string>

#include "absl/base/thread_annotations.h"
#include "engine/engine.h"
#include "grpcpp/grpcpp.h"
#include "rattn/v1/rattn.grpc.pb.h"
#include "server/metrics.h"

namespace rattn::server {

namespace pb = ::rattn::v1;

// The engine side of a generation call: submits the request, feeds its events to the metrics
// and then to OnEngineEvent(), and cancels it at most once.
class GenerationCall {
 public:
  GenerationCall(engine::Engine* engine, ServerMetrics* metrics)
      : engine_(engine), metrics_(metrics), request_metrics_(metrics) {}
  virtual ~GenerationCall() = default;

 protected:
  // Submits `request` (whose id is set). On success, events arrive at OnEngineEvent() on the
  // engine's thread, the last with `done` set. On failure nothing arrives and the refusal is
  // counted.
  absl::Status Submit(engine::GenerateRequest request);
  // Cancels the request in the engine; thread-safe, and a no-op after the first call.
  void CancelInEngine();

  virtual void OnEngineEvent(engine::GenerationEvent event) = 0;

  const std::string& request_id() const { return request_id_; }

 private:
  engine::Engine* engine_;
  ServerMetrics* metrics_;
  RequestMetrics request_metrics_;  // touched on the engine's thread only
  std::string request_id_;
  std::atomic<bool> cancelled_{false};
};

class GenerateStreamCall final : public grpc::ServerWriteReactor<pb::GenerateResponse>,
                                 private GenerationCall {
 public:
  GenerateStreamCall(engine::Engine* engine, ServerMetrics* metrics)
      : GenerationCall(engine, metrics) {}

  // Submits the request, or finishes the call with the refusal: `request`'s own error (from
  // admission or conversion) or the submission's.
  void Start(absl::StatusOr<engine::GenerateRequest> request);

  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override { delete this; }

 private:
  void OnEngineEvent(engine::GenerationEvent event) override;
  // Finishes the call before anything was submitted.
  void Refuse(const grpc::Status& status);
  // Starts the next write, or finishes once the engine is done and nothing is left to write.
  void WriteNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  std::mutex mutex_;
  // Responses not yet written; the front one is being written while `writing_`. A deque keeps
  // the front's address fixed while more are queued behind it.
  std::deque<pb::GenerateResponse> pending_ ABSL_GUARDED_BY(mutex_);
  bool writing_ ABSL_GUARDED_BY(mutex_) = false;
  bool client_gone_ ABSL_GUARDED_BY(mutex_) = false;
  bool engine_done_ ABSL_GUARDED_BY(mutex_) = false;
  bool finished_ ABSL_GUARDED_BY(mutex_) = false;
  grpc::Status final_status_ ABSL_GUARDED_BY(mutex_);
};

class GenerateUnaryCall final : public grpc::ServerUnaryReactor, private GenerationCall {
 public:
  // `result` is the call's response message, owned by gRPC.
  GenerateUnaryCall(engine::Engine* engine, ServerMetrics* metrics, pb::GenerateResult* result)
      : GenerationCall(engine, metrics), result_(result) {}

  // As GenerateStreamCall::Start.
  void Start(absl::StatusOr<engine::GenerateRequest> request);

  void OnCancel() override;
  void OnDone() override { delete this; }

 private:
  void OnEngineEvent(engine::GenerationEvent event) override;

  pb::GenerateResult* result_;  // written on the engine's thread until the last event
  std::atomic<bool> client_gone_{false};
};

// The responses an engine event becomes: a Chunk per sample with new output (the prompt's
// logprobs ride on the first), an Error when the request failed, and a Completion per sample
// that ended (the timings on the request's last one).
std::vector<pb::GenerateResponse> ToResponses(const engine::GenerationEvent& event);

}  // namespace rattn::server

#endif  // RATTN_SERVER_GENERATE_CALLS_H_
