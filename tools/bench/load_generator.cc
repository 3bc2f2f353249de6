// rattn-bench's load: sending, the measurement window, and draining.
#include "tools/bench/load_generator.h"

#include <algorithm>
#include <optional>
#include <thread>
#include <utility>

#include "tools/bench/bench_random.h"
#include "tools/bench/prompt_source.h"

namespace rattn::bench {
namespace {

using Clock = std::chrono::steady_clock;

// The MakeRng stream of the arrival times (the prompts use stream 0).
constexpr uint32_t kArrivalStream = 1;
// The longest any wait lasts before the interrupt flag is looked at again.
constexpr Clock::duration kPollPeriod = std::chrono::milliseconds(100);

double SecondsBetween(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

Clock::duration FromSeconds(double seconds) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

}  // namespace

LoadGenerator::LoadGenerator(v1::RattnService::Stub& stub, const tools::ClientOptions& client,
                             const BenchOptions& options, uint32_t vocab_size)
    : stub_(stub), client_(client), options_(options), vocab_size_(vocab_size) {}

LoadResult LoadGenerator::Run(const std::atomic<bool>& interrupt, bool show_progress) {
  const Clock::time_point epoch = Clock::now();
  warmup_end_ = epoch + absl::ToChronoNanoseconds(options_.warmup);
  measure_end_ = warmup_end_ + absl::ToChronoNanoseconds(options_.duration);
  ProgressDisplay progress(counters_, epoch, options_.warmup, options_.duration);
  if (show_progress) progress.Start();

  SendPhase(interrupt, epoch);
  const Clock::time_point window_end = std::max(CloseWindow(interrupt), warmup_end_);
  counters_.phase.store(static_cast<int>(BenchPhase::kDraining));
  CancelLive(/*warmup_only=*/true);
  WaitFor(interrupt, &LoadGenerator::NoMeasuredInFlight);
  if (interrupt.load()) CancelLive(/*warmup_only=*/false);
  // Every call left has been cancelled or is about to end by itself.
  WaitFor(interrupt, &LoadGenerator::NothingInFlight);
  {
    absl::MutexLock lock(&mu_);
    while (in_flight_ > 0) changed_.Wait(&mu_);
  }
  progress.Stop();

  LoadResult result;
  result.window = {SecondsBetween(epoch, warmup_end_), SecondsBetween(epoch, window_end)};
  result.interrupted = interrupt.load();
  absl::MutexLock lock(&mu_);
  result.records = std::move(records_);
  return result;
}

void LoadGenerator::SendPhase(const std::atomic<bool>& interrupt, Clock::time_point epoch) {
  PromptSource prompts(options_, vocab_size_);
  BenchRng arrivals = MakeRng(options_.seed, kArrivalStream);
  const bool by_rate = options_.mode == LoadMode::kRequestRate;
  const int64_t limit = !by_rate                       ? options_.concurrency
                        : options_.max_concurrency > 0 ? options_.max_concurrency
                                                       : BenchOptions::kMaxInFlight;
  // Arrivals keep their own schedule: one held back by `limit` does not delay the next.
  Clock::time_point next_arrival = epoch;
  if (by_rate) next_arrival += FromSeconds(Exponential(arrivals, options_.request_rate));
  // Made ahead, so that building a long prompt is not part of any measured latency.
  std::optional<v1::GenerateRequest> next_request;

  while (!interrupt.load()) {
    if (options_.num_requests > 0 && measured_sent_ >= options_.num_requests) break;
    if (!next_request.has_value()) next_request = prompts.Next();
    Clock::time_point now = Clock::now();
    if (now >= measure_end_) break;
    counters_.phase.store(
        static_cast<int>(now < warmup_end_ ? BenchPhase::kWarmup : BenchPhase::kMeasuring));
    if (now < next_arrival) {
      std::this_thread::sleep_for(std::min({next_arrival, measure_end_, now + kPollPeriod}) - now);
      continue;
    }
    {
      absl::MutexLock lock(&mu_);
      if (in_flight_ >= limit) {
        changed_.WaitWithTimeout(&mu_, absl::FromChrono(std::min(measure_end_ - now, kPollPeriod)));
        continue;
      }
    }

    const Clock::time_point sent = Clock::now();
    if (sent >= measure_end_) break;
    const bool measured = sent >= warmup_end_;
    GenerateCall* call = GenerateCall::Create(client_, options_.request_timeout,
                                              *std::move(next_request), epoch, counters_, *this);
    next_request.reset();
    {
      absl::MutexLock lock(&mu_);
      live_.emplace(call, measured);
      ++in_flight_;
      if (measured) ++measured_in_flight_;
      counters_.in_flight.store(in_flight_);
    }
    if (measured) ++measured_sent_;
    call->Begin(stub_, sent);
    if (by_rate) next_arrival += FromSeconds(Exponential(arrivals, options_.request_rate));
  }
}

LoadGenerator::Clock::time_point LoadGenerator::CloseWindow(const std::atomic<bool>& interrupt) {
  const bool capped = options_.num_requests > 0 && measured_sent_ >= options_.num_requests;
  if (!capped && !interrupt.load()) return measure_end_;
  absl::MutexLock lock(&mu_);
  while (capped && measured_in_flight_ > 0 && !interrupt.load()) {
    const Clock::time_point now = Clock::now();
    if (now >= measure_end_) return measure_end_;
    changed_.WaitWithTimeout(&mu_, absl::FromChrono(std::min(measure_end_ - now, kPollPeriod)));
  }
  return std::min(Clock::now(), measure_end_);
}

void LoadGenerator::WaitFor(const std::atomic<bool>& interrupt,
                            bool (LoadGenerator::*done)() const) {
  absl::MutexLock lock(&mu_);
  while (!(this->*done)() && !interrupt.load()) {
    changed_.WaitWithTimeout(&mu_, absl::FromChrono(kPollPeriod));
  }
}

void LoadGenerator::CancelLive(bool warmup_only) {
  absl::MutexLock lock(&mu_);
  for (const auto& [call, measured] : live_) {
    if (!warmup_only || !measured) call->Cancel();
  }
}

void LoadGenerator::Ended(GenerateCall* call, RequestRecord record) {
  absl::MutexLock lock(&mu_);
  auto it = live_.find(call);
  if (it != live_.end()) {
    if (it->second) {
      --measured_in_flight_;
      (record.code == absl::StatusCode::kOk ? counters_.ok : counters_.failed).fetch_add(1);
    }
    live_.erase(it);
  }
  records_.push_back(std::move(record));
}

void LoadGenerator::Released() {
  absl::MutexLock lock(&mu_);
  --in_flight_;
  counters_.in_flight.store(in_flight_);
  changed_.SignalAll();
}

}  // namespace rattn::bench
