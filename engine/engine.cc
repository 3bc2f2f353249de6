// The engine loop: admission, forward steps, sampling and events; see engine.h.
#include "engine/engine.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "engine/util/logging.h"
#include "engine/util/status_macros.h"

namespace rattn::engine {
namespace {

constexpr int kMaxStopTokenIds = 64;
constexpr double kRateWindowSeconds = 5.0;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

SampleOutput& OutputOf(GenerationEvent& event, int32_t sample) {
  for (SampleOutput& output : event.outputs) {
    if (output.sample == sample) return output;
  }
  event.outputs.push_back({.sample = sample});
  return event.outputs.back();
}

}  // namespace

absl::string_view FinishReasonName(FinishReason reason) {
  switch (reason) {
    case FinishReason::kLength:
      return "length";
    case FinishReason::kStop:
      return "stop";
    case FinishReason::kEos:
      return "eos";
    case FinishReason::kCancelled:
      return "cancelled";
    case FinishReason::kError:
      return "error";
  }
  return "unknown";
}

absl::Status EngineOptions::Validate() const {
  RATTN_RETURN_IF_ERROR(cache.Validate());
  if (max_tokens_per_step < 1 || max_tokens_per_step > (1 << 20)) {
    return absl::InvalidArgumentError(
        absl::StrCat("max tokens per step must be in [1, 1048576], got ", max_tokens_per_step));
  }
  if (max_waiting < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("max waiting requests must be positive, got ", max_waiting));
  }
  if (max_samples < 1 || max_top_logprobs < 0 || max_stop_strings < 0 ||
      max_stop_string_bytes < 1) {
    return absl::InvalidArgumentError("request caps (samples, logprobs, stop strings) are invalid");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Engine>> Engine::Create(std::unique_ptr<Backend> backend,
                                                       std::unique_ptr<Tokenizer> tokenizer,
                                                       const EngineOptions& options) {
  RATTN_RETURN_IF_ERROR(options.Validate());
  if (tokenizer != nullptr && tokenizer->vocab_size() > backend->config().vocab_size) {
    return absl::InvalidArgumentError(absl::StrCat("tokenizer has ", tokenizer->vocab_size(),
                                                   " tokens but the model only ",
                                                   backend->config().vocab_size));
  }
  RATTN_ASSIGN_OR_RETURN(std::unique_ptr<CacheStorage> storage, backend->NewCacheStorage());
  RATTN_ASSIGN_OR_RETURN(std::unique_ptr<CacheManager> caches,
                         CacheManager::Create(backend->config(), options.cache, std::move(storage)));
  std::unique_ptr<Engine> engine(
      new Engine(std::move(backend), std::move(tokenizer), std::move(caches), options));
  engine->loop_ = std::thread([e = engine.get()] { e->Loop(); });
  return engine;
}

Engine::Engine(std::unique_ptr<Backend> backend, std::unique_ptr<Tokenizer> tokenizer,
               std::unique_ptr<CacheManager> caches, const EngineOptions& options)
    : backend_(std::move(backend)),
      tokenizer_(std::move(tokenizer)),
      caches_(std::move(caches)),
      options_(options),
      scheduler_(*caches_, options.max_tokens_per_step) {
  for (int eos : backend_->config().eos_token_ids) eos_tokens_.insert(eos);
  if (tokenizer_ != nullptr && tokenizer_->eos_token().has_value()) {
    eos_tokens_.insert(*tokenizer_->eos_token());
  }
  snapshot_.pools = caches_->Usage();
}

Engine::~Engine() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (loop_.joinable()) loop_.join();
}

absl::Status Engine::Validate(const GenerateRequest& r) const {
  const model::ModelConfig& config = backend_->config();
  if (r.prompt.empty()) return absl::InvalidArgumentError("prompt is empty");
  for (size_t i = 0; i < r.prompt.size(); ++i) {
    if (r.prompt[i] < 0 || r.prompt[i] >= config.vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat("prompt token ", i, " (id ", r.prompt[i],
                                                     ") is outside the vocabulary [0, ",
                                                     config.vocab_size, ")"));
    }
  }
  const int64_t prompt = static_cast<int64_t>(r.prompt.size());
  if (r.stopping.max_new_tokens < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_new_tokens must be at least 1, got ", r.stopping.max_new_tokens));
  }
  if (prompt + r.stopping.max_new_tokens > config.max_position_embeddings) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_new_tokens (", r.stopping.max_new_tokens, ") plus the prompt's ", prompt,
                     " tokens exceed the model's context of ", config.max_position_embeddings));
  }
  if (r.num_samples < 1 || r.num_samples > options_.max_samples) {
    return absl::InvalidArgumentError(
        absl::StrCat("n must be in [1, ", options_.max_samples, "], got ", r.num_samples));
  }
  if (r.top_logprobs < -1 || r.top_logprobs > options_.max_top_logprobs) {
    return absl::InvalidArgumentError(absl::StrCat(
        "logprobs must be in [0, ", options_.max_top_logprobs, "], got ", r.top_logprobs));
  }
  RATTN_RETURN_IF_ERROR(r.sampling.Validate(config.vocab_size));
  if (static_cast<int>(r.stopping.stop_strings.size()) > options_.max_stop_strings) {
    return absl::InvalidArgumentError(absl::StrCat("stop has ", r.stopping.stop_strings.size(),
                                                   " strings; at most ", options_.max_stop_strings,
                                                   " are allowed"));
  }
  for (size_t i = 0; i < r.stopping.stop_strings.size(); ++i) {
    const std::string& stop = r.stopping.stop_strings[i];
    if (stop.empty()) return absl::InvalidArgumentError(absl::StrCat("stop[", i, "] is empty"));
    if (static_cast<int>(stop.size()) > options_.max_stop_string_bytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "stop[", i, "] is ", stop.size(), " bytes; at most ", options_.max_stop_string_bytes));
    }
  }
  if (r.stopping.stop_token_ids.size() > kMaxStopTokenIds) {
    return absl::InvalidArgumentError(
        absl::StrCat("stop_token_ids has more than ", kMaxStopTokenIds, " entries"));
  }
  for (int32_t id : r.stopping.stop_token_ids) {
    if (id < 0 || id >= config.vocab_size) {
      return absl::InvalidArgumentError(
          absl::StrCat("stop_token_ids entry ", id, " is outside the vocabulary"));
    }
  }
  // Every sample may have to recompute alone after a preemption: n whole sequences must fit.
  RATTN_RETURN_IF_ERROR(caches_->CheckFits(prompt + r.stopping.max_new_tokens, r.num_samples));
  return absl::OkStatus();
}

