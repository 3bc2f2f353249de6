// The server under cancellation and overload, end to end over a localhost socket:
//   - 500 requests cancelled at random points (deadlines that expire while queued or in
//     prefill, client cancels after k tokens, cancels one token before the end, Abort by id)
//     and rattn-cli processes killed mid-stream, around requests that run to the end: every
//     pool reads zero in use afterwards, and each undisturbed request returns exactly the tokens
//     it returns when nothing else happens;
//   - a burst of ten times the queue limit: the excess is refused with RESOURCE_EXHAUSTED within
//     a bound (10 ms; 30 ms under sanitizers), nothing hangs, and the accepted requests complete.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tests/server/server_test_util.h"

extern char** environ;

namespace rattn::testing {
namespace {

using Clock = std::chrono::steady_clock;

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr double kRefusalBoundMs = 30;  // sanitizers slow every call down several times
#else
constexpr double kRefusalBoundMs = 10;
#endif

std::vector<int32_t> Prompt(int length, uint64_t seed) { return RandomTokens(length, 256, seed); }

// Runs `work(i)` for i in [0, count) on `threads` threads.
template <typename Work>
void RunOnThreads(int count, int threads, Work work) {
  std::atomic<int> next{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      for (int i = next++; i < count; i = next++) work(i);
    });
  }
  for (std::thread& thread : pool) thread.join();
}

