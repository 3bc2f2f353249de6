// Fuzzes request validation: the input is parsed as a GenerateRequest message by the server's
// own parser (request_parser.h), converted the way the server converts it, and checked by the
// engine. A request both accept that is small
// enough is then run on a tiny random model, so fuzzed sampling and stopping parameters reach
// the sampler and the stop matcher. Properties: conversion and validation never crash; an
// accepted request ends (within 30 s) with an OK status, no more tokens per sample than
// max_new_tokens, ids inside the vocabulary and well-formed UTF-8 text; and every refusal has a
// message.
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>

#include "engine/cpu/cpu_backend.h"
#include "engine/engine.h"
#include "engine/model/checkpoint.h"
#include "engine/model/random_checkpoint.h"
#include "engine/tokenizer/tokenizer.h"
#include "rattn/v1/rattn.pb.h"
#include "server/request_convert.h"
#include "server/request_parser.h"
#include "tests/fuzz/fuzz_target.h"

namespace {

using rattn::engine::Engine;

// A 2-layer rattention/full model with the byte tokenizer and a 96-position context, so that
// "longer than the context" is easy to reach.
Engine& TheEngine() {
  static Engine* engine = [] {
    rattn::server::RouteProtobufLogs();  // no per-input protobuf lines
    rattn::model::ModelConfig config;
    config.vocab_size = 259;
    config.hidden_size = 32;
    config.intermediate_size = 48;
    config.num_heads = 4;
    config.num_kv_heads = 2;
    config.head_dim = 8;
    config.sliding_window = 8;
    config.layer_types = {rattn::model::LayerType::kRAttention,
                          rattn::model::LayerType::kFullAttention};
    config.num_layers = 2;
    config.max_position_embeddings = 96;
    config.eos_token_ids = {2};
    const std::string& dir = rattn::fuzz::ScratchDir();
    RATTN_FUZZ_CHECK(rattn::model::WriteRandomCheckpoint(config, {.seed = 7}, dir).ok());
    auto checkpoint = rattn::model::Checkpoint::Open(dir);
    RATTN_FUZZ_CHECK(checkpoint.ok());
    auto backend = rattn::cpu::CpuBackend::Create(**checkpoint, {.num_threads = 1});
    RATTN_FUZZ_CHECK(backend.ok());
    auto tokenizer = rattn::engine::LoadTokenizer(dir, config.vocab_size);
    RATTN_FUZZ_CHECK(tokenizer.ok());
    rattn::engine::EngineOptions options;
    options.cache.memory_budget_bytes = 8 << 20;
    options.cache.max_sequences = 8;
    auto engine = Engine::Create(std::move(*backend), std::move(*tokenizer), options);
    RATTN_FUZZ_CHECK(engine.ok());
    return engine->release();
  }();
  return *engine;
}

struct Outcome {
  std::mutex mutex;
  std::condition_variable done_cv;
  bool done = false;
  absl::Status status;
  std::vector<int> tokens;  // per sample
  std::vector<std::string> text;
};

void Run(Engine& engine, rattn::engine::GenerateRequest request) {
  const int samples = request.num_samples;
  const int max_new_tokens = request.stopping.max_new_tokens;
  auto outcome = std::make_shared<Outcome>();
  outcome->tokens.assign(samples, 0);
  outcome->text.assign(samples, "");
  auto submitted = engine.Submit(std::move(request), [outcome](rattn::engine::GenerationEvent e) {
    std::lock_guard<std::mutex> lock(outcome->mutex);
    for (const auto& output : e.outputs) {
      RATTN_FUZZ_CHECK(output.sample >= 0 &&
                       output.sample < static_cast<int>(outcome->tokens.size()));
      for (int32_t id : output.tokens) RATTN_FUZZ_CHECK(id >= 0 && id < 259);
      outcome->tokens[output.sample] += static_cast<int>(output.tokens.size());
      outcome->text[output.sample] += output.text;
    }
    if (e.done) {
      outcome->status = e.status;
      outcome->done = true;
      outcome->done_cv.notify_all();
    }
  });
  if (!submitted.ok()) {
    // Validate passed, so only the queue or the caches may refuse it.
    RATTN_FUZZ_CHECK(absl::IsResourceExhausted(submitted.status()));
    return;
  }
  std::unique_lock<std::mutex> lock(outcome->mutex);
  RATTN_FUZZ_CHECK(
      outcome->done_cv.wait_for(lock, std::chrono::seconds(30), [&] { return outcome->done; }));
  RATTN_FUZZ_CHECK(outcome->status.ok());
  for (int s = 0; s < samples; ++s) {
    RATTN_FUZZ_CHECK(outcome->tokens[s] <= max_new_tokens);
    RATTN_FUZZ_CHECK(rattn::engine::CheckUtf8(outcome->text[s]).ok());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Engine& engine = TheEngine();
  rattn::v1::GenerateRequest message;
  const absl::Status parsed = rattn::server::ParseRequest(
      absl::string_view(reinterpret_cast<const char*>(data), size), &message);
  if (!parsed.ok()) {
    RATTN_FUZZ_CHECK(absl::IsInvalidArgument(parsed) && !parsed.message().empty());
    return 0;
  }
  const absl::Status id = rattn::server::ValidateRequestId(message.request_id());
  RATTN_FUZZ_CHECK(id.ok() || !id.message().empty());
  auto request = rattn::server::ToEngineRequest(message, engine.tokenizer(), /*default_seed=*/1);
  if (!request.ok()) {
    RATTN_FUZZ_CHECK(absl::IsInvalidArgument(request.status()) &&
                     !request.status().message().empty());
    return 0;
  }
  const absl::Status valid = engine.Validate(*request);
  if (!valid.ok()) {
    RATTN_FUZZ_CHECK(!valid.message().empty());
    return 0;
  }
  if (id.ok() && request->prompt.size() <= 48 && request->stopping.max_new_tokens <= 8 &&
      request->num_samples <= 3) {
    request->id.clear();  // a fresh id, so that no two runs collide
    Run(engine, std::move(*request));
  }
  return 0;
}
