// The engine end to end on the CPU backend: batch invariance (also under preemption), no leaks
// after random cancellations, the window bound, seeds, stop strings, n > 1, prompt logprobs,
// cancellation and request validation.
#include "engine/engine.h"

#include <condition_variable>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "engine/tokenizer/byte_tokenizer.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace rattn::engine {
namespace {

using namespace std::chrono_literals;

// Everything one request produced, gathered from its events.
struct Result {
  std::map<int32_t, std::vector<int32_t>> tokens;  // per sample
  std::map<int32_t, std::string> text;
  std::map<int32_t, std::vector<float>> logprobs;
  std::map<int32_t, FinishReason> reasons;
  std::vector<TokenLogprob> prompt_logprobs;
  absl::Status status;
  int events = 0;
  bool done = false;
};

// Collects events of many requests and waits for them to finish.
class Collector {
 public:
  EventSink SinkFor(const std::string& key) {
    return [this, key](GenerationEvent event) {
      std::lock_guard<std::mutex> lock(mutex_);
      Result& r = results_[key];
      ++r.events;
      for (SampleOutput& out : event.outputs) {
        auto& tokens = r.tokens[out.sample];
        tokens.insert(tokens.end(), out.tokens.begin(), out.tokens.end());
        r.text[out.sample] += out.text;
        for (const TokenLogprob& lp : out.logprobs) r.logprobs[out.sample].push_back(lp.logprob);
      }
      for (TokenLogprob& lp : event.prompt_logprobs) r.prompt_logprobs.push_back(lp);
      for (const SampleFinish& finish : event.finished) r.reasons[finish.sample] = finish.reason;
      if (event.done) {
        r.done = true;
        r.status = event.status;
        ++finished_;
        done_.notify_all();
      }
    };
  }
  // Waits until `count` requests are done; false on timeout.
  bool WaitFor(int count, std::chrono::seconds timeout = 120s) {
    std::unique_lock<std::mutex> lock(mutex_);
    return done_.wait_for(lock, timeout, [&] { return finished_ >= count; });
  }
  Result Get(const std::string& key) {
    std::lock_guard<std::mutex> lock(mutex_);
    return results_[key];
  }

 private:
  std::mutex mutex_;
  std::condition_variable done_;
  std::map<std::string, Result> results_;
  int finished_ = 0;
};

class EngineTest : public ::testing::Test {
 protected:
  static constexpr int kWindow = 8;

  void SetUp() override {
    config_ = testing::SmallConfig("rfsr", kWindow, 4, 2);
    config_.vocab_size = 300;  // bytes plus the byte tokenizer's specials
    config_.eos_token_ids = {257};
    ASSERT_TRUE(model::WriteRandomCheckpoint(config_, {.seed = 5}, dir_.path()).ok());
  }

  std::unique_ptr<Engine> MakeEngine(EngineOptions options) {
    auto checkpoint = model::Checkpoint::Open(dir_.path());
    EXPECT_TRUE(checkpoint.ok()) << checkpoint.status();
    auto backend = cpu::CpuBackend::Create(**checkpoint);
    EXPECT_TRUE(backend.ok());
    auto tokenizer = ByteTokenizer::Create(config_.vocab_size);
    EXPECT_TRUE(tokenizer.ok());
    auto engine = Engine::Create(std::move(*backend), std::move(*tokenizer), options);
    EXPECT_TRUE(engine.ok()) << engine.status();
    return engine.ok() ? std::move(*engine) : nullptr;
  }

  static EngineOptions Roomy() {
    EngineOptions options;
    options.cache.block_size = 4;
    options.cache.memory_budget_bytes = 64 << 20;
    options.cache.max_sequences = 128;
    options.max_tokens_per_step = 256;
    return options;
  }

  GenerateRequest Greedy(std::vector<int32_t> prompt, int max_new) {
    GenerateRequest request;
    request.prompt = std::move(prompt);
    request.sampling.temperature = 0.0f;
    request.stopping.max_new_tokens = max_new;
    request.stopping.ignore_eos = true;
    request.top_logprobs = 0;
    return request;
  }

  // Runs each request alone, one after another.
  std::vector<Result> RunAlone(Engine& engine, const std::vector<GenerateRequest>& requests) {
    std::vector<Result> results;
    for (size_t i = 0; i < requests.size(); ++i) {
      Collector collector;
      EXPECT_TRUE(engine.Submit(requests[i], collector.SinkFor("x")).ok());
      EXPECT_TRUE(collector.WaitFor(1));
      results.push_back(collector.Get("x"));
    }
    return results;
  }

