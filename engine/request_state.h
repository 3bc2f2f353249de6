// The engine's private record of a request and its samples, shared by the scheduler (which
// gives samples caches and plans their chunks) and the engine loop (which samples tokens and
// streams events). Owned by the engine loop thread.
#ifndef RATTN_ENGINE_REQUEST_STATE_H_
#define RATTN_ENGINE_REQUEST_STATE_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "engine/cache/cache_manager.h"
#include "engine/request.h"
#include "engine/sampler.h"
#include "engine/stop_matcher.h"
#include "engine/tokenizer/incremental_detokenizer.h"

namespace rattn::engine {

using Clock = std::chrono::steady_clock;

// One sample of a request: a sequence of its own once the prompt's prefill is done.
struct Sample {
  int32_t index = 0;
  std::vector<int32_t> tokens;                // prompt, then generated tokens
  std::unique_ptr<PagedSequenceCache> cache;  // null while the request waits
  std::unique_ptr<SequenceSampler> sampler;
  std::unique_ptr<IncrementalDetokenizer> detokenizer;  // null without a tokenizer
  std::unique_ptr<StopMatcher> stop;
  int32_t generated = 0;
  std::optional<FinishReason> finish;

  bool finished() const { return finish.has_value(); }
  // Tokens not yet in the cache.
  int64_t pending() const {
    return static_cast<int64_t>(tokens.size()) - (cache != nullptr ? cache->length() : 0);
  }
};

struct RequestState {
  GenerateRequest request;
  EventSink sink;
  int64_t max_length = 0;  // prompt + max_new_tokens, within the model's context
  std::vector<Sample> samples;
  // With n > 1, only sample 0 runs until the prompt's prefill ends; then the others fork from
  // it and share its global KV.
  bool forked = false;
  uint64_t admission = 0;            // order of the latest admission; newest is preempted first
  int64_t prompt_logprobs_next = 1;  // next prompt position whose logprob is due
  int32_t preemptions = 0;
  GenerationEvent event;  // what this step has to say

  Clock::time_point submitted;
  std::optional<Clock::time_point> first_scheduled;
  std::optional<Clock::time_point> first_token;

  // The samples that run now: sample 0 before the fork, every unfinished one after.
  template <typename Visit>
  void ForEachActive(Visit&& visit) {
    for (Sample& sample : samples) {
      if (!forked && sample.index > 0) break;
      if (!sample.finished()) visit(sample);
    }
  }
  bool AllFinished() const {
    for (const Sample& sample : samples) {
      if (!sample.finished()) return false;
    }
    return true;
  }
};

}  // namespace rattn::engine

#endif  // RATTN_ENGINE_REQUEST_STATE_H_
