// What the engine takes and gives: a generation request, the events streamed back for it, and
// the options and load snapshot of the engine. The server converts its RPC messages to and from
// these types; nothing here knows of gRPC.
#ifndef RATTN_ENGINE_REQUEST_H_
#define RATTN_ENGINE_REQUEST_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "engine/cache/cache_manager.h"
#include "engine/sampler.h"

namespace rattn::engine {

enum class FinishReason {
  kLength,     // max_new_tokens, or the model's context, reached
  kStop,       // a stop string or stop token id
  kEos,        // the model's end-of-sequence token
  kCancelled,  // Cancel(), a client that went away, an expired deadline
  kError,      // the engine failed; the event's status says why
};

absl::string_view FinishReasonName(FinishReason reason);

struct StoppingCriteria {
  int32_t max_new_tokens = 16;
  std::vector<std::string> stop_strings;  // never part of the returned text
  std::vector<int32_t> stop_token_ids;    // returned as the last token, like eos
  bool ignore_eos = false;
};

struct GenerateRequest {
  std::string id;  // unique among live requests; Submit() assigns one when empty
  std::vector<int32_t> prompt;
  SamplingParams sampling;
  StoppingCriteria stopping;
  int32_t num_samples = 1;    // n: samples of the same prompt, sharing its prefill
  int32_t top_logprobs = -1;  // -1: no logprobs; k >= 0: the chosen token's plus k alternatives
  bool prompt_logprobs = false;
};

// New output of one sample.
struct SampleOutput {
  int32_t sample = 0;
  std::vector<int32_t> tokens;
  std::string text;                    // complete UTF-8; stop strings held back and cut
  std::vector<TokenLogprob> logprobs;  // one per token when asked
};

struct SampleFinish {
  int32_t sample = 0;
  FinishReason reason = FinishReason::kLength;
  int32_t completion_tokens = 0;
};

struct RequestTimings {
  double queue_seconds = 0;        // submitted -> first scheduled
  double time_to_first_token = 0;  // submitted -> first token
  double prefill_seconds = 0;      // first scheduled -> first token
  double decode_seconds = 0;       // first token -> finished
  double total_seconds = 0;        // submitted -> finished
};

// One step's news for a request. The last event has `done` set.
struct GenerationEvent {
  std::string request_id;
  std::vector<SampleOutput> outputs;
  // Sent once, in the first event, when asked: the logprob of prompt token i given tokens
  // before it, for i = 1 .. prompt length - 1.
  std::vector<TokenLogprob> prompt_logprobs;
  std::vector<SampleFinish> finished;
  bool done = false;
  absl::Status status;  // not OK when the request ended in an error
  int32_t prompt_tokens = 0;
  int32_t completion_tokens = 0;  // over all samples, on the last event
  RequestTimings timings;         // on the last event
};

// Receives a request's events on the engine's thread, in order; must not block.
using EventSink = std::function<void(GenerationEvent)>;

// What one engine step computed, for metrics.
struct StepStats {
  double seconds = 0;     // wall time of the step: schedule, forward, sample
  int64_t tokens = 0;     // positions computed: decode rows plus prefill chunks
  int64_t generated = 0;  // tokens sampled
  int32_t sequences = 0;  // sequences in the step
};

// Called on the engine's thread after every step that computed something; must not block.
using StepObserver = std::function<void(const StepStats&)>;

struct EngineOptions {
  CacheOptions cache;
  StepObserver step_observer;      // optional
  int max_tokens_per_step = 2048;  // the step's token budget: decode rows plus prefill chunks
  int max_waiting = 1024;          // requests queued but not admitted; more are refused
  int max_samples = 16;            // cap on n
  int max_top_logprobs = 20;
  int max_stop_strings = 32;
  int max_stop_string_bytes = 512;

  absl::Status Validate() const;
};

struct LoadSnapshot {
  int running = 0;          // requests with caches
  int waiting = 0;          // requests queued, including preempted ones
  int preempted = 0;        // of the waiting, those preempted and waiting to be recomputed
  int64_t preemptions = 0;  // since start
  std::vector<PoolUsage> pools;
  double tokens_per_second = 0;  // generated tokens over the last few seconds
  int64_t steps = 0;
  int64_t generated_tokens = 0;  // since start
  int64_t prompt_tokens = 0;     // computed prompt tokens since start (recompute included)
  int64_t folded_tokens = 0;     // positions folded into rla states since start
};

}  // namespace rattn::engine

#endif  // RATTN_ENGINE_REQUEST_H_
