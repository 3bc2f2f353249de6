// rattn-bench's load: keeps `concurrency` Generate streams in flight, or starts them at Poisson
// arrival times, through a warm-up and a measurement window, then waits for the measured ones to
// end. Returns every call's record; bench_stats.h turns them into numbers.
//
// Timeline (seconds since the run began):
//   [0, warmup)                      warm-up: calls are sent, not measured
//   [warmup, warmup + duration]      measurement window; no call is sent after it
//   after the window                 the measured calls still in flight run to their end (their
//                                    latencies count, their late tokens do not); warm-up calls
//                                    still in flight are cancelled
// With num_requests, sending stops after that many measured calls, and the window ends when the
// last of them ends (or at warmup + duration, whichever comes first). An interrupt ends the
// window at once and cancels every call.
#ifndef RATTN_TOOLS_BENCH_LOAD_GENERATOR_H_
#define RATTN_TOOLS_BENCH_LOAD_GENERATOR_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "rattn/v1/rattn.grpc.pb.h"
#include "tools/bench/bench_options.h"
#include "tools/bench/bench_stats.h"
#include "tools/bench/generate_call.h"
#include "tools/bench/progress_display.h"
#include "tools/common/grpc_client.h"

namespace rattn::bench {

struct LoadResult {
  std::vector<RequestRecord> records;  // every call, warm-up ones included, in order of ending
  MeasurementWindow window;
  bool interrupted = false;
};

class LoadGenerator final : public GenerateCall::Owner {
 public:
  // `stub`, `client` and `options` (validated) must outlive this; `vocab_size` >= 1.
  LoadGenerator(v1::RattnService::Stub& stub, const tools::ClientOptions& client,
                const BenchOptions& options, uint32_t vocab_size);

  // Runs the whole timeline on the calling thread and returns once every call has ended.
  // `interrupt` (set from a signal handler, say) ends the run early. `show_progress` draws
  // progress on stderr.
  LoadResult Run(const std::atomic<bool>& interrupt, bool show_progress);

  void Ended(GenerateCall* call, RequestRecord record) override;
  void Released() override;

 private:
  using Clock = std::chrono::steady_clock;

  // Sends calls until the window closes, the cap is reached or `interrupt` is set.
  void SendPhase(const std::atomic<bool>& interrupt, Clock::time_point epoch);
  // The window's end, once the sending phase is over: waits for capped measured calls.
  Clock::time_point CloseWindow(const std::atomic<bool>& interrupt);
  // Waits until `done` holds or `interrupt` is set, polling the latter.
  void WaitFor(const std::atomic<bool>& interrupt, bool (LoadGenerator::*done)() const)
      ABSL_LOCKS_EXCLUDED(mu_);
  void CancelLive(bool warmup_only) ABSL_LOCKS_EXCLUDED(mu_);

  bool NoMeasuredInFlight() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return measured_in_flight_ == 0;
  }
  bool NothingInFlight() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return in_flight_ == 0; }

  v1::RattnService::Stub& stub_;
  const tools::ClientOptions& client_;
  const BenchOptions& options_;
  const uint32_t vocab_size_;
  ProgressCounters counters_;

  Clock::time_point warmup_end_;
  Clock::time_point measure_end_;
  int64_t measured_sent_ = 0;  // owned by the sending thread

  absl::Mutex mu_;
  absl::CondVar changed_;  // signalled when a call ends
  // Calls started and not yet released (a call leaves `live_` earlier, when it ends).
  int64_t in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t measured_in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<GenerateCall*, bool> live_ ABSL_GUARDED_BY(mu_);  // -> measured
  std::vector<RequestRecord> records_ ABSL_GUARDED_BY(mu_);
};

}  // namespace rattn::bench

#endif  // RATTN_TOOLS_BENCH_LOAD_GENERATOR_H_