absl::StatusOr<std::string> Engine::Submit(GenerateRequest request, EventSink sink) {
  RATTN_RETURN_IF_ERROR(Validate(request));
  auto state = std::make_unique<RequestState>();
  state->submitted = Clock::now();
  state->sink = std::move(sink);
  state->max_length = static_cast<int64_t>(request.prompt.size()) + request.stopping.max_new_tokens;
  for (int32_t i = 0; i < request.num_samples; ++i) {
    Sample sample;
    sample.index = i;
    sample.tokens = request.prompt;
    SamplingParams params = request.sampling;
    params.seed += static_cast<uint64_t>(i);
    sample.sampler = std::make_unique<SequenceSampler>(params, request.prompt);
    if (tokenizer_ != nullptr) {
      sample.detokenizer = std::make_unique<IncrementalDetokenizer>(*tokenizer_);
    }
    sample.stop = std::make_unique<StopMatcher>(request.stopping.stop_strings);
    state->samples.push_back(std::move(sample));
  }

  std::string id;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) return absl::UnavailableError("engine is shutting down");
    const int waiting = snapshot_.waiting + static_cast<int>(inbox_.size());
    if (waiting >= options_.max_waiting) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "queue is full: ", waiting, " requests waiting (limit ", options_.max_waiting, ")"));
    }
    if (request.id.empty()) request.id = absl::StrCat("req-", next_id_++);
    if (!live_ids_.insert(request.id).second) {
      return absl::AlreadyExistsError(absl::StrCat("request id '", request.id, "' is in use"));
    }
    id = request.id;
    state->request = std::move(request);
    state->event.request_id = id;
    inbox_.push_back(std::move(state));
  }
  wake_.notify_one();
  return id;
}

