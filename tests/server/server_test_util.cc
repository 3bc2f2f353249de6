#include "tests/server/server_test_util.h"

#include <chrono>
#include <thread>

#include "engine/tokenizer/byte_tokenizer.h"
#include "gtest/gtest.h"
#include "server/model_loader.h"

namespace rattn::testing {

absl::Status GatedBackend::Forward(std::span<const engine::SequenceChunk> chunks,
                                   std::vector<float>* logits) {
  {
    std::unique_lock<std::mutex> lock(mutex_);
    held_ = closed_;
    changed_.notify_all();
    changed_.wait(lock, [&] { return !closed_; });
    held_ = false;
  }
  return inner_->Forward(chunks, logits);
}

void GatedBackend::Close() {
  std::lock_guard<std::mutex> lock(mutex_);
  closed_ = true;
}

void GatedBackend::Open() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    closed_ = false;
  }
  changed_.notify_all();
}

void GatedBackend::WaitUntilHeld() {
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [&] { return held_; });
}

model::ModelConfig ServerTestConfig() {
  model::ModelConfig config = SmallConfig("rrsf", /*window=*/8);
  config.vocab_size = 300;
  config.max_position_embeddings = 2048;
  return config;
}

server::ServerOptions LocalServerOptions() {
  server::ServerOptions options;
  options.listen_address = "127.0.0.1:0";
  options.metrics_address = "";
  options.memory_budget.bytes = int64_t{64} << 20;
  options.max_sequences = 64;
  options.drain_timeout = absl::Seconds(20);
  return options;
}

TestServer::TestServer(const server::ServerOptions& options)
    : dir_("server_model"), config_(ServerTestConfig()) {
  server::LoadedModel model;
  auto gate = std::make_unique<GatedBackend>(MakeCpuBackend(config_, dir_.path()));
  gate_ = gate.get();
  model.backend = std::move(gate);
  auto tokenizer = engine::ByteTokenizer::Create(config_.vocab_size);
  EXPECT_TRUE(tokenizer.ok()) << tokenizer.status();
  model.tokenizer = std::move(*tokenizer);
  model.info = server::DescribeModel(config_, "test-model", "f32", "cpu", model.tokenizer.get());
  auto server = server::Server::Start(options, std::move(model));
  EXPECT_TRUE(server.ok()) << server.status();
  if (!server.ok()) return;
  server_ = std::move(*server);
  channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()),
                                 grpc::InsecureChannelCredentials());
  stub_ = pb::RattnService::NewStub(channel_);
}

TestServer::~TestServer() {
  if (gate_ != nullptr) gate_->Open();
}

bool TestServer::WaitUntilIdle(double seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    const engine::LoadSnapshot load = server_->engine().Load();
    bool idle = load.running == 0 && load.waiting == 0;
    for (const engine::PoolUsage& pool : load.pools) idle = idle && pool.used == 0;
    if (idle) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

StreamResult RunStream(
    pb::RattnService::Stub& stub, const pb::GenerateRequest& request,
    std::optional<std::chrono::milliseconds> deadline,
    const std::function<void(const pb::GenerateResponse&, grpc::ClientContext&)>& on_response) {
  StreamResult result;
  grpc::ClientContext context;
  if (deadline) context.set_deadline(std::chrono::system_clock::now() + *deadline);
  auto reader = stub.Generate(&context, request);
  pb::GenerateResponse response;
  auto sample = [&](uint32_t index) {
    if (index >= result.tokens.size()) {
      result.tokens.resize(index + 1);
      result.text.resize(index + 1);
      result.logprobs.resize(index + 1);
    }
    return index;
  };
  while (reader->Read(&response)) {
    ++result.responses;
    result.request_id = response.request_id();
    if (on_response) on_response(response, context);
    if (response.has_chunk()) {
      const pb::Chunk& chunk = response.chunk();
      const uint32_t i = sample(chunk.index());
      result.tokens[i].insert(result.tokens[i].end(), chunk.token_ids().begin(),
                              chunk.token_ids().end());
      result.text[i] += chunk.text();
      result.logprobs[i].insert(result.logprobs[i].end(), chunk.logprobs().begin(),
                                chunk.logprobs().end());
      result.prompt_logprobs.insert(result.prompt_logprobs.end(), chunk.prompt_logprobs().begin(),
                                    chunk.prompt_logprobs().end());
    } else if (response.has_completion()) {
      sample(response.completion().index());
      result.completions.push_back(response.completion());
    } else if (response.has_error()) {
      result.errors.push_back(response.error());
    }
  }
  result.status = reader->Finish();
  return result;
}

pb::GenerateRequest GreedyRequest(const std::vector<int32_t>& prompt, uint32_t max_new_tokens) {
  pb::GenerateRequest request;
  request.mutable_token_ids()->mutable_ids()->Add(prompt.begin(), prompt.end());
  request.mutable_sampling()->set_temperature(0);
  request.mutable_stopping()->set_max_new_tokens(max_new_tokens);
  request.mutable_stopping()->set_ignore_eos(true);
  return request;
}

}  // namespace rattn::testing
