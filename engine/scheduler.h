// Continuous batching: which requests run, and what each step computes.
//
// Policy (first come, first served):
//   - running requests keep going, oldest admission first: a decode row, or the next prefill
//     chunk, per active sample, within the step's token budget;
//   - when a running sample cannot get a global block, the most recently admitted request is
//     preempted: its caches are released and it returns to the front of the queue, keeping its
//     tokens and sampler state, to be recomputed (prompt plus generated tokens) when readmitted;
//   - with budget left, queued requests are admitted in order while their caches fit; the first
//     one that does not fit stops admission, so none is overtaken forever.
// The oldest running request is never preempted for a newer one, and a request is only queued
// if its whole length fits the pools alone, so the engine always makes progress.
#ifndef RATTN_ENGINE_SCHEDULER_H_
#define RATTN_ENGINE_SCHEDULER_H_

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "engine/cache/cache_manager.h"
#include "engine/request_state.h"

namespace rattn::engine {

// One chunk of a step: `count` tokens of a sample from position `start`.
struct PlannedChunk {
  RequestState* request = nullptr;
  Sample* sample = nullptr;
  int64_t start = 0;
  int32_t count = 0;
  LogitsMode logits = LogitsMode::kNone;
};

class Scheduler {
 public:
  Scheduler(CacheManager& caches, int max_tokens_per_step);

  // Queues a request at the back.
  void Enqueue(std::unique_ptr<RequestState> request);

  // Plans the next step, with room reserved in every chunk's cache. Empty when idle.
  std::vector<PlannedChunk> Schedule();

  // Takes a request out wherever it is, releasing its caches. Null when unknown.
  std::unique_ptr<RequestState> Remove(const std::string& id);

  // Every request, running then waiting (for shutdown).
  std::vector<std::unique_ptr<RequestState>> TakeAll();

  int num_running() const { return static_cast<int>(running_.size()); }
  int num_waiting() const { return static_cast<int>(waiting_.size()); }
  int64_t preemptions() const { return preemptions_; }
  // Queued requests that were running once and wait to be recomputed.
  int num_preempted() const;

 private:
  // Gives every sample that will run a cache; false (and nothing held) when they do not fit.
  bool Admit(RequestState& request);
  // Releases the newest running request's caches and queues it at the front.
  void PreemptNewest(std::vector<PlannedChunk>& plan);

  CacheManager& caches_;
  int max_tokens_per_step_;
  std::deque<std::unique_ptr<RequestState>> waiting_;
  std::vector<std::unique_ptr<RequestState>> running_;  // oldest admission first
  uint64_t next_admission_ = 0;
  int64_t preemptions_ = 0;
};

}  // namespace rattn::engine

#endif  // RATTN_ENGINE_SCHEDULER_H_
