// One Generate stream of rattn-bench.
#include "tools/bench/generate_call.h"

#include <utility>

namespace rattn::bench {

using Clock = std::chrono::steady_clock;

GenerateCall::GenerateCall(Clock::time_point epoch, ProgressCounters& counters, Owner& owner)
    : epoch_(epoch), counters_(counters), owner_(owner) {}

GenerateCall* GenerateCall::Create(const tools::ClientOptions& client, absl::Duration timeout,
                                   v1::GenerateRequest request, Clock::time_point epoch,
                                   ProgressCounters& counters, Owner& owner) {
  auto* call = new GenerateCall(epoch, counters, owner);
  call->request_ = std::move(request);
  tools::PrepareContext(client, timeout, call->context_);
  return call;
}

void GenerateCall::Begin(v1::RattnService::Stub& stub, Clock::time_point sent) {
  record_.start = SinceEpoch(sent);
  stub.async()->Generate(&context_, &request_, this);
  StartRead(&response_);
  StartCall();
}

double GenerateCall::SinceEpoch(Clock::time_point time) const {
  return std::chrono::duration<double>(time - epoch_).count();
}

void GenerateCall::OnReadDone(bool ok) {
  if (!ok) return;  // the stream is over; OnDone follows
  const Clock::time_point now = Clock::now();
  if (response_.has_chunk() && response_.chunk().token_ids_size() > 0) {
    const v1::Chunk& chunk = response_.chunk();
    record_.chunks.push_back({SinceEpoch(now), chunk.token_ids_size(), chunk.index()});
    counters_.tokens.fetch_add(chunk.token_ids_size());
  } else if (response_.has_completion() && response_.completion().has_timings()) {
    const v1::Timings& timings = response_.completion().timings();
    record_.server_ttft = timings.time_to_first_token_seconds();
    record_.server_prefill = timings.prefill_seconds();
  } else if (response_.has_error()) {
    stream_error_ = response_.error().code() == 0
                        ? absl::StatusCode::kInternal
                        : static_cast<absl::StatusCode>(response_.error().code());
  }
  StartRead(&response_);
}

void GenerateCall::OnDone(const grpc::Status& status) {
  record_.end = SinceEpoch(Clock::now());
  record_.code = status.ok() ? stream_error_ : static_cast<absl::StatusCode>(status.error_code());
  Owner& owner = owner_;
  owner.Ended(this, std::move(record_));
  delete this;
  owner.Released();
}

}  // namespace rattn::bench