absl::Status Engine::Cancel(const std::string& id) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!live_ids_.contains(id)) {
      return absl::NotFoundError(absl::StrCat("no live request '", id, "'"));
    }
    cancels_.push_back(id);
  }
  wake_.notify_one();
  return absl::OkStatus();
}

void Engine::CancelAll() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    cancels_.insert(cancels_.end(), live_ids_.begin(), live_ids_.end());
  }
  wake_.notify_one();
}

LoadSnapshot Engine::Load() const {
  std::lock_guard<std::mutex> lock(mutex_);
  LoadSnapshot load = snapshot_;
  // Submitted but not yet taken by the loop (which may be inside a long step).
  load.waiting += static_cast<int>(inbox_.size());
  return load;
}

void Engine::Loop() {
  bool has_work = false;
  while (true) {
    std::deque<std::unique_ptr<RequestState>> submitted;
    std::vector<std::string> cancels;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock,
                 [&] { return stopping_ || has_work || !inbox_.empty() || !cancels_.empty(); });
      if (stopping_) break;
      submitted.swap(inbox_);
      cancels.swap(cancels_);
    }
    for (auto& request : submitted) scheduler_.Enqueue(std::move(request));
    for (const std::string& id : cancels) {
      if (auto request = scheduler_.Remove(id)) {
        EndRequest(std::move(request), FinishReason::kCancelled, absl::OkStatus());
      }
    }
    Step();
    has_work = scheduler_.num_running() + scheduler_.num_waiting() > 0;
  }
  for (auto& request : scheduler_.TakeAll()) {
    EndRequest(std::move(request), FinishReason::kCancelled,
               absl::UnavailableError("engine stopped"));
  }
  Publish(StepStats{});
  Deliver();
}

