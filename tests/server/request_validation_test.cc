// Every invalid request the API can receive is answered with the right status code and a message
// that names the field, and leaves the server serving.
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <limits>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/server_test_util.h"

namespace rattn::testing {
namespace {

using ::testing::HasSubstr;

struct InvalidCase {
  std::string name;
  std::function<void(pb::GenerateRequest&)> mutate;
  grpc::StatusCode code;
  std::string field;  // a substring of the message
};

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

std::vector<InvalidCase> InvalidCases() {
  const grpc::StatusCode kInvalid = grpc::StatusCode::INVALID_ARGUMENT;
  return {
      {"no prompt", [](auto& r) { r.clear_prompt(); }, kInvalid, "prompt"},
      {"empty token ids", [](auto& r) { r.mutable_token_ids()->clear_ids(); }, kInvalid,
       "token_ids"},
      {"empty text without bos",
       [](auto& r) {
         r.set_text("");
         r.set_add_bos(false);
       },
       kInvalid, "text"},
      {"negative token id", [](auto& r) { r.mutable_token_ids()->set_ids(1, -5); }, kInvalid,
       "prompt token 1"},
      {"token id past the vocabulary", [](auto& r) { r.mutable_token_ids()->set_ids(0, 300); },
       kInvalid, "vocabulary"},
      {"temperature NaN", [](auto& r) { r.mutable_sampling()->set_temperature(kNaN); }, kInvalid,
       "temperature"},
      {"temperature infinite", [](auto& r) { r.mutable_sampling()->set_temperature(kInf); },
       kInvalid, "temperature"},
      {"temperature negative", [](auto& r) { r.mutable_sampling()->set_temperature(-0.5f); },
       kInvalid, "temperature"},
      {"top_p zero", [](auto& r) { r.mutable_sampling()->set_top_p(0.0f); }, kInvalid, "top_p"},
      {"top_p above one", [](auto& r) { r.mutable_sampling()->set_top_p(1.5f); }, kInvalid,
       "top_p"},
      {"top_p NaN", [](auto& r) { r.mutable_sampling()->set_top_p(kNaN); }, kInvalid, "top_p"},
      {"top_k negative", [](auto& r) { r.mutable_sampling()->set_top_k(-1); }, kInvalid, "top_k"},
      {"top_k past the vocabulary", [](auto& r) { r.mutable_sampling()->set_top_k(301); }, kInvalid,
       "top_k"},
      {"min_p above one", [](auto& r) { r.mutable_sampling()->set_min_p(2.0f); }, kInvalid,
       "min_p"},
      {"min_p NaN", [](auto& r) { r.mutable_sampling()->set_min_p(kNaN); }, kInvalid, "min_p"},
      {"repetition_penalty zero",
       [](auto& r) { r.mutable_sampling()->set_repetition_penalty(0.0f); }, kInvalid,
       "repetition_penalty"},
      {"presence_penalty infinite",
       [](auto& r) { r.mutable_sampling()->set_presence_penalty(-kInf); }, kInvalid,
       "presence_penalty"},
      {"frequency_penalty NaN", [](auto& r) { r.mutable_sampling()->set_frequency_penalty(kNaN); },
       kInvalid, "frequency_penalty"},
      {"max_new_tokens zero", [](auto& r) { r.mutable_stopping()->set_max_new_tokens(0); },
       kInvalid, "max_new_tokens"},
      {"prompt plus max_new_tokens past the context",
       [](auto& r) { r.mutable_stopping()->set_max_new_tokens(2046); }, kInvalid, "max_new_tokens"},
      {"max_new_tokens past int32",
       [](auto& r) { r.mutable_stopping()->set_max_new_tokens(3'000'000'000u); }, kInvalid,
       "max_new_tokens"},
      {"n too large", [](auto& r) { r.set_n(17); }, kInvalid, "n must be"},
      {"n past int32", [](auto& r) { r.set_n(4'000'000'000u); }, kInvalid, "n:"},
      {"top_logprobs above 20", [](auto& r) { r.mutable_logprobs()->set_top_logprobs(21); },
       kInvalid, "logprobs"},
      {"too many stop strings",
       [](auto& r) {
         for (int i = 0; i < 33; ++i) r.mutable_stopping()->add_stop("s" + std::to_string(i));
       },
       kInvalid, "stop"},
      {"empty stop string", [](auto& r) { r.mutable_stopping()->add_stop(""); }, kInvalid,
       "stop[0]"},
      {"stop string too long",
       [](auto& r) { r.mutable_stopping()->add_stop(std::string(600, 'x')); }, kInvalid, "stop[0]"},
      {"stop token id past the vocabulary",
       [](auto& r) { r.mutable_stopping()->add_stop_token_ids(1000); }, kInvalid, "stop_token_ids"},
      {"request id with a space", [](auto& r) { r.set_request_id("my request"); }, kInvalid,
       "request_id"},
      {"request id too long", [](auto& r) { r.set_request_id(std::string(200, 'a')); }, kInvalid,
       "request_id"},
      // Issue #7's list: each limit at its cap + 1 and far past it, and the edges of each type.
      {"n at 10^6", [](auto& r) { r.set_n(1'000'000); }, kInvalid, "n must be"},
      {"top_logprobs at 10^6", [](auto& r) { r.mutable_logprobs()->set_top_logprobs(1'000'000); },
       kInvalid, "logprobs"},
      {"max_new_tokens at 2^31",
       [](auto& r) { r.mutable_stopping()->set_max_new_tokens(2'147'483'648u); }, kInvalid,
       "max_new_tokens"},
      {"prompt alone longer than the context",
       [](auto& r) {
         r.mutable_token_ids()->clear_ids();
         for (int i = 0; i < 2049; ++i) r.mutable_token_ids()->add_ids(5);
       },
       kInvalid, "context"},
      {"token id -1", [](auto& r) { r.mutable_token_ids()->set_ids(2, -1); }, kInvalid,
       "prompt token 2"},
      {"token id equal to the vocabulary size",
       [](auto& r) { r.mutable_token_ids()->set_ids(0, 300); }, kInvalid, "prompt token 0"},
      {"token id INT32_MAX",
       [](auto& r) { r.mutable_token_ids()->set_ids(1, std::numeric_limits<int32_t>::max()); },
       kInvalid, "prompt token 1"},
      {"top_k far past the vocabulary",
       [](auto& r) { r.mutable_sampling()->set_top_k(std::numeric_limits<int32_t>::max()); },
       kInvalid, "top_k"},
      {"temperature past its maximum",
       [](auto& r) { r.mutable_sampling()->set_temperature(1e30f); }, kInvalid, "temperature"},
      {"top_p infinite", [](auto& r) { r.mutable_sampling()->set_top_p(kInf); }, kInvalid, "top_p"},
      {"min_p negative", [](auto& r) { r.mutable_sampling()->set_min_p(-0.1f); }, kInvalid,
       "min_p"},
      {"min_p infinite", [](auto& r) { r.mutable_sampling()->set_min_p(kInf); }, kInvalid, "min_p"},
      {"repetition_penalty NaN",
       [](auto& r) { r.mutable_sampling()->set_repetition_penalty(kNaN); }, kInvalid,
       "repetition_penalty"},
      {"repetition_penalty infinite",
       [](auto& r) { r.mutable_sampling()->set_repetition_penalty(kInf); }, kInvalid,
       "repetition_penalty"},
      {"presence_penalty NaN", [](auto& r) { r.mutable_sampling()->set_presence_penalty(kNaN); },
       kInvalid, "presence_penalty"},
      {"presence_penalty out of range",
       [](auto& r) { r.mutable_sampling()->set_presence_penalty(1000.0f); }, kInvalid,
       "presence_penalty"},
      {"frequency_penalty infinite",
       [](auto& r) { r.mutable_sampling()->set_frequency_penalty(kInf); }, kInvalid,
       "frequency_penalty"},
      {"frequency_penalty out of range",
       [](auto& r) { r.mutable_sampling()->set_frequency_penalty(-1000.0f); }, kInvalid,
       "frequency_penalty"},
      {"10,000 stop strings",
       [](auto& r) {
         for (int i = 0; i < 10'000; ++i) r.mutable_stopping()->add_stop("s" + std::to_string(i));
       },
       kInvalid, "stop"},
      {"a 1 MiB stop string",
       [](auto& r) { r.mutable_stopping()->add_stop(std::string(1 << 20, 'x')); }, kInvalid,
       "stop[0]"},
      {"an empty stop string after a good one",
       [](auto& r) {
         r.mutable_stopping()->add_stop("ok");
         r.mutable_stopping()->add_stop("");
       },
       kInvalid, "stop[1]"},
      {"invalid UTF-8 in the text prompt", [](auto& r) { r.set_text("ab\xff\xfe"); }, kInvalid,
       "text: is not valid UTF-8 (byte 2)"},
      {"a stop string of invalid UTF-8",
       [](auto& r) {
         r.mutable_stopping()->add_stop("fine");
         r.mutable_stopping()->add_stop("\xc3");
       },
       kInvalid, "stopping.stop[1]: is not valid UTF-8"},
      {"a request id of invalid UTF-8", [](auto& r) { r.set_request_id("id\x80"); }, kInvalid,
       "request_id: is not valid UTF-8"},
      {"more samples than the caches can ever hold",
       [](auto& r) {
         r.set_n(16);
         r.mutable_stopping()->set_max_new_tokens(2000);
       },
       grpc::StatusCode::RESOURCE_EXHAUSTED, ""},
  };
}

// Resident memory of this process (server and client together), from /proc/self/statm, after
// handing the allocator's free pages back to the system so that only memory in use counts.
int64_t ResidentBytes() {
  malloc_trim(0);
  std::ifstream statm("/proc/self/statm");
  int64_t pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * sysconf(_SC_PAGESIZE);
}

// Sends every invalid case on both generation methods and checks each answer.
void SendInvalidCases(TestServer& t, const std::vector<InvalidCase>& cases) {
  for (const InvalidCase& c : cases) {
    SCOPED_TRACE(c.name);
    pb::GenerateRequest request = GreedyRequest({1, 2, 3}, 4);
    c.mutate(request);
    StreamResult stream = RunStream(t.stub(), request);
    EXPECT_EQ(stream.status.error_code(), c.code) << stream.status.error_message();
    EXPECT_THAT(stream.status.error_message(), HasSubstr(c.field));
    EXPECT_EQ(stream.responses, 0);

    grpc::ClientContext context;
    pb::GenerateResult result;
    grpc::Status unary = t.stub().GenerateUnary(&context, request, &result);
    EXPECT_EQ(unary.error_code(), c.code);
    EXPECT_THAT(unary.error_message(), HasSubstr(c.field));
  }
}

TEST(RequestValidationTest, EveryInvalidRequestGetsItsCodeAndNamesTheField) {
  server::ServerOptions options = LocalServerOptions();
  options.memory_budget.bytes = int64_t{4} << 20;  // small, so that the last case cannot fit
  TestServer t(options);
  const std::vector<InvalidCase> cases = InvalidCases();
  ASSERT_GE(cases.size(), 40u);

  // A valid request runs alone, then again while the invalid ones arrive: same tokens.
  const pb::GenerateRequest valid = GreedyRequest(RandomTokens(24, 256, 5), 300);
  StreamResult alone = RunStream(t.stub(), valid);
  ASSERT_TRUE(alone.status.ok()) << alone.status.error_message();
  StreamResult beside;
  std::thread neighbour([&] { beside = RunStream(t.stub(), valid); });
  SendInvalidCases(t, cases);
  neighbour.join();
  ASSERT_TRUE(beside.status.ok()) << beside.status.error_message();
  EXPECT_EQ(beside.tokens, alone.tokens);

  // Refusals hold no memory: resident size after more rounds stays where the first rounds
  // left it. The smaller of two readings at each end, so that a buffer a gRPC thread happens to
  // hold at one reading does not count; a leak raises both.
  std::vector<int64_t> resident;
  for (int round = 0; round < 6; ++round) {
    SendInvalidCases(t, cases);
    resident.push_back(ResidentBytes());
  }
  const int64_t growth = std::min(resident[4], resident[5]) - std::min(resident[0], resident[1]);
  std::printf("resident memory growth over 4 more rounds of %zu refusals: %.2f MiB\n",
              2 * cases.size(), growth / 1048576.0);
#if !defined(__SANITIZE_ADDRESS__)  // ASan's quarantine holds freed memory on purpose
  EXPECT_LT(growth, int64_t{8} << 20);
#endif

  // The server is unharmed: a valid request still runs, and nothing leaked.
  StreamResult ok = RunStream(t.stub(), GreedyRequest({1, 2, 3}, 4));
  EXPECT_TRUE(ok.status.ok()) << ok.status.error_message();
  EXPECT_TRUE(t.WaitUntilIdle());
}

TEST(RequestValidationTest, AMessageOverTheSizeLimitIsRefused) {
  server::ServerOptions options = LocalServerOptions();
  options.max_message_bytes = 64 << 10;
  TestServer t(options);
  // Pad a stop string until the serialized request is one byte over the limit.
  pb::GenerateRequest request = GreedyRequest({1, 2, 3}, 4);
  request.mutable_stopping()->add_stop("");
  const size_t limit = static_cast<size_t>(options.max_message_bytes);
  std::string pad(limit + 1 - request.ByteSizeLong(), 'x');
  request.mutable_stopping()->set_stop(0, pad);
  while (request.ByteSizeLong() > limit + 1) {
    pad.pop_back();
    request.mutable_stopping()->set_stop(0, pad);
  }
  ASSERT_EQ(request.ByteSizeLong(), limit + 1);
  StreamResult stream = RunStream(t.stub(), request);
  EXPECT_EQ(stream.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(stream.status.error_message(), HasSubstr("larger than max"));
  // One byte less is read (and then refused for its stop string's length, as a field).
  pad.pop_back();
  request.mutable_stopping()->set_stop(0, pad);
  StreamResult smaller = RunStream(t.stub(), request);
  EXPECT_EQ(smaller.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(smaller.status.error_message(), HasSubstr("stop[0]"));
  EXPECT_TRUE(RunStream(t.stub(), GreedyRequest({1, 2, 3}, 4)).status.ok());
}

TEST(RequestValidationTest, OtherMethodsValidateTheirFields) {
  TestServer t;
  {
    grpc::ClientContext context;
    pb::AbortRequest abort;
    pb::AbortResponse response;
    grpc::Status s = t.stub().Abort(&context, abort, &response);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(s.error_message(), HasSubstr("request_id"));
  }
  {
    grpc::ClientContext context;
    pb::DetokenizeRequest detokenize;
    detokenize.add_token_ids(65);
    detokenize.add_token_ids(-1);
    pb::DetokenizeResponse response;
    grpc::Status s = t.stub().Detokenize(&context, detokenize, &response);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(s.error_message(), HasSubstr("token_ids[1]"));
  }
  {
    grpc::ClientContext context;
    pb::AbortRequest abort;
    abort.set_request_id("no-such-request");
    pb::AbortResponse response;
    grpc::Status s = t.stub().Abort(&context, abort, &response);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
    EXPECT_THAT(s.error_message(), HasSubstr("no-such-request"));
  }
  {
    grpc::ClientContext context;
    pb::TokenizeRequest tokenize;
    tokenize.set_text("caf\xc3");
    pb::TokenizeResponse response;
    grpc::Status s = t.stub().Tokenize(&context, tokenize, &response);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(s.error_message(), HasSubstr("text: is not valid UTF-8 (byte 3)"));
  }
}

}  // namespace
}  // namespace rattn::testing