  testing::ScratchDir dir_{"checkpoint"};
  model::ModelConfig config_;
};

std::vector<GenerateRequest> RandomGreedyRequests(int count, int max_prompt, uint64_t seed) {
  std::mt19937 random(seed);
  std::vector<GenerateRequest> requests;
  for (int i = 0; i < count; ++i) {
    GenerateRequest r;
    int prompt = std::uniform_int_distribution<int>(1, max_prompt)(random);
    r.prompt = testing::RandomTokens(prompt, 256, seed * 1000 + i);
    r.sampling.temperature = 0.0f;
    r.stopping.max_new_tokens = std::uniform_int_distribution<int>(1, 24)(random);
    r.stopping.ignore_eos = true;
    r.top_logprobs = 0;
    requests.push_back(r);
  }
  return requests;
}

void ExpectSameOutputs(const Result& batched, const Result& alone, const std::string& what) {
  ASSERT_TRUE(batched.done && alone.done) << what;
  EXPECT_EQ(batched.tokens.at(0), alone.tokens.at(0)) << what;
  ASSERT_EQ(batched.logprobs.at(0).size(), alone.logprobs.at(0).size()) << what;
  for (size_t t = 0; t < alone.logprobs.at(0).size(); ++t) {
    EXPECT_NEAR(batched.logprobs.at(0)[t], alone.logprobs.at(0)[t], 1e-5) << what << " token " << t;
  }
}

TEST_F(EngineTest, BatchedRequestsMatchEachAloneEvenUnderPreemption) {
  const std::vector<GenerateRequest> requests = RandomGreedyRequests(64, 4 * kWindow, 21);
  std::vector<Result> alone;
  {
    auto engine = MakeEngine(Roomy());
    alone = RunAlone(*engine, requests);
  }
  for (bool tight : {false, true}) {
    SCOPED_TRACE(tight ? "tight memory" : "roomy memory");
    EngineOptions options = Roomy();
    if (tight) {
      // Room for a few full requests' global KV: running requests outgrow it and preempt.
      options.cache.global_blocks = 40;
      options.cache.window_blocks = 64 * 4;
      options.cache.rla_slots = 64;
    }
    auto engine = MakeEngine(options);
    Collector collector;
    for (size_t i = 0; i < requests.size(); ++i) {
      ASSERT_TRUE(engine->Submit(requests[i], collector.SinkFor(std::to_string(i))).ok());
    }
    ASSERT_TRUE(collector.WaitFor(static_cast<int>(requests.size())));
    for (size_t i = 0; i < requests.size(); ++i) {
      ExpectSameOutputs(collector.Get(std::to_string(i)), alone[i], "request " + std::to_string(i));
    }
    const LoadSnapshot load = engine->Load();
    RecordProperty(tight ? "preemptions_tight" : "preemptions_roomy",
                   std::to_string(load.preemptions));
    if (tight) {
      EXPECT_GT(load.preemptions, 0) << "the tight pools must force preemption";
    }
    for (const PoolUsage& pool : load.pools) EXPECT_EQ(pool.used, 0) << pool.name;
  }
}

TEST_F(EngineTest, RandomCancellationsLeaveNothingBehind) {
  EngineOptions options = Roomy();
  options.cache.global_blocks = 120;
  options.cache.window_blocks = 512;
  options.cache.rla_slots = 128;
  options.max_waiting = 4096;
  auto engine = MakeEngine(options);
  Collector collector;
  std::mt19937 random(4);
  const int total = 2000;
  std::vector<std::string> ids;
  for (int i = 0; i < total; ++i) {
    GenerateRequest r = Greedy(testing::RandomTokens(1 + random() % 20, 256, i), 1 + random() % 16);
    auto id = engine->Submit(r, collector.SinkFor(std::to_string(i)));
    ASSERT_TRUE(id.ok()) << id.status();
    ids.push_back(*id);
    // Cancel about a third: some at once (queued), some after a short while (prefill, decode).
    if (random() % 3 == 0) {
      if (random() % 2 == 0)
        std::this_thread::sleep_for(std::chrono::microseconds(random() % 3000));
      absl::Status cancelled = engine->Cancel(*id);
      EXPECT_TRUE(cancelled.ok() || cancelled.code() == absl::StatusCode::kNotFound) << cancelled;
    }
  }
  ASSERT_TRUE(collector.WaitFor(total, 600s));
  int cancelled = 0;
  for (int i = 0; i < total; ++i) {
    Result r = collector.Get(std::to_string(i));
    ASSERT_TRUE(r.done);
    if (r.reasons.at(0) == FinishReason::kCancelled) ++cancelled;
  }
  RecordProperty("cancelled", std::to_string(cancelled));
  EXPECT_GT(cancelled, 100);
  const LoadSnapshot load = engine->Load();
  EXPECT_EQ(load.running + load.waiting, 0);
  for (const PoolUsage& pool : load.pools) EXPECT_EQ(pool.used, 0) << pool.name;
}

TEST_F(EngineTest, LongRequestHoldsOnlyItsWindow) {
  auto engine = MakeEngine(Roomy());
  const int block = Roomy().cache.block_size;
  const int64_t bound = (kWindow + block) / block + 1;
  int64_t most = 0;
  Collector collector;
  auto sink = collector.SinkFor("long");
  GenerateRequest r = Greedy(testing::RandomTokens(5, 256, 1), 20 * kWindow);
  ASSERT_TRUE(engine
                  ->Submit(r,
                           [&](GenerationEvent event) {
                             for (const PoolUsage& pool : engine->caches().Usage()) {
                               if (pool.name == "window") most = std::max(most, pool.used);
                             }
                             sink(std::move(event));
                           })
                  .ok());
  ASSERT_TRUE(collector.WaitFor(1));
  EXPECT_EQ(collector.Get("long").tokens.at(0).size(), 20u * kWindow);
  EXPECT_GT(most, 0);
  EXPECT_LE(most, bound);
}

TEST_F(EngineTest, SameSeedSameSamplesAloneOrBatched) {
  auto engine = MakeEngine(Roomy());
  GenerateRequest r;
  r.prompt = testing::RandomTokens(7, 256, 3);
  r.sampling.temperature = 1.0f;
  r.sampling.top_p = 0.9f;
  r.sampling.seed = 1234;
  r.stopping.max_new_tokens = 20;
  r.stopping.ignore_eos = true;
  Result first = RunAlone(*engine, {r})[0];
  Result second = RunAlone(*engine, {r})[0];
  EXPECT_EQ(first.tokens.at(0), second.tokens.at(0));

  Collector collector;
  for (int i = 0; i < 8; ++i) {
    GenerateRequest other = r;
    other.sampling.seed = i == 3 ? 1234 : 99 + i;
    ASSERT_TRUE(engine->Submit(other, collector.SinkFor(std::to_string(i))).ok());
  }
  ASSERT_TRUE(collector.WaitFor(8));
  EXPECT_EQ(collector.Get("3").tokens.at(0), first.tokens.at(0));
  EXPECT_NE(collector.Get("4").tokens.at(0), first.tokens.at(0));
}

TEST_F(EngineTest, StopStringsAcrossTokensAreCutAndNeverReturned) {
  auto engine = MakeEngine(Roomy());
  GenerateRequest r = Greedy(testing::RandomTokens(6, 256, 8), 40);
  r.prompt = {'T', 'h', 'e', ' '};
  r.sampling.temperature = 1.0f;
  r.sampling.seed = 77;
  r.sampling.top_k = 20;  // stays mostly within printable bytes? not needed: any bytes work
  Result full = RunAlone(*engine, {r})[0];
  const std::string text = full.text.at(0);
  ASSERT_GE(text.size(), 8u) << "the byte model produced too little text to test with";
  // A stop string made of three bytes from the middle: it spans three tokens.
  const std::string stop = text.substr(4, 3);
  r.stopping.stop_strings = {stop};
  Result stopped = RunAlone(*engine, {r})[0];
  EXPECT_EQ(stopped.reasons.at(0), FinishReason::kStop);
  EXPECT_EQ(stopped.text.at(0), text.substr(0, text.find(stop)));
  EXPECT_EQ(stopped.text.at(0).find(stop), std::string::npos);
}

TEST_F(EngineTest, SamplesShareThePromptAndMatchSingleRequests) {
  auto engine = MakeEngine(Roomy());
  GenerateRequest r;
  r.prompt = testing::RandomTokens(3 * kWindow, 256, 5);
  r.sampling.temperature = 1.0f;
  r.sampling.seed = 500;
  r.stopping.max_new_tokens = 12;
  r.stopping.ignore_eos = true;
  r.num_samples = 4;
  Result together = RunAlone(*engine, {r})[0];
  ASSERT_EQ(together.tokens.size(), 4u);
  for (int i = 0; i < 4; ++i) {
    GenerateRequest single = r;
    single.num_samples = 1;
    single.sampling.seed = 500 + i;
    Result alone = RunAlone(*engine, {single})[0];
    EXPECT_EQ(together.tokens.at(i), alone.tokens.at(0)) << "sample " << i;
  }
  EXPECT_NE(together.tokens.at(0), together.tokens.at(1));
}

TEST_F(EngineTest, PromptLogprobsMatchTheWholeSequenceReference) {
  auto engine = MakeEngine(Roomy());
  std::vector<int32_t> prompt = testing::RandomTokens(3 * kWindow + 5, 256, 9);
  GenerateRequest r = Greedy(prompt, 1);
  r.prompt_logprobs = true;
  EngineOptions options = Roomy();
  options.max_tokens_per_step = 7;  // the prompt arrives in several chunks
  auto chunked = MakeEngine(options);
  Result result = RunAlone(*chunked, {r})[0];
  ASSERT_EQ(result.prompt_logprobs.size(), prompt.size() - 1);

  auto checkpoint = model::Checkpoint::Open(dir_.path());
  auto backend = cpu::CpuBackend::Create(**checkpoint);
  std::vector<float> whole = testing::WholeSequenceLogits(**backend, prompt);
  const int vocab = config_.vocab_size;
  for (size_t p = 1; p < prompt.size(); ++p) {
    TokenLogprob want =
        LogprobOf(std::span<const float>(whole.data() + (p - 1) * vocab, vocab), prompt[p], 0);
    EXPECT_EQ(result.prompt_logprobs[p - 1].token, prompt[p]);
    EXPECT_NEAR(result.prompt_logprobs[p - 1].logprob, want.logprob, 1e-5) << "position " << p;
  }
}

TEST_F(EngineTest, RefusesBadRequestsNamingTheField) {
  auto engine = MakeEngine(Roomy());
  auto check = [&](GenerateRequest r, absl::StatusCode code, const std::string& field) {
    auto id = engine->Submit(r, nullptr);
    ASSERT_FALSE(id.ok()) << field;
    EXPECT_EQ(id.status().code(), code) << id.status();
    EXPECT_NE(id.status().message().find(field), absl::string_view::npos) << id.status();
  };
  GenerateRequest good = Greedy({1, 2, 3}, 4);
  GenerateRequest r = good;
  r.prompt.clear();
  check(r, absl::StatusCode::kInvalidArgument, "prompt");
  r = good;
  r.prompt[1] = config_.vocab_size;
  check(r, absl::StatusCode::kInvalidArgument, "prompt token 1");
  r = good;
  r.stopping.max_new_tokens = 0;
  check(r, absl::StatusCode::kInvalidArgument, "max_new_tokens");
  r = good;
  r.stopping.max_new_tokens = config_.max_position_embeddings;
  check(r, absl::StatusCode::kInvalidArgument, "context");
  r = good;
  r.num_samples = 17;
  check(r, absl::StatusCode::kInvalidArgument, "n must be");
  r = good;
  r.top_logprobs = 21;
  check(r, absl::StatusCode::kInvalidArgument, "logprobs");
  r = good;
  r.sampling.top_p = std::numeric_limits<float>::quiet_NaN();
  check(r, absl::StatusCode::kInvalidArgument, "top_p");
  r = good;
  r.stopping.stop_strings = {"ok", ""};
  check(r, absl::StatusCode::kInvalidArgument, "stop[1]");
  r = good;
  r.stopping.stop_strings.assign(33, "x");
  check(r, absl::StatusCode::kInvalidArgument, "stop");

  r = good;
  r.id = "dup";
  r.stopping.max_new_tokens = 200;
  Collector collector;
  ASSERT_TRUE(engine->Submit(r, collector.SinkFor("dup")).ok());
  check(r, absl::StatusCode::kAlreadyExists, "dup");
  EXPECT_EQ(engine->Cancel("no-such-request").code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(engine->Cancel("dup").ok());
  ASSERT_TRUE(collector.WaitFor(1));
  EXPECT_EQ(collector.Get("dup").reasons.at(0), FinishReason::kCancelled);
}

TEST_F(EngineTest, RefusesWhenTheQueueIsFull) {
  EngineOptions options = Roomy();
  options.max_waiting = 3;
  options.cache.global_blocks = 4;  // one short request runs at a time
  options.cache.window_blocks = 16;
  options.cache.rla_slots = 1;
  auto engine = MakeEngine(options);
  Collector collector;
  int accepted = 0, refused = 0;
  for (int i = 0; i < 30; ++i) {
    auto id = engine->Submit(Greedy({1, 2}, 10), collector.SinkFor(std::to_string(i)));
    if (id.ok()) {
      ++accepted;
    } else {
      EXPECT_EQ(id.status().code(), absl::StatusCode::kResourceExhausted);
      ++refused;
    }
  }
  EXPECT_GT(refused, 0);
  ASSERT_TRUE(collector.WaitFor(accepted));
}

}  // namespace
}  // namespace rattn::engine
