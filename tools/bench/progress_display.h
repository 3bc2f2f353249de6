// rattn-bench's progress on stderr: on a terminal a bar redrawn twice a second, otherwise one
// line every few seconds. It only reads counters the load generator updates.
#ifndef RATTN_TOOLS_BENCH_PROGRESS_DISPLAY_H_
#define RATTN_TOOLS_BENCH_PROGRESS_DISPLAY_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace rattn::bench {

enum class BenchPhase { kWarmup = 0, kMeasuring = 1, kDraining = 2 };

// Updated by the load generator and its calls, from any thread.
struct ProgressCounters {
  std::atomic<int> phase{static_cast<int>(BenchPhase::kWarmup)};
  std::atomic<int64_t> in_flight{0};
  std::atomic<int64_t> ok{0};      // measured calls that ended OK
  std::atomic<int64_t> failed{0};  // measured calls that ended otherwise
  std::atomic<int64_t> tokens{0};  // output tokens received, any phase
};

// A snapshot of the run, as the display shows it.
struct ProgressSnapshot {
  BenchPhase phase = BenchPhase::kWarmup;
  double elapsed_seconds = 0;
  double warmup_seconds = 0;
  double duration_seconds = 0;
  int64_t in_flight = 0;
  int64_t ok = 0;
  int64_t failed = 0;
  double tokens_per_second = 0;  // since the previous line
};

// One line of progress; `bar_width` > 0 draws a bar of that many cells over the measurement.
std::string FormatProgress(const ProgressSnapshot& snapshot, int bar_width);

class ProgressDisplay {
 public:
  // `counters` must outlive this. The run began at `epoch`.
  ProgressDisplay(const ProgressCounters& counters, std::chrono::steady_clock::time_point epoch,
                  absl::Duration warmup, absl::Duration duration);
  ~ProgressDisplay();  // stops
  ProgressDisplay(const ProgressDisplay&) = delete;
  ProgressDisplay& operator=(const ProgressDisplay&) = delete;

  void Start();
  // Draws a last line and ends it; idempotent.
  void Stop();

 private:
  void Loop();
  void Draw();

  const ProgressCounters& counters_;
  const std::chrono::steady_clock::time_point epoch_;
  const double warmup_seconds_;
  const double duration_seconds_;
  const bool terminal_;
  // Owned by the drawing thread.
  int64_t last_tokens_ = 0;
  std::chrono::steady_clock::time_point last_draw_;
  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace rattn::bench

#endif  // RATTN_TOOLS_BENCH_PROGRESS_DISPLAY_H_
