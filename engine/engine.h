// The serving engine: requests in, token events out. One loop thread owns the scheduler, the
// caches, the backend and every request's state; other threads reach it only through Submit()
// and Cancel(), which queue work for the loop, and Load(), which reads a snapshot the loop
// publishes after each step.
#ifndef RATTN_ENGINE_ENGINE_H_
#define RATTN_ENGINE_ENGINE_H_

#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "engine/backend.h"
#include "engine/cache/cache_manager.h"
#include "engine/request.h"
#include "engine/request_state.h"
#include "engine/scheduler.h"
#include "engine/tokenizer/tokenizer.h"

namespace rattn::engine {

class Engine {
 public:
  // Starts the loop thread. `tokenizer` may be null: events then carry token ids only.
  static absl::StatusOr<std::unique_ptr<Engine>> Create(std::unique_ptr<Backend> backend,
                                                        std::unique_ptr<Tokenizer> tokenizer,
                                                        const EngineOptions& options);
  // Stops the loop; requests still in flight end with UNAVAILABLE.
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Validates and queues a request; its events go to `sink` on the loop thread. Returns the
  // request id. INVALID_ARGUMENT names the bad field; RESOURCE_EXHAUSTED when the queue is full
  // or the request could never fit the caches; ALREADY_EXISTS for an id in use; UNAVAILABLE
  // once stopping. Thread-safe.
  absl::StatusOr<std::string> Submit(GenerateRequest request, EventSink sink);

  // Ends a request within one step, freeing its caches; its last event says kCancelled.
  // NOT_FOUND when no live request has this id. Thread-safe.
  absl::Status Cancel(const std::string& id);

  // Cancels every live request, as Cancel() does each (for a drain that ran out of time).
  // Thread-safe.
  void CancelAll();

  // The latest snapshot the loop published. Thread-safe.
  LoadSnapshot Load() const;

  const model::ModelConfig& config() const { return backend_->config(); }
  const Backend& backend() const { return *backend_; }
  const Tokenizer* tokenizer() const { return tokenizer_.get(); }
  const CacheManager& caches() const { return *caches_; }

  // Checks a request against the model, the options and the caches (Submit does this).
  absl::Status Validate(const GenerateRequest& request) const;

 private:
  Engine(std::unique_ptr<Backend> backend, std::unique_ptr<Tokenizer> tokenizer,
         std::unique_ptr<CacheManager> caches, const EngineOptions& options);

  void Loop();
  void Step();
  // Samples the next token of `sample` from one logits row and applies the stop rules.
  void SampleNext(RequestState& request, Sample& sample, std::span<const float> logits);
  // Ends one sample; `cut_by_stop` when a stop string ended it (its held-back text is dropped).
  void FinishSample(RequestState& request, Sample& sample, FinishReason reason, bool cut_by_stop);
  // Ends every sample of a request (cancel, error, shutdown) and sends its last event.
  void EndRequest(std::unique_ptr<RequestState> request, FinishReason reason, absl::Status status);
  // Queues the request's pending event for delivery; the last one when every sample has
  // finished (the request is then forgotten).
  void Emit(RequestState& request);
  // Hands queued events to their sinks. Called after Publish(), so that a client that sees a
  // request end also sees a snapshot in which its caches are free.
  void Deliver();
  void Publish(const StepStats& step);
  // Copies the scheduler's running, waiting and preempted counts into the snapshot.
  void SnapshotRequestCounts() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  std::unique_ptr<Backend> backend_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<CacheManager> caches_;
  EngineOptions options_;
  absl::flat_hash_set<int32_t> eos_tokens_;

  // Loop-thread state.
  Scheduler scheduler_;
  std::vector<float> logits_;
  std::vector<float> sampling_scratch_;
  std::deque<std::pair<Clock::time_point, int64_t>> recent_generated_;
  LoadSnapshot totals_;
  std::vector<std::pair<EventSink, GenerationEvent>> outbox_;

  // Shared with Submit / Cancel / Load.
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::unique_ptr<RequestState>> inbox_ ABSL_GUARDED_BY(mutex_);
  std::vector<std::string> cancels_ ABSL_GUARDED_BY(mutex_);
  absl::flat_hash_set<std::string> live_ids_ ABSL_GUARDED_BY(mutex_);
  LoadSnapshot snapshot_ ABSL_GUARDED_BY(mutex_);
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  uint64_t next_id_ ABSL_GUARDED_BY(mutex_) = 0;
  std::thread loop_;
};

}  // namespace rattn::engine

#endif  // RATTN_ENGINE_ENGINE_H_
