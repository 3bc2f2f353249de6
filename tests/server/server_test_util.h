// Helpers for the server's end-to-end tests: a backend whose steps can be held back, a server
// on a real localhost socket over a small random model, and a client that gathers a stream.
#ifndef RATTN_TESTS_SERVER_SERVER_TEST_UTIL_H_
#define RATTN_TESTS_SERVER_SERVER_TEST_UTIL_H_

#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "grpcpp/grpcpp.h"
#include "rattn/v1/rattn.grpc.pb.h"
#include "server/server.h"
#include "tests/test_util.h"

namespace rattn::testing {

namespace pb = ::rattn::v1;

// Forwards to another backend, except that while closed every step waits for Open().
class GatedBackend : public engine::Backend {
 public:
  explicit GatedBackend(std::unique_ptr<engine::Backend> inner) : inner_(std::move(inner)) {}

  absl::string_view name() const override { return inner_->name(); }
  const model::ModelConfig& config() const override { return inner_->config(); }
  absl::Status Forward(std::span<const engine::SequenceChunk> chunks,
                       std::vector<float>* logits) override;

  void Close();
  void Open();
  // Waits until a step is held at the closed gate.
  void WaitUntilHeld();

 private:
  std::unique_ptr<engine::Backend> inner_;
  std::mutex mutex_;
  std::condition_variable changed_;
  bool closed_ = false;
  bool held_ = false;
};

// The model every server test serves: layers r,r,s,f with w = 8 and a 300-token vocabulary
// (the byte tokenizer: 256 bytes, then bos 256, eos 257, pad 258).
model::ModelConfig ServerTestConfig();

// Options for a server on 127.0.0.1 with a port of its own and no metrics endpoint.
server::ServerOptions LocalServerOptions();

// A server over ServerTestConfig()'s random model, and a client stub connected to it.
class TestServer {
 public:
  explicit TestServer(const server::ServerOptions& options = LocalServerOptions());
  ~TestServer();

  server::Server& server() { return *server_; }
  GatedBackend& gate() { return *gate_; }
  pb::RattnService::Stub& stub() { return *stub_; }
  std::shared_ptr<grpc::Channel> channel() { return channel_; }
  const model::ModelConfig& config() const { return config_; }
  // Waits until every request has ended and every pool is back to zero in use; false after
  // `seconds`.
  bool WaitUntilIdle(double seconds = 10);

 private:
  ScratchDir dir_;
  model::ModelConfig config_;
  GatedBackend* gate_ = nullptr;  // owned by the server's engine
  std::unique_ptr<server::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<pb::RattnService::Stub> stub_;
};

// What a Generate stream returned, sample by sample.
struct StreamResult {
  grpc::Status status;
  std::vector<std::vector<int32_t>> tokens;             // per sample
  std::vector<std::string> text;                        // per sample
  std::vector<std::vector<pb::TokenLogprob>> logprobs;  // per sample
  std::vector<pb::TokenLogprob> prompt_logprobs;
  std::vector<pb::Completion> completions;  // in arrival order
  std::vector<pb::Error> errors;
  std::string request_id;
  int responses = 0;
};

// Runs a Generate stream to its end. `on_response` (optional) sees each response first, with
// the call's context (to cancel it, say).
StreamResult RunStream(pb::RattnService::Stub& stub, const pb::GenerateRequest& request,
                       std::optional<std::chrono::milliseconds> deadline = std::nullopt,
                       const std::function<void(const pb::GenerateResponse&, grpc::ClientContext&)>&
                           on_response = nullptr);

// A greedy request for `prompt` that ignores eos.
pb::GenerateRequest GreedyRequest(const std::vector<int32_t>& prompt, uint32_t max_new_tokens);

}  // namespace rattn::testing

#endif  // RATTN_TESTS_SERVER_SERVER_TEST_UTIL_H_
