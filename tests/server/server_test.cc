// End-to-end tests of the server over a real localhost socket: generation (streaming and
// unary), abort, deadlines and cancellation, n > 1, logprobs, health, drain and admission.
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/server/server_test_util.h"

namespace rattn::testing {
namespace {

using ::testing::HasSubstr;

std::vector<int32_t> Prompt(int length, uint64_t seed) { return RandomTokens(length, 256, seed); }

using HealthStatus = grpc::health::v1::HealthCheckResponse::ServingStatus;
constexpr HealthStatus kServing = grpc::health::v1::HealthCheckResponse::SERVING;
constexpr HealthStatus kNotServing = grpc::health::v1::HealthCheckResponse::NOT_SERVING;

// The health status of the whole server, through the standard service's Check method.
HealthStatus HealthOf(TestServer& t) {
  auto stub = grpc::health::v1::Health::NewStub(t.channel());
  grpc::ClientContext context;
  grpc::health::v1::HealthCheckResponse response;
  grpc::Status call = stub->Check(&context, grpc::health::v1::HealthCheckRequest(), &response);
  EXPECT_TRUE(call.ok()) << call.error_message();
  return response.status();
}

TEST(ServerTest, StreamingAndUnaryGiveTheSameTokens) {
  TestServer t;
  const pb::GenerateRequest request = GreedyRequest(Prompt(37, 1), 20);
  StreamResult stream = RunStream(t.stub(), request);
  ASSERT_TRUE(stream.status.ok()) << stream.status.error_message();
  ASSERT_EQ(stream.tokens.size(), 1u);
  EXPECT_EQ(stream.tokens[0].size(), 20u);
  ASSERT_EQ(stream.completions.size(), 1u);
  const pb::Completion& completion = stream.completions[0];
  EXPECT_EQ(completion.finish_reason(), pb::FINISH_REASON_LENGTH);
  EXPECT_EQ(completion.prompt_tokens(), 37u);
  EXPECT_EQ(completion.completion_tokens(), 20u);
  EXPECT_GT(completion.timings().total_seconds(), 0);
  EXPECT_GE(completion.timings().total_seconds(),
            completion.timings().time_to_first_token_seconds());
  EXPECT_GE(stream.responses, 20);  // streamed a token at a time, not gathered

  grpc::ClientContext context;
  pb::GenerateResult unary;
  grpc::Status status = t.stub().GenerateUnary(&context, request, &unary);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(unary.samples_size(), 1);
  EXPECT_EQ(std::vector<int32_t>(unary.samples(0).token_ids().begin(),
                                 unary.samples(0).token_ids().end()),
            stream.tokens[0]);
  EXPECT_EQ(unary.samples(0).text(), stream.text[0]);
  EXPECT_EQ(unary.samples(0).finish_reason(), pb::FINISH_REASON_LENGTH);
  EXPECT_EQ(unary.prompt_tokens(), 37u);
  EXPECT_TRUE(t.WaitUntilIdle());
}

TEST(ServerTest, TextPromptEncodesWithTheTokenizer) {
  TestServer t;
  pb::GenerateRequest by_text = GreedyRequest({}, 6);
  by_text.set_text("héllo");
  // The byte tokenizer: bos, then the UTF-8 bytes.
  pb::GenerateRequest by_ids = GreedyRequest({256, 'h', 0xc3, 0xa9, 'l', 'l', 'o'}, 6);
  StreamResult a = RunStream(t.stub(), by_text);
  StreamResult b = RunStream(t.stub(), by_ids);
  ASSERT_TRUE(a.status.ok() && b.status.ok());
  EXPECT_EQ(a.completions[0].prompt_tokens(), 7u);
  EXPECT_EQ(a.tokens, b.tokens);

  grpc::ClientContext context;
  pb::TokenizeRequest tokenize;
  tokenize.set_text("héllo");
  tokenize.set_add_bos(false);
  pb::TokenizeResponse ids;
  ASSERT_TRUE(t.stub().Tokenize(&context, tokenize, &ids).ok());
  EXPECT_THAT(ids.token_ids(), ::testing::ElementsAre('h', 0xc3, 0xa9, 'l', 'l', 'o'));

  grpc::ClientContext context2;
  pb::DetokenizeRequest detokenize;
  detokenize.mutable_token_ids()->Add(ids.token_ids().begin(), ids.token_ids().end());
  pb::DetokenizeResponse text;
  ASSERT_TRUE(t.stub().Detokenize(&context2, detokenize, &text).ok());
  EXPECT_EQ(text.text(), "héllo");
}

TEST(ServerTest, SamplesShareThePromptAndFollowTheirSeeds) {
  TestServer t;
  pb::GenerateRequest request = GreedyRequest(Prompt(20, 2), 12);
  request.mutable_sampling()->set_temperature(1.0f);
  request.mutable_sampling()->set_seed(77);
  request.set_n(3);
  StreamResult first = RunStream(t.stub(), request);
  StreamResult again = RunStream(t.stub(), request);
  ASSERT_TRUE(first.status.ok()) << first.status.error_message();
  ASSERT_EQ(first.tokens.size(), 3u);
  ASSERT_EQ(first.completions.size(), 3u);
  std::set<uint32_t> indices;
  for (const pb::Completion& c : first.completions) {
    indices.insert(c.index());
    EXPECT_EQ(c.completion_tokens(), 12u);
  }
  EXPECT_EQ(indices, (std::set<uint32_t>{0, 1, 2}));
  EXPECT_EQ(first.tokens, again.tokens);  // the same seed, the same samples
  // Sample i draws with seed + i: different samples, almost surely.
  EXPECT_NE(first.tokens[0], first.tokens[1]);
  EXPECT_NE(first.tokens[1], first.tokens[2]);
}

TEST(ServerTest, LogprobsAndPromptLogprobs) {
  TestServer t;
  pb::GenerateRequest request = GreedyRequest(Prompt(15, 3), 8);
  request.mutable_logprobs()->set_top_logprobs(3);
  request.mutable_logprobs()->set_prompt_logprobs(true);
  StreamResult r = RunStream(t.stub(), request);
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  ASSERT_EQ(r.logprobs[0].size(), 8u);
  for (size_t i = 0; i < 8; ++i) {
    const pb::TokenLogprob& lp = r.logprobs[0][i];
    EXPECT_EQ(lp.token_id(), r.tokens[0][i]);
    EXPECT_LE(lp.logprob(), 0.0f);
    ASSERT_EQ(lp.top_size(), 3);
    // Greedy: the chosen token is the most likely one.
    EXPECT_EQ(lp.top(0).token_id(), lp.token_id());
    EXPECT_GE(lp.top(0).logprob(), lp.top(1).logprob());
    EXPECT_GE(lp.top(1).logprob(), lp.top(2).logprob());
  }
  ASSERT_EQ(r.prompt_logprobs.size(), 14u);  // every prompt token after the first
  for (int i = 0; i < 14; ++i) {
    EXPECT_EQ(r.prompt_logprobs[i].token_id(), request.token_ids().ids(i + 1));
    EXPECT_LE(r.prompt_logprobs[i].logprob(), 0.0f);
    EXPECT_EQ(r.prompt_logprobs[i].top_size(), 3);
  }
}

TEST(ServerTest, AbortEndsARunningRequestAndFreesItsCaches) {
  TestServer t;
  pb::GenerateRequest request = GreedyRequest(Prompt(10, 4), 2000);
  request.set_request_id("abort-me");
  std::atomic<bool> aborted{false};
  StreamResult r = RunStream(t.stub(), request, std::nullopt,
                             [&](const pb::GenerateResponse& response, grpc::ClientContext&) {
                               if (!response.has_chunk() || aborted.exchange(true)) return;
                               EXPECT_EQ(response.request_id(), "abort-me");
                               grpc::ClientContext context;
                               pb::AbortRequest abort;
                               abort.set_request_id("abort-me");
                               pb::AbortResponse ignored;
                               grpc::Status s = t.stub().Abort(&context, abort, &ignored);
                               EXPECT_TRUE(s.ok()) << s.error_message();
                             });
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  ASSERT_EQ(r.completions.size(), 1u);
  EXPECT_EQ(r.completions[0].finish_reason(), pb::FINISH_REASON_CANCELLED);
  EXPECT_LT(r.completions[0].completion_tokens(), 2000u);
  EXPECT_TRUE(t.WaitUntilIdle());

  grpc::ClientContext context;
  pb::AbortRequest unknown;
  unknown.set_request_id("abort-me");
  pb::AbortResponse ignored;
  EXPECT_EQ(t.stub().Abort(&context, unknown, &ignored).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST(ServerTest, ExpiredDeadlineCancelsTheRequestInTheEngine) {
  TestServer t;
  t.gate().Close();
  std::thread opener([&] {
    t.gate().WaitUntilHeld();
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    t.gate().Open();
  });
  StreamResult r =
      RunStream(t.stub(), GreedyRequest(Prompt(10, 5), 2000), std::chrono::milliseconds(150));
  opener.join();
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_TRUE(t.WaitUntilIdle());
  EXPECT_GT(t.server().engine().Load().steps, 0);
}

TEST(ServerTest, ClientCancelFreesTheCaches) {
  TestServer t;
  StreamResult r = RunStream(t.stub(), GreedyRequest(Prompt(10, 6), 2000), std::nullopt,
                             [](const pb::GenerateResponse& response, grpc::ClientContext& c) {
                               if (response.has_chunk()) c.TryCancel();
                             });
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(t.WaitUntilIdle());
}

TEST(ServerTest, HealthTurnsNotServingWhileTheLoopStalls) {
  server::ServerOptions options = LocalServerOptions();
  options.stall_timeout = absl::Milliseconds(200);
  TestServer t(options);
  EXPECT_EQ(HealthOf(t), kServing);
  t.gate().Close();
  std::thread client([&] { RunStream(t.stub(), GreedyRequest(Prompt(5, 7), 3)); });
  t.gate().WaitUntilHeld();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (HealthOf(t) != kNotServing && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(HealthOf(t), kNotServing);
  grpc::ClientContext context;
  pb::LoadInfo load;
  ASSERT_TRUE(t.stub().GetLoad(&context, pb::GetLoadRequest(), &load).ok());
  EXPECT_FALSE(load.serving());
  EXPECT_EQ(load.running(), 1u);

  t.gate().Open();
  client.join();
  while (HealthOf(t) != kServing && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(HealthOf(t), kServing);
}

TEST(ServerTest, DrainFinishesRequestsInFlightAndRefusesNewOnes) {
  TestServer t;
  t.gate().Close();
  std::vector<StreamResult> results(3);
  std::vector<std::thread> clients;
  for (int i = 0; i < 3; ++i) {
    clients.emplace_back(
        [&, i] { results[i] = RunStream(t.stub(), GreedyRequest(Prompt(8, 10 + i), 30)); });
  }
  t.gate().WaitUntilHeld();
  // All three must be in the engine before the drain starts, or a late one is refused.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (true) {
    const engine::LoadSnapshot load = t.server().engine().Load();
    if (load.running + load.waiting == 3 || std::chrono::steady_clock::now() > deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  std::thread drain([&] { EXPECT_EQ(t.server().Drain(), 0); });
  while (t.server().serving() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(HealthOf(t), kNotServing);
  StreamResult refused = RunStream(t.stub(), GreedyRequest(Prompt(4, 20), 2));
  EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  t.gate().Open();
  for (std::thread& c : clients) c.join();
  drain.join();
  for (const StreamResult& r : results) {
    ASSERT_TRUE(r.status.ok()) << r.status.error_message();
    ASSERT_EQ(r.completions.size(), 1u);
    EXPECT_EQ(r.completions[0].finish_reason(), pb::FINISH_REASON_LENGTH);
    EXPECT_EQ(r.tokens[0].size(), 30u);
  }
}

TEST(ServerTest, ConnectionsPastMaxAgeCloseGracefully) {
  server::ServerOptions options = LocalServerOptions();
  options.max_connection_age = absl::Seconds(1);
  options.drain_timeout = absl::Seconds(20);  // the grace a call in flight gets
  TestServer t(options);
  t.gate().Close();
  StreamResult in_flight;
  std::thread client([&] { in_flight = RunStream(t.stub(), GreedyRequest(Prompt(8, 3), 10)); });
  t.gate().WaitUntilHeld();
  // The connection ages out while the call is held in the engine: the server sends GOAWAY and
  // the channel stops offering the connection for new calls.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (t.channel()->GetState(false) == GRPC_CHANNEL_READY &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_NE(t.channel()->GetState(false), GRPC_CHANNEL_READY);
  t.gate().Open();
  client.join();
  ASSERT_TRUE(in_flight.status.ok()) << in_flight.status.error_message();
  ASSERT_EQ(in_flight.tokens.size(), 1u);
  EXPECT_EQ(in_flight.tokens[0].size(), 10u);
  // A new call opens a new connection.
  StreamResult after = RunStream(t.stub(), GreedyRequest(Prompt(8, 4), 3));
  EXPECT_TRUE(after.status.ok()) << after.status.error_message();
  EXPECT_TRUE(t.WaitUntilIdle());
}

TEST(ServerTest, DrainCancelsWhatOutlivesTheTimeout) {
  server::ServerOptions options = LocalServerOptions();
  options.drain_timeout = absl::Milliseconds(100);
  TestServer t(options);
  t.gate().Close();
  StreamResult result;
  std::thread client([&] { result = RunStream(t.stub(), GreedyRequest(Prompt(8, 30), 50)); });
  t.gate().WaitUntilHeld();
  std::thread opener([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    t.gate().Open();
  });
  EXPECT_EQ(t.server().Drain(), 1);
  client.join();
  opener.join();
  ASSERT_EQ(result.completions.size(), 1u);
  EXPECT_EQ(result.completions[0].finish_reason(), pb::FINISH_REASON_CANCELLED);
}

TEST(ServerTest, FullQueueIsResourceExhaustedAndALiveIdIsTaken) {
  server::ServerOptions options = LocalServerOptions();
  options.max_waiting = 1;
  TestServer t(options);
  t.gate().Close();
  std::vector<std::thread> clients;
  std::vector<StreamResult> results(2);
  pb::GenerateRequest running = GreedyRequest(Prompt(8, 40), 4);
  running.set_request_id("first");
  clients.emplace_back([&] { results[0] = RunStream(t.stub(), running); });
  t.gate().WaitUntilHeld();  // "first" is in a step: running, not waiting
  clients.emplace_back([&] { results[1] = RunStream(t.stub(), GreedyRequest(Prompt(8, 41), 4)); });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (t.server().engine().Load().waiting < 1 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  StreamResult refused = RunStream(t.stub(), GreedyRequest(Prompt(8, 42), 4));
  EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << refused.status.error_message();
  t.gate().Open();
  for (std::thread& c : clients) c.join();
  EXPECT_TRUE(results[0].status.ok());
  EXPECT_TRUE(results[1].status.ok());

  // Live again once the queue drained: the same id is taken while "first" runs.
  t.gate().Close();
  std::thread again([&] { results[0] = RunStream(t.stub(), running); });
  t.gate().WaitUntilHeld();
  StreamResult same_id = RunStream(t.stub(), running);
  t.gate().Open();
  again.join();
  EXPECT_EQ(same_id.status.error_code(), grpc::StatusCode::ALREADY_EXISTS)
      << same_id.status.error_message();
}

TEST(ServerTest, BearerTokenIsRequiredWhenSet) {
  server::ServerOptions options = LocalServerOptions();
  options.auth_token = "s3cret-token";
  TestServer t(options);
  pb::ModelInfo info;
  {
    grpc::ClientContext context;
    EXPECT_EQ(t.stub().GetModelInfo(&context, pb::GetModelInfoRequest(), &info).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }
  {
    grpc::ClientContext context;
    context.AddMetadata("authorization", "Bearer wrong-token!");
    EXPECT_EQ(t.stub().GetModelInfo(&context, pb::GetModelInfoRequest(), &info).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }
  grpc::ClientContext context;
  context.AddMetadata("authorization", "Bearer s3cret-token");
  ASSERT_TRUE(t.stub().GetModelInfo(&context, pb::GetModelInfoRequest(), &info).ok());
  EXPECT_EQ(info.vocab_size(), 300u);
  EXPECT_THAT(info.layer_types(), ::testing::ElementsAre("rattention", "rattention",
                                                         "sliding_attention", "full_attention"));
  EXPECT_EQ(info.sliding_window(), 8u);
  EXPECT_EQ(info.max_context(), 2048u);
  EXPECT_EQ(info.tokenizer(), "byte");
  EXPECT_EQ(info.block_size(), 16u);
}

TEST(ServerTest, ServesTlsWhenGivenACertificate) {
  ScratchDir dir("tls");
  const std::string command =
      "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost -addext "
      "subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout " +
      dir.File("key.pem") + " -out " + dir.File("cert.pem") + " >/dev/null 2>&1";
  if (std::system(command.c_str()) != 0) GTEST_SKIP() << "openssl could not make a certificate";
  server::ServerOptions options = LocalServerOptions();
  options.tls_cert_file = dir.File("cert.pem");
  options.tls_key_file = dir.File("key.pem");
  TestServer t(options);
  std::ifstream cert_file(options.tls_cert_file);
  std::stringstream cert;
  cert << cert_file.rdbuf();
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = cert.str();
  // An address, not a name: the certificate names 127.0.0.1 too, and resolving "localhost"
  // goes through c-ares, which leaks a few bytes that LeakSanitizer reports.
  auto secure = pb::RattnService::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string(t.server().port()), grpc::SslCredentials(ssl)));
  grpc::ClientContext context;
  pb::ModelInfo info;
  grpc::Status status = secure->GetModelInfo(&context, pb::GetModelInfoRequest(), &info);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(info.vocab_size(), 300u);

  // A plaintext client cannot talk to it.
  grpc::ClientContext plain_context;
  plain_context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  EXPECT_FALSE(t.stub().GetModelInfo(&plain_context, pb::GetModelInfoRequest(), &info).ok());
}

}  // namespace
}  // namespace rattn::testing