void Engine::Step() {
  const Clock::time_point start = Clock::now();
  std::vector<PlannedChunk> plan = scheduler_.Schedule();
  if (plan.empty()) {
    Publish(StepStats{});
    Deliver();
    return;
  }
  {
    // Who is running and waiting during the step, which may be long.
    std::lock_guard<std::mutex> lock(mutex_);
    SnapshotRequestCounts();
  }
  std::vector<SequenceChunk> chunks;
  chunks.reserve(plan.size());
  int64_t step_tokens = 0;
  for (const PlannedChunk& c : plan) {
    chunks.push_back(
        {c.sample->cache.get(), std::span(c.sample->tokens.data() + c.start, c.count), c.logits});
    step_tokens += c.count;
    const int64_t prompt = static_cast<int64_t>(c.request->request.prompt.size());
    totals_.prompt_tokens +=
        std::max<int64_t>(0, std::min<int64_t>(c.start + c.count, prompt) - c.start);
    if (backend_->config().NumRlaLayers() > 0) {
      const int64_t first_folding = backend_->config().sliding_window + 1;
      totals_.folded_tokens +=
          std::max<int64_t>(0, c.start + c.count - std::max(c.start, first_folding));
    }
  }

  absl::Status status = backend_->Forward(chunks, &logits_);
  if (!status.ok()) {
    RATTN_LOG(ERROR) << "forward step over " << plan.size() << " chunks failed: " << status;
    std::vector<std::string> failed;
    for (const PlannedChunk& c : plan) failed.push_back(c.request->request.id);
    for (const std::string& id : failed) {
      if (auto request = scheduler_.Remove(id)) {
        EndRequest(std::move(request), FinishReason::kError, status);
      }
    }
    Publish(StepStats{});
    Deliver();
    return;
  }

  const int vocab = backend_->config().vocab_size;
  int64_t generated = 0;
  std::vector<RequestState*> touched;
  size_t row = 0;
  for (const PlannedChunk& c : plan) {
    RequestState& r = *c.request;
    Sample& s = *c.sample;
    if (std::find(touched.begin(), touched.end(), &r) == touched.end()) touched.push_back(&r);
    const size_t rows = c.logits == LogitsMode::kAll    ? c.count
                        : c.logits == LogitsMode::kLast ? 1
                                                        : 0;
    auto row_logits = [&](size_t i) {
      return std::span<const float>(logits_.data() + (row + i) * vocab, vocab);
    };
    if (c.logits == LogitsMode::kAll && r.request.prompt_logprobs && !r.forked) {
      const int64_t prompt = static_cast<int64_t>(r.request.prompt.size());
      for (int32_t i = 0; i < c.count; ++i) {
        const int64_t p = c.start + i + 1;  // the prompt token this row predicts
        if (p < r.prompt_logprobs_next || p >= prompt) continue;
        r.event.prompt_logprobs.push_back(
            LogprobOf(row_logits(i), r.request.prompt[p], std::max(0, r.request.top_logprobs)));
        r.prompt_logprobs_next = p + 1;
      }
    }
    if (c.start + c.count == static_cast<int64_t>(s.tokens.size())) {
      std::span<const float> last = row_logits(rows - 1);
      if (!r.forked && r.samples.size() > 1) {
        // The prompt is done: every other sample takes a copy of sample 0's caches, sharing its
        // global blocks, and all draw their first token from the same logits.
        for (size_t i = 1; i < r.samples.size(); ++i) {
          Sample& child = r.samples[i];
          child.tokens = s.tokens;
          // Cannot fail: the child's blocks and slot were set aside at admission.
          if (absl::Status copied = caches_->CopyInto(*s.cache, *child.cache); !copied.ok()) {
            RATTN_LOG(ERROR) << "request " << r.request.id << ": fork failed: " << copied;
            FinishSample(r, child, FinishReason::kError, /*cut_by_stop=*/false);
          }
        }
        r.forked = true;
        for (Sample& sample : r.samples) {
          if (sample.finished()) continue;
          SampleNext(r, sample, last);
          ++generated;
        }
      } else {
        SampleNext(r, s, last);
        ++generated;
      }
      if (!r.first_token.has_value()) r.first_token = Clock::now();
    }
    row += rows;
  }
  for (RequestState* r : touched) Emit(*r);

  totals_.generated_tokens += generated;
  Publish(
      {Seconds(Clock::now() - start), step_tokens, generated, static_cast<int32_t>(plan.size())});
  Deliver();
}

void Engine::SampleNext(RequestState& r, Sample& s, std::span<const float> logits) {
  const int32_t token = s.sampler->Sample(logits, sampling_scratch_);
  s.sampler->Accept(token);
  s.tokens.push_back(token);
  ++s.generated;
  SampleOutput& out = OutputOf(r.event, s.index);
  out.tokens.push_back(token);
  if (r.request.top_logprobs >= 0) {
    out.logprobs.push_back(LogprobOf(logits, token, r.request.top_logprobs));
  }

  const StoppingCriteria& stopping = r.request.stopping;
  std::optional<FinishReason> reason;
  bool cut_by_stop = false;
  if (!stopping.ignore_eos && eos_tokens_.contains(token)) {
    reason = FinishReason::kEos;
  } else if (std::find(stopping.stop_token_ids.begin(), stopping.stop_token_ids.end(), token) !=
             stopping.stop_token_ids.end()) {
    reason = FinishReason::kStop;
  } else if (s.detokenizer != nullptr) {
    bool stopped = false;
    out.text += s.stop->Append(s.detokenizer->Append(token), &stopped);
    if (stopped) {
      reason = FinishReason::kStop;
      cut_by_stop = true;
    }
  }
  if (!reason.has_value() && (s.generated >= stopping.max_new_tokens ||
                              static_cast<int64_t>(s.tokens.size()) >= r.max_length)) {
    reason = FinishReason::kLength;
  }
  if (reason.has_value()) FinishSample(r, s, *reason, cut_by_stop);
}

