// rattn-bench's progress line.
#include "tools/bench/progress_display.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace rattn::bench {
namespace {

constexpr absl::Duration kTerminalPeriod = absl::Milliseconds(500);
constexpr absl::Duration kLogPeriod = absl::Seconds(5);
constexpr int kBarWidth = 30;

}  // namespace

std::string FormatProgress(const ProgressSnapshot& snapshot, int bar_width) {
  std::string line;
  switch (snapshot.phase) {
    case BenchPhase::kWarmup:
      line = absl::StrFormat("warm-up    %5.1f / %.1f s", snapshot.elapsed_seconds,
                             snapshot.warmup_seconds);
      break;
    case BenchPhase::kMeasuring: {
      const double measured = std::clamp(snapshot.elapsed_seconds - snapshot.warmup_seconds, 0.0,
                                         snapshot.duration_seconds);
      const double fraction =
          snapshot.duration_seconds > 0 ? measured / snapshot.duration_seconds : 1.0;
      line = "measuring ";
      if (bar_width > 0) {
        const int filled = static_cast<int>(fraction * bar_width);
        absl::StrAppend(&line, "[", std::string(filled, '#'), std::string(bar_width - filled, '-'),
                        "] ");
      }
      absl::StrAppendFormat(&line, "%3.0f%% %5.1f / %.1f s", 100 * fraction, measured,
                            snapshot.duration_seconds);
      break;
    }
    case BenchPhase::kDraining:
      line = "draining";
      break;
  }
  absl::StrAppendFormat(&line, " | in flight %d | ok %d failed %d | %.0f tokens/s",
                        snapshot.in_flight, snapshot.ok, snapshot.failed,
                        snapshot.tokens_per_second);
  return line;
}

ProgressDisplay::ProgressDisplay(const ProgressCounters& counters,
                                 std::chrono::steady_clock::time_point epoch, absl::Duration warmup,
                                 absl::Duration duration)
    : counters_(counters),
      epoch_(epoch),
      warmup_seconds_(absl::ToDoubleSeconds(warmup)),
      duration_seconds_(absl::ToDoubleSeconds(duration)),
      terminal_(isatty(fileno(stderr)) != 0) {}

ProgressDisplay::~ProgressDisplay() { Stop(); }

void ProgressDisplay::Start() {
  last_draw_ = std::chrono::steady_clock::now();
  thread_ = std::thread([this] { Loop(); });
}

void ProgressDisplay::Stop() {
  if (!thread_.joinable()) return;
  stop_.Notify();
  thread_.join();
}

void ProgressDisplay::Loop() {
  const absl::Duration period = terminal_ ? kTerminalPeriod : kLogPeriod;
  while (!stop_.WaitForNotificationWithTimeout(period)) {
    Draw();
  }
  Draw();
  if (terminal_) std::fputc('\n', stderr);
}

void ProgressDisplay::Draw() {
  const std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now();
  const double seconds_since_last = std::chrono::duration<double>(now - last_draw_).count();
  last_draw_ = now;
  ProgressSnapshot snapshot;
  snapshot.phase = static_cast<BenchPhase>(counters_.phase.load());
  snapshot.elapsed_seconds = std::chrono::duration<double>(now - epoch_).count();
  snapshot.warmup_seconds = warmup_seconds_;
  snapshot.duration_seconds = duration_seconds_;
  snapshot.in_flight = counters_.in_flight.load();
  snapshot.ok = counters_.ok.load();
  snapshot.failed = counters_.failed.load();
  const int64_t tokens = counters_.tokens.load();
  snapshot.tokens_per_second =
      seconds_since_last > 0 ? (tokens - last_tokens_) / seconds_since_last : 0;
  last_tokens_ = tokens;
  const std::string line = FormatProgress(snapshot, terminal_ ? kBarWidth : 0);
  // On a terminal the line redraws itself: back to column 0, then clear to its end.
  std::fprintf(stderr, terminal_ ? "\r\033[K%s" : "%s\n", line.c_str());
  std::fflush(stderr);
}

}  // namespace rattn::bench
