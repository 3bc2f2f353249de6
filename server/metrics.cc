#include "server/metrics.h"

#include "prometheus/gauge.h"
#include "server/status_util.h"

namespace rattn::server {
namespace {

using prometheus::Histogram;

// Request-level latencies, from a millisecond to minutes.
const Histogram::BucketBoundaries kLatencyBuckets = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250};
// Per-token and per-step times.
const Histogram::BucketBoundaries kStepBuckets = {0.001, 0.0025, 0.005, 0.01, 0.015, 0.02,
                                                  0.03,  0.05,   0.075, 0.1,  0.15,  0.2,
                                                  0.3,   0.5,    1,     2.5,  5,     10};
const Histogram::BucketBoundaries kTokenCountBuckets = {1,   2,   4,   8,    16,   32,   64,
                                                        128, 256, 512, 1024, 2048, 4096, 8192};

Histogram* AddHistogram(prometheus::Registry& registry, const std::string& name,
                        const std::string& help, const Histogram::BucketBoundaries& buckets) {
  return &prometheus::BuildHistogram().Name(name).Help(help).Register(registry).Add({}, buckets);
}

prometheus::Counter* AddCounter(prometheus::Registry& registry, const std::string& name,
                                const std::string& help) {
  return &prometheus::BuildCounter().Name(name).Help(help).Register(registry).Add({});
}

prometheus::MetricFamily Family(std::string name, std::string help, prometheus::MetricType type) {
  prometheus::MetricFamily family;
  family.name = std::move(name);
  family.help = std::move(help);
  family.type = type;
  return family;
}

void AddValue(prometheus::MetricFamily& family, double value,
              std::vector<prometheus::ClientMetric::Label> labels = {}) {
  prometheus::ClientMetric metric;
  metric.label = std::move(labels);
  if (family.type == prometheus::MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  family.metric.push_back(std::move(metric));
}

}  // namespace

ServerMetrics::ServerMetrics(absl::string_view version, absl::string_view backend)
    : registry_(std::make_shared<prometheus::Registry>()) {
  prometheus::Registry& r = *registry_;
  time_to_first_token_ =
      AddHistogram(r, "rattn_time_to_first_token_seconds",
                   "Time from receiving a request to its first token.", kLatencyBuckets);
  inter_token_latency_ = AddHistogram(r, "rattn_inter_token_latency_seconds",
                                      "Time between successive tokens of a sample.", kStepBuckets);
  request_latency_ =
      AddHistogram(r, "rattn_request_latency_seconds",
                   "Time from receiving a request to its end (end to end).", kLatencyBuckets);
  queue_time_ =
      AddHistogram(r, "rattn_request_queue_seconds",
                   "Time a request waited before its first engine step.", kLatencyBuckets);
  prefill_time_ =
      AddHistogram(r, "rattn_request_prefill_seconds",
                   "Time from a request's first engine step to its first token.", kLatencyBuckets);
  decode_time_ = AddHistogram(r, "rattn_request_decode_seconds",
                              "Time from a request's first token to its end.", kLatencyBuckets);
  step_duration_ =
      AddHistogram(r, "rattn_step_duration_seconds",
                   "Wall time of an engine step: schedule, forward, sample.", kStepBuckets);
  step_tokens_ = AddHistogram(r, "rattn_step_tokens",
                              "Positions computed by an engine step (decode rows plus prefill).",
                              kTokenCountBuckets);
  prompt_tokens_ = AddCounter(r, "rattn_prompt_tokens_total", "Prompt tokens of ended requests.");
  generated_tokens_ =
      AddCounter(r, "rattn_generated_tokens_total", "Tokens generated for ended requests.");
  auto& finished = prometheus::BuildCounter()
                       .Name("rattn_requests_finished_total")
                       .Help("Samples ended, by finish reason (a request with n samples counts n).")
                       .Register(r);
  for (engine::FinishReason reason :
       {engine::FinishReason::kLength, engine::FinishReason::kStop, engine::FinishReason::kEos,
        engine::FinishReason::kCancelled, engine::FinishReason::kError}) {
    finished_[static_cast<size_t>(reason)] =
        &finished.Add({{"reason", std::string(engine::FinishReasonName(reason))}});
  }
  rejected_ = &prometheus::BuildCounter()
                   .Name("rattn_requests_rejected_total")
                   .Help("Requests refused before generating, by gRPC status code.")
                   .Register(r);
  for (absl::StatusCode code :
       {absl::StatusCode::kInvalidArgument, absl::StatusCode::kResourceExhausted,
        absl::StatusCode::kUnavailable, absl::StatusCode::kUnauthenticated}) {
    rejected_->Add({{"code", CodeLabel(code)}});
  }
  prometheus::BuildGauge()
      .Name("rattn_build_info")
      .Help("Always 1; the labels say which server and backend run.")
      .Register(r)
      .Add({{"version", std::string(version)}, {"backend", std::string(backend)}})
      .Set(1);
}

void ServerMetrics::ObserveStep(const engine::StepStats& step) {
  step_duration_->Observe(step.seconds);
  step_tokens_->Observe(static_cast<double>(step.tokens));
}

void ServerMetrics::CountRejected(absl::StatusCode code) {
  rejected_->Add({{"code", CodeLabel(code)}}).Increment();
}

void RequestMetrics::Observe(const engine::GenerationEvent& event) {
  if (metrics_ == nullptr) return;
  const Clock::time_point now = Clock::now();
  for (const engine::SampleOutput& output : event.outputs) {
    if (output.tokens.empty()) continue;
    if (static_cast<size_t>(output.sample) >= last_token_.size()) {
      last_token_.resize(output.sample + 1);
    }
    std::optional<Clock::time_point>& last = last_token_[output.sample];
    if (last.has_value()) {
      // Tokens that arrive together share the wait since the previous ones.
      const double gap = std::chrono::duration<double>(now - *last).count();
      const double per_token = gap / static_cast<double>(output.tokens.size());
      for (size_t i = 0; i < output.tokens.size(); ++i) {
        metrics_->inter_token_latency_->Observe(per_token);
      }
    }
    last = now;
  }
  for (const engine::SampleFinish& finish : event.finished) {
    metrics_->finished_[static_cast<size_t>(finish.reason)]->Increment();
  }
  if (!event.done) return;
  const engine::RequestTimings& t = event.timings;
  metrics_->request_latency_->Observe(t.total_seconds);
  metrics_->queue_time_->Observe(t.queue_seconds);
  if (event.completion_tokens > 0) {
    metrics_->time_to_first_token_->Observe(t.time_to_first_token);
    metrics_->prefill_time_->Observe(t.prefill_seconds);
    metrics_->decode_time_->Observe(t.decode_seconds);
  }
  metrics_->prompt_tokens_->Increment(event.prompt_tokens);
  metrics_->generated_tokens_->Increment(event.completion_tokens);
}

std::vector<prometheus::MetricFamily> EngineCollector::Collect() const {
  using prometheus::MetricType;
  const engine::LoadSnapshot load = engine_->Load();
  std::vector<prometheus::MetricFamily> families;

  auto gauge = [&](const char* name, const char* help, double value) {
    families.push_back(Family(name, help, MetricType::Gauge));
    AddValue(families.back(), value);
  };
  auto counter = [&](const char* name, const char* help, double value) {
    families.push_back(Family(name, help, MetricType::Counter));
    AddValue(families.back(), value);
  };
  gauge("rattn_requests_running", "Requests holding caches.", load.running);
  gauge("rattn_requests_waiting", "Requests queued, preempted ones included.", load.waiting);
  gauge("rattn_requests_preempted", "Waiting requests that were preempted and will recompute.",
        load.preempted);
  gauge("rattn_generation_tokens_per_second", "Tokens generated per second, recent average.",
        load.tokens_per_second);
  counter("rattn_preemptions_total", "Sequences preempted to free cache blocks.",
          static_cast<double>(load.preemptions));
  counter("rattn_folded_tokens_total", "Positions folded into linear-attention states.",
          static_cast<double>(load.folded_tokens));
  counter("rattn_engine_steps_total", "Engine steps that computed tokens.",
          static_cast<double>(load.steps));
  counter("rattn_computed_prompt_tokens_total",
          "Prompt positions computed by the engine, recomputation after preemption included.",
          static_cast<double>(load.prompt_tokens));

  prometheus::MetricFamily used = Family(
      "rattn_cache_blocks_used", "Blocks (or state slots) in use, per pool.", MetricType::Gauge);
  prometheus::MetricFamily total = Family(
      "rattn_cache_blocks_capacity", "Blocks (or state slots) in each pool.", MetricType::Gauge);
  prometheus::MetricFamily ratio =
      Family("rattn_cache_usage_ratio", "Fraction of each pool in use.", MetricType::Gauge);
  for (const engine::PoolUsage& pool : load.pools) {
    std::vector<prometheus::ClientMetric::Label> labels = {{"pool", pool.name}};
    AddValue(used, static_cast<double>(pool.used), labels);
    AddValue(total, static_cast<double>(pool.total), labels);
    AddValue(
        ratio,
        pool.total > 0 ? static_cast<double>(pool.used) / static_cast<double>(pool.total) : 0.0,
        labels);
  }
  families.push_back(std::move(used));
  families.push_back(std::move(total));
  families.push_back(std::move(ratio));
  return families;
}

}  // namespace rattn::server
