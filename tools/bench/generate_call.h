// One Generate stream of rattn-bench, driven by gRPC's callback API: it notes when each chunk
// that carries tokens arrives and how the call ended, and deletes itself once it has.
#ifndef RATTN_TOOLS_BENCH_GENERATE_CALL_H_
#define RATTN_TOOLS_BENCH_GENERATE_CALL_H_

#include <chrono>

#include "absl/time/time.h"
#include "grpcpp/client_context.h"
#include "grpcpp/support/client_callback.h"
#include "rattn/v1/rattn.grpc.pb.h"
#include "tools/bench/bench_stats.h"
#include "tools/bench/progress_display.h"
#include "tools/common/grpc_client.h"

namespace rattn::bench {

class GenerateCall final : public grpc::ClientReadReactor<v1::GenerateResponse> {
 public:
  // Told, on a gRPC thread, that a call has ended. Ended() runs while the call still exists, so
  // the owner can stop cancelling it; Released() runs after it has deleted itself, and is the
  // last thing the call does.
  class Owner {
   public:
    virtual ~Owner() = default;
    virtual void Ended(GenerateCall* call, RequestRecord record) = 0;
    virtual void Released() = 0;
  };

  // Creates a call that has not started; it deletes itself after its end, once it has told
  // `owner`, which must outlive it, as must `counters`. Times in its record are seconds since
  // `epoch`.
  static GenerateCall* Create(const tools::ClientOptions& client, absl::Duration timeout,
                              v1::GenerateRequest request,
                              std::chrono::steady_clock::time_point epoch,
                              ProgressCounters& counters, Owner& owner);

  // Starts the stream; `sent`, read by the caller just before, is the record's start. The owner
  // may hear of the end before this returns, so it must know of the call first.
  void Begin(v1::RattnService::Stub& stub, std::chrono::steady_clock::time_point sent);

  // Asks gRPC to end the call early; it still ends through Owner. Call only before Ended().
  void Cancel() { context_.TryCancel(); }

  void OnReadDone(bool ok) override;
  void OnDone(const grpc::Status& status) override;

 private:
  GenerateCall(std::chrono::steady_clock::time_point epoch, ProgressCounters& counters,
               Owner& owner);

  double SinceEpoch(std::chrono::steady_clock::time_point time) const;

  const std::chrono::steady_clock::time_point epoch_;
  ProgressCounters& counters_;
  Owner& owner_;
  grpc::ClientContext context_;
  v1::GenerateRequest request_;
  v1::GenerateResponse response_;
  RequestRecord record_;
  // The code of an Error response, should the stream carry one and still end OK.
  absl::StatusCode stream_error_ = absl::StatusCode::kOk;
};

}  // namespace rattn::bench

#endif  // RATTN_TOOLS_BENCH_GENERATE_CALL_H_
