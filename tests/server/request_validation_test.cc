// Every invalid request the API can receive is answered with the right status code and a message
// that names the field, and leaves the server serving.
#include <cmath>
#include <functional>
#include <limits>

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
      {"more samples than the caches can ever hold",
       [](auto& r) {
         r.set_n(16);
         r.mutable_stopping()->set_max_new_tokens(2000);
       },
       grpc::StatusCode::RESOURCE_EXHAUSTED, ""},
  };
}

TEST(RequestValidationTest, EveryInvalidRequestGetsItsCodeAndNamesTheField) {
  server::ServerOptions options = LocalServerOptions();
  options.memory_budget.bytes = int64_t{4} << 20;  // small, so that the last case cannot fit
  TestServer t(options);
  const std::vector<InvalidCase> cases = InvalidCases();
  ASSERT_GE(cases.size(), 25u);
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
  // The server is unharmed: a valid request still runs, and nothing leaked.
  StreamResult ok = RunStream(t.stub(), GreedyRequest({1, 2, 3}, 4));
  EXPECT_TRUE(ok.status.ok()) << ok.status.error_message();
  EXPECT_TRUE(t.WaitUntilIdle());
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
}

}  // namespace
}  // namespace rattn::testing
