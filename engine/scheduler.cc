// Continuous batching with chunked prefill and preemption by recompute; see scheduler.h.
#include "engine/scheduler.h"

#include <algorithm>

#include "engine/util/logging.h"

namespace rattn::engine {
namespace {

// Logits a chunk needs: every row while prompt logprobs are due in it, else the last row when
// the chunk reaches the sample's last token (the next one is sampled from it), else none.
LogitsMode ModeFor(const RequestState& request, const Sample& sample, int64_t start,
                   int32_t count) {
  const int64_t end = start + count;
  const int64_t prompt = static_cast<int64_t>(request.request.prompt.size());
  // Prompt token p's logprob comes from row p - 1.
  if (request.request.prompt_logprobs && !request.forked && sample.index == 0 &&
      start <= prompt - 2 && end - 1 >= request.prompt_logprobs_next - 1) {
    return LogitsMode::kAll;
  }
  return end == static_cast<int64_t>(sample.tokens.size()) ? LogitsMode::kLast : LogitsMode::kNone;
}

std::vector<Sample*> ActiveSamples(RequestState& request) {
  std::vector<Sample*> active;
  request.ForEachActive([&](Sample& sample) { active.push_back(&sample); });
  return active;
}

void ReleaseCaches(RequestState& request) {
  for (Sample& sample : request.samples) sample.cache.reset();
}

}  // namespace

Scheduler::Scheduler(CacheManager& caches, int max_tokens_per_step)
    : caches_(caches), max_tokens_per_step_(max_tokens_per_step) {}

void Scheduler::Enqueue(std::unique_ptr<RequestState> request) {
  waiting_.push_back(std::move(request));
}

std::vector<PlannedChunk> Scheduler::Schedule() {
  std::vector<PlannedChunk> plan;
  int64_t budget = max_tokens_per_step_;

  // Running requests, oldest first; growth that does not fit preempts the newest.
  for (size_t i = 0; i < running_.size() && budget > 0; ++i) {
    RequestState& request = *running_[i];
    bool preempted_itself = false;
    for (Sample* sample : ActiveSamples(request)) {
      if (budget == 0) break;
      const int64_t start = sample->cache->length();
      const int32_t count = static_cast<int32_t>(std::min(sample->pending(), budget));
      if (count <= 0) continue;
      while (!sample->cache->Reserve(start + count).ok()) {
        preempted_itself = running_.back().get() == &request;
        PreemptNewest(plan);
        if (preempted_itself) break;
      }
      if (preempted_itself) break;
      plan.push_back({&request, sample, start, count, ModeFor(request, *sample, start, count)});
      budget -= count;
    }
    if (preempted_itself) break;  // it was the newest: nothing runs after it
  }

  // Queued requests, in order, while they fit.
  while (!waiting_.empty() && budget > 0) {
    RequestState& request = *waiting_.front();
    if (!Admit(request)) break;
    const size_t planned = plan.size();
    const int64_t budget_before = budget;
    bool fits = true;
    for (Sample* sample : ActiveSamples(request)) {
      if (budget == 0) break;
      const int32_t count = static_cast<int32_t>(std::min(sample->pending(), budget));
      if (!sample->cache->Reserve(count).ok()) {
        fits = false;
        break;
      }
      plan.push_back({&request, sample, 0, count, ModeFor(request, *sample, 0, count)});
      budget -= count;
    }
    if (!fits) {
      plan.resize(planned);
      budget = budget_before;
      ReleaseCaches(request);
      break;
    }
    if (!request.first_scheduled.has_value()) request.first_scheduled = Clock::now();
    RATTN_LOG(DEBUG) << "request " << request.request.id << ": admitted ("
                     << request.samples[0].tokens.size() << " tokens, "
                     << caches_.free_global_blocks() << " global blocks free)";
    running_.push_back(std::move(waiting_.front()));
    waiting_.pop_front();
  }
  return plan;
}

bool Scheduler::Admit(RequestState& request) {
  // Before the fork every sample gets a cache: sample 0 to prefill the prompt, the others as
  // empty targets of the fork. After it, each unfinished sample recomputes in its own.
  for (Sample& sample : request.samples) {
    if (sample.finished()) continue;
    auto cache = caches_.NewSequence(request.max_length);
    if (!cache.ok()) {
      ReleaseCaches(request);
      return false;
    }
    sample.cache = std::move(*cache);
  }
  request.admission = next_admission_++;
  return true;
}

void Scheduler::PreemptNewest(std::vector<PlannedChunk>& plan) {
  std::unique_ptr<RequestState> victim = std::move(running_.back());
  running_.pop_back();
  std::erase_if(plan, [&](const PlannedChunk& chunk) { return chunk.request == victim.get(); });
  ReleaseCaches(*victim);
  ++victim->preemptions;
  ++preemptions_;
  RATTN_LOG(DEBUG) << "request " << victim->request.id << ": preempted for recompute ("
                   << caches_.free_global_blocks() << " global blocks free)";
  waiting_.push_front(std::move(victim));
}

std::unique_ptr<RequestState> Scheduler::Remove(const std::string& id) {
  auto take = [&](auto& list) -> std::unique_ptr<RequestState> {
    for (auto it = list.begin(); it != list.end(); ++it) {
      if ((*it)->request.id == id) {
        std::unique_ptr<RequestState> request = std::move(*it);
        list.erase(it);
        ReleaseCaches(*request);
        return request;
      }
    }
    return nullptr;
  };
  if (auto request = take(running_)) return request;
  return take(waiting_);
}

int Scheduler::num_preempted() const {
  return static_cast<int>(std::count_if(waiting_.begin(), waiting_.end(), [](const auto& request) {
    return request->preemptions > 0;
  }));
}

std::vector<std::unique_ptr<RequestState>> Scheduler::TakeAll() {
  std::vector<std::unique_ptr<RequestState>> all;
  for (auto& request : running_) all.push_back(std::move(request));
  for (auto& request : waiting_) all.push_back(std::move(request));
  running_.clear();
  waiting_.clear();
  for (auto& request : all) ReleaseCaches(*request);
  return all;
}

}  // namespace rattn::engine
