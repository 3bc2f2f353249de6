// Prometheus metrics of the server, all prefixed rattn_ with units in their names. No label
// takes its value from a request: labels are finish reasons, status codes and pool names.
//
// ServerMetrics holds what the server observes: request histograms and counters (fed by
// RequestMetrics, one per call, from the engine's events) and step histograms (fed by the
// engine's step observer). EngineCollector reads the engine's load snapshot at scrape time for
// the gauges and the engine's own counters, so they are never stale.
#ifndef RATTN_SERVER_METRICS_H_
#define RATTN_SERVER_METRICS_H_

#include <array>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "engine/engine.h"
#include "prometheus/collectable.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace rattn::server {

class ServerMetrics {
 public:
  ServerMetrics(absl::string_view version, absl::string_view backend);

  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }

  // For EngineOptions::step_observer. Thread-safe.
  void ObserveStep(const engine::StepStats& step);
  // A request refused before it reached the engine, or by the engine's admission. Thread-safe.
  void CountRejected(absl::StatusCode code);

 private:
  friend class RequestMetrics;

  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Histogram* time_to_first_token_;
  prometheus::Histogram* inter_token_latency_;
  prometheus::Histogram* request_latency_;
  prometheus::Histogram* queue_time_;
  prometheus::Histogram* prefill_time_;
  prometheus::Histogram* decode_time_;
  prometheus::Histogram* step_duration_;
  prometheus::Histogram* step_tokens_;
  prometheus::Counter* prompt_tokens_;
  prometheus::Counter* generated_tokens_;
  // By engine::FinishReason, resolved once so that the engine's thread never looks labels up.
  std::array<prometheus::Counter*, 5> finished_;
  prometheus::Family<prometheus::Counter>* rejected_;
};

// Turns one request's events into observations. Not thread-safe: the engine delivers a
// request's events one at a time, in order.
class RequestMetrics {
 public:
  explicit RequestMetrics(ServerMetrics* metrics) : metrics_(metrics) {}

  void Observe(const engine::GenerationEvent& event);

 private:
  using Clock = std::chrono::steady_clock;

  ServerMetrics* metrics_;                                    // null: observe nothing
  std::vector<std::optional<Clock::time_point>> last_token_;  // per sample
};

// Gauges and counters read from Engine::Load() when scraped.
class EngineCollector : public prometheus::Collectable {
 public:
  explicit EngineCollector(const engine::Engine* engine) : engine_(engine) {}

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const engine::Engine* engine_;
};

}  // namespace rattn::server

#endif  // RATTN_SERVER_METRICS_H_