// A rattn-cli process streaming a long generation from the server; killed with SIGKILL.
pid_t SpawnStreamingClient(int port, int seed) {
  std::vector<std::string> args = {RATTN_CLI_PATH,
                                   "generate",
                                   "--target=127.0.0.1:" + std::to_string(port),
                                   "--token_ids",
                                   "--temperature=0",
                                   "--ignore_eos",
                                   "--max_new_tokens=100000",
                                   "1,2,3," + std::to_string(seed % 200 + 4)};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  const int error = posix_spawn(&pid, RATTN_CLI_PATH, &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  EXPECT_EQ(error, 0) << "cannot start " << RATTN_CLI_PATH;
  return error == 0 ? pid : -1;
}

enum class CancelKind { kDeadline, kAfterTokens, kOneBeforeTheEnd, kAbortById };

TEST(RobustnessTest, CancellationsAtRandomPointsFreeEverythingAndSpareTheOthers) {
  server::ServerOptions options = LocalServerOptions();
  options.max_sequences = 12;        // so that many requests wait in the queue
  options.max_tokens_per_step = 48;  // so that long prompts take several prefill steps
  options.max_waiting = 2000;
  TestServer t(options);

  // The requests that must come through unharmed, first with nothing else going on.
  constexpr int kKept = 40;
  std::mt19937 random(7);
  std::vector<pb::GenerateRequest> kept;
  for (int i = 0; i < kKept; ++i) {
    const int prompt = std::uniform_int_distribution<int>(1, 120)(random);
    const int output = std::uniform_int_distribution<int>(1, 40)(random);
    kept.push_back(GreedyRequest(Prompt(prompt, 1000 + i), output));
  }
  std::vector<StreamResult> undisturbed(kKept);
  RunOnThreads(kKept, 8, [&](int i) { undisturbed[i] = RunStream(t.stub(), kept[i]); });
  for (int i = 0; i < kKept; ++i) ASSERT_TRUE(undisturbed[i].status.ok()) << i;
  ASSERT_TRUE(t.WaitUntilIdle());

  // The same requests again among 500 that are cancelled, and killed client processes.
  constexpr int kCancelled = 500;
  struct Job {
    bool keep = false;
    int index = 0;
    CancelKind kind = CancelKind::kDeadline;
    int param = 0;  // deadline in ms, or tokens before the cancel
    pb::GenerateRequest request;
  };
  std::vector<Job> jobs;
  for (int i = 0; i < kKept; ++i) jobs.push_back({true, i, CancelKind::kDeadline, 0, kept[i]});
  for (int i = 0; i < kCancelled; ++i) {
    Job job;
    job.index = i;
    job.kind = static_cast<CancelKind>(i % 4);
    const int prompt = std::uniform_int_distribution<int>(1, 200)(random);
    const int output = std::uniform_int_distribution<int>(2, 60)(random);
    job.request = GreedyRequest(Prompt(prompt, 5000 + i), output);
    job.request.set_request_id("cancel-" + std::to_string(i));
    if (job.kind == CancelKind::kDeadline) {
      job.param = std::uniform_int_distribution<int>(0, 40)(random);
    } else if (job.kind == CancelKind::kAfterTokens) {
      job.param = std::uniform_int_distribution<int>(1, output - 1)(random);
    }
    jobs.push_back(job);
  }
  std::shuffle(jobs.begin(), jobs.end(), random);

  std::vector<pid_t> killed;
  std::thread killer([&] {
    for (int k = 0; k < 10; ++k) {
      const pid_t pid = SpawnStreamingClient(t.server().port(), k);
      if (pid < 0) continue;
      std::this_thread::sleep_for(std::chrono::milliseconds(300 + 50 * k));
      kill(pid, SIGKILL);
      killed.push_back(pid);
    }
  });

  std::mutex mutex;
  std::vector<StreamResult> disturbed(kKept);
  std::map<grpc::StatusCode, int> cancelled_codes;
  std::map<std::string, int> cancelled_at;  // where the cancels landed, by tokens received
  int aborts_seen = 0;
  RunOnThreads(static_cast<int>(jobs.size()), 24, [&](int j) {
    const Job& job = jobs[j];
    if (job.keep) {
      StreamResult r = RunStream(t.stub(), job.request);
      std::lock_guard<std::mutex> lock(mutex);
      disturbed[job.index] = std::move(r);
      return;
    }
    const uint32_t output = job.request.stopping().max_new_tokens();
    int received = 0;
    std::optional<std::chrono::milliseconds> deadline;
    if (job.kind == CancelKind::kDeadline) deadline = std::chrono::milliseconds(job.param);
    StreamResult r =
        RunStream(t.stub(), job.request, deadline,
                  [&](const pb::GenerateResponse& response, grpc::ClientContext& context) {
                    if (!response.has_chunk()) return;
                    received += response.chunk().token_ids_size();
                    if (job.kind == CancelKind::kAfterTokens && received >= job.param)
                      context.TryCancel();
                    if (job.kind == CancelKind::kOneBeforeTheEnd && received + 1 >= int(output)) {
                      context.TryCancel();
                    }
                    if (job.kind == CancelKind::kAbortById && received >= 1) {
                      grpc::ClientContext abort_context;
                      pb::AbortRequest abort;
                      abort.set_request_id(response.request_id());
                      pb::AbortResponse ignored;
                      // NOT_FOUND when the request ended on its own meanwhile.
                      t.stub().Abort(&abort_context, abort, &ignored);
                    }
                  });
    std::lock_guard<std::mutex> lock(mutex);
    ++cancelled_codes[r.status.error_code()];
    if (job.kind == CancelKind::kAbortById) {
      // Abort ends the stream itself: OK, its completion saying CANCELLED (LENGTH where the
      // request ended before the Abort arrived).
      EXPECT_TRUE(r.status.ok()) << r.status.error_message();
      const bool aborted = !r.completions.empty() &&
                           r.completions.back().finish_reason() == pb::FINISH_REASON_CANCELLED;
      aborts_seen += aborted ? 1 : 0;
      if (!aborted && !r.completions.empty()) {
        EXPECT_EQ(r.completions.back().finish_reason(), pb::FINISH_REASON_LENGTH);
      }
    }
    const std::string where = received == 0                 ? "before any token"
                              : received + 1 >= int(output) ? "at the last token"
                                                            : "mid-decode";
    ++cancelled_at[where];
  });
  killer.join();
  for (pid_t pid : killed) waitpid(pid, nullptr, 0);

  EXPECT_TRUE(t.WaitUntilIdle(30)) << "pools still in use after every request ended";
  for (int i = 0; i < kKept; ++i) {
    ASSERT_TRUE(disturbed[i].status.ok()) << i << ": " << disturbed[i].status.error_message();
    EXPECT_EQ(disturbed[i].tokens, undisturbed[i].tokens) << "request " << i;
  }
  std::string codes;
  for (const auto& [code, count] : cancelled_codes) {
    codes += " code " + std::to_string(code) + ": " + std::to_string(count);
    // Cancelled, expired or aborted; OK only where the request finished before its cancel.
    EXPECT_TRUE(code == grpc::StatusCode::CANCELLED ||
                code == grpc::StatusCode::DEADLINE_EXCEEDED || code == grpc::StatusCode::OK)
        << "unexpected status code " << code;
  }
  EXPECT_GE(cancelled_codes[grpc::StatusCode::CANCELLED], kCancelled / 4) << codes;
  EXPECT_GT(aborts_seen, kCancelled / 8) << "requests ended by Abort";
  EXPECT_EQ(killed.size(), 10u);
  std::string where;
  for (const auto& [place, count] : cancelled_at)
    where += " " + place + ": " + std::to_string(count);
  RecordProperty("cancel_codes", codes);
  RecordProperty("cancel_points", where);
  std::printf("cancelled requests by status:%s\ncancel points:%s\n", codes.c_str(), where.c_str());
  EXPECT_GT(cancelled_at["before any token"], 0) << where;
  EXPECT_GT(cancelled_at["mid-decode"], 0) << where;
  EXPECT_GT(cancelled_at["at the last token"], 0) << where;
}

TEST(RobustnessTest, ABurstOfTenTimesTheQueueIsRefusedFastAndTheRestComplete) {
  constexpr int kQueue = 4;
  constexpr int kBurst = 10 * kQueue;
  server::ServerOptions options = LocalServerOptions();
  options.max_waiting = kQueue;
  options.max_sequences = 4;
  TestServer t(options);
  // One request holds the engine inside a step, so the queue cannot drain during the burst.
  t.gate().Close();
  StreamResult first;
  std::thread holder([&] { first = RunStream(t.stub(), GreedyRequest(Prompt(8, 1), 8)); });
  t.gate().WaitUntilHeld();

  // The burst leaves from one thread through the asynchronous API, so that what is timed is
  // the server's answer rather than the scheduling of many client threads on few cores.
  struct Call {
    grpc::ClientContext context;
    std::unique_ptr<grpc::ClientAsyncReader<pb::GenerateResponse>> reader;
    pb::GenerateResponse response;
    grpc::Status status;
    Clock::time_point start;
    double ms = 0;
    int tokens = 0;
  };
  enum Op : uintptr_t { kStarted = 0, kRead = 1, kFinished = 2 };
  auto tag = [](int call, Op op) { return reinterpret_cast<void*>((uintptr_t(call) << 2) | op); };
  grpc::CompletionQueue queue;
  std::vector<std::unique_ptr<Call>> calls;
  std::vector<pb::GenerateRequest> requests;
  for (int i = 0; i < kBurst; ++i) {
    requests.push_back(GreedyRequest(Prompt(16, 100 + i), 8));
    calls.push_back(std::make_unique<Call>());
    calls.back()->context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  }
  // Answers are taken as they come, on a thread of their own, while the burst is still leaving.
  bool opened = false;
  std::thread drainer([&] {
    int finished = 0;
    while (finished < kBurst) {
      void* got = nullptr;
      bool ok = false;
      if (!queue.Next(&got, &ok)) return;
      const int i = static_cast<int>(reinterpret_cast<uintptr_t>(got) >> 2);
      const Op op = static_cast<Op>(reinterpret_cast<uintptr_t>(got) & 3);
      Call& call = *calls[i];
      if (op == kRead && ok && call.response.has_chunk()) {
        call.tokens += call.response.chunk().token_ids_size();
      }
      if ((op == kStarted || op == kRead) && ok) {
        call.reader->Read(&call.response, tag(i, kRead));
      } else if (op != kFinished) {
        call.reader->Finish(&call.status, tag(i, kFinished));
      } else {
        call.ms = std::chrono::duration<double, std::milli>(Clock::now() - call.start).count();
        ++finished;
      }
      // Once every refusal is in, only the accepted are left: let the engine go on.
      if (!opened && finished == kBurst - kQueue) {
        opened = true;
        t.gate().Open();
      }
    }
  });
  for (int i = 0; i < kBurst; ++i) {
    Call& call = *calls[i];
    call.reader = t.stub().PrepareAsyncGenerate(&call.context, requests[i], &queue);
    call.start = Clock::now();
    call.reader->StartCall(tag(i, kStarted));
  }
  drainer.join();
  if (!opened) t.gate().Open();
  queue.Shutdown();
  holder.join();
  ASSERT_TRUE(first.status.ok());

  int refused = 0, completed = 0;
  double worst_refusal = 0;
  std::vector<double> refusal_ms;
  for (const auto& call : calls) {
    if (call->status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
      ++refused;
      refusal_ms.push_back(call->ms);
      worst_refusal = std::max(worst_refusal, call->ms);
    } else {
      EXPECT_TRUE(call->status.ok()) << call->status.error_message();
      EXPECT_EQ(call->tokens, 8);
      ++completed;
    }
  }
  std::sort(refusal_ms.begin(), refusal_ms.end());
  if (!refusal_ms.empty()) std::printf("fastest refusal %.2f ms\n", refusal_ms.front());
  std::printf(
      "burst of %d with a queue of %d: %d refused (median %.2f ms, worst %.2f ms), %d "
      "completed\n",
      kBurst, kQueue, refused, refusal_ms.empty() ? 0.0 : refusal_ms[refusal_ms.size() / 2],
      worst_refusal, completed);
  EXPECT_EQ(completed, kQueue) << "exactly the queue's worth is accepted while the engine is held";
  EXPECT_EQ(refused, kBurst - kQueue);
  EXPECT_LT(worst_refusal, kRefusalBoundMs) << "a refusal took " << worst_refusal << " ms";
  EXPECT_TRUE(t.WaitUntilIdle());
}

}  // namespace
}  // namespace rattn::testing