void Engine::FinishSample(RequestState& r, Sample& s, FinishReason reason, bool cut_by_stop) {
  if (s.finished()) return;
  s.finish = reason;
  // The text held back for a possible stop string or an unfinished character is final now,
  // unless a stop string cut it.
  if (s.detokenizer != nullptr && !cut_by_stop) {
    bool stopped = false;
    std::string tail = s.stop->Append(s.detokenizer->Flush(), &stopped);
    if (!stopped) tail += s.stop->Flush();
    if (!tail.empty()) OutputOf(r.event, s.index).text += tail;
  }
  s.cache.reset();
  r.event.finished.push_back({s.index, reason, s.generated});
}

void Engine::EndRequest(std::unique_ptr<RequestState> request, FinishReason reason,
                        absl::Status status) {
  for (Sample& sample : request->samples) {
    if (!sample.finished()) FinishSample(*request, sample, reason, /*cut_by_stop=*/false);
  }
  request->event.status = std::move(status);
  Emit(*request);
}

void Engine::Emit(RequestState& r) {
  GenerationEvent& event = r.event;
  const bool done = r.AllFinished();
  if (!done && event.outputs.empty() && event.prompt_logprobs.empty()) return;
  event.request_id = r.request.id;
  event.prompt_tokens = static_cast<int32_t>(r.request.prompt.size());
  std::unique_ptr<RequestState> owned;
  if (done) {
    event.done = true;
    const Clock::time_point now = Clock::now();
    RequestTimings& t = event.timings;
    t.total_seconds = Seconds(now - r.submitted);
    if (r.first_scheduled) t.queue_seconds = Seconds(*r.first_scheduled - r.submitted);
    if (r.first_token) {
      t.time_to_first_token = Seconds(*r.first_token - r.submitted);
      t.decode_seconds = Seconds(now - *r.first_token);
      if (r.first_scheduled) t.prefill_seconds = Seconds(*r.first_token - *r.first_scheduled);
    }
    for (const Sample& sample : r.samples) event.completion_tokens += sample.generated;
    owned = scheduler_.Remove(r.request.id);  // null when the caller already took it out
    std::lock_guard<std::mutex> lock(mutex_);
    live_ids_.erase(r.request.id);
  }
  if (r.sink) outbox_.emplace_back(r.sink, std::move(event));
  event = GenerationEvent{};
  event.request_id = r.request.id;
}

void Engine::Deliver() {
  for (auto& [sink, event] : outbox_) sink(std::move(event));
  outbox_.clear();
}

void Engine::SnapshotRequestCounts() {
  snapshot_.running = scheduler_.num_running();
  snapshot_.waiting = scheduler_.num_waiting();
  snapshot_.preempted = scheduler_.num_preempted();
}

void Engine::Publish(const StepStats& step) {
  const Clock::time_point now = Clock::now();
  if (step.generated > 0) recent_generated_.emplace_back(now, step.generated);
  while (!recent_generated_.empty() &&
         Seconds(now - recent_generated_.front().first) > kRateWindowSeconds) {
    recent_generated_.pop_front();
  }
  int64_t recent = 0;
  for (const auto& [time, count] : recent_generated_) recent += count;
  if (step.tokens > 0) ++totals_.steps;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    snapshot_ = totals_;
    SnapshotRequestCounts();
    snapshot_.preemptions = scheduler_.preemptions();
    snapshot_.pools = caches_->Usage();
    snapshot_.tokens_per_second = recent / kRateWindowSeconds;
  }
  if (step.tokens > 0 && options_.step_observer) options_.step_observer(step);
}

}  // namespace rattn::engine
