#include "server/generate_calls.h"

#include "server/request_convert.h"
#include "server/status_util.h"

namespace rattn::server {
namespace {

void AppendOutput(const engine::SampleOutput& output, pb::Chunk* chunk) {
  chunk->set_index(output.sample);
  chunk->mutable_token_ids()->Add(output.tokens.begin(), output.tokens.end());
  chunk->set_text(output.text);
  for (const engine::TokenLogprob& logprob : output.logprobs) {
    ToProto(logprob, chunk->add_logprobs());
  }
}

}  // namespace

std::vector<pb::GenerateResponse> ToResponses(const engine::GenerationEvent& event) {
  std::vector<pb::GenerateResponse> responses;
  auto add = [&]() -> pb::GenerateResponse& {
    responses.emplace_back().set_request_id(event.request_id);
    return responses.back();
  };
  for (const engine::SampleOutput& output : event.outputs) {
    AppendOutput(output, add().mutable_chunk());
  }
  if (!event.prompt_logprobs.empty()) {
    pb::Chunk* first = responses.empty() ? add().mutable_chunk() : responses[0].mutable_chunk();
    for (const engine::TokenLogprob& logprob : event.prompt_logprobs) {
      ToProto(logprob, first->add_prompt_logprobs());
    }
  }
  if (!event.status.ok()) {
    pb::Error* error = add().mutable_error();
    error->set_code(static_cast<int32_t>(event.status.code()));
    error->set_message(std::string(event.status.message()));
  }
  for (size_t i = 0; i < event.finished.size(); ++i) {
    const engine::SampleFinish& finish = event.finished[i];
    pb::Completion* completion = add().mutable_completion();
    completion->set_index(finish.sample);
    completion->set_finish_reason(ToProto(finish.reason));
    completion->set_prompt_tokens(event.prompt_tokens);
    completion->set_completion_tokens(finish.completion_tokens);
    if (event.done && i + 1 == event.finished.size()) {
      ToProto(event.timings, completion->mutable_timings());
    }
  }
  return responses;
}

absl::Status GenerationCall::Submit(engine::GenerateRequest request) {
  request_id_ = request.id;
  absl::StatusOr<std::string> id =
      engine_->Submit(std::move(request), [this](engine::GenerationEvent event) {
        request_metrics_.Observe(event);
        OnEngineEvent(std::move(event));
      });
  if (!id.ok()) {
    if (metrics_ != nullptr) metrics_->CountRejected(id.status().code());
    return id.status();
  }
  return absl::OkStatus();
}

void GenerationCall::CancelInEngine() {
  if (cancelled_.exchange(true)) return;
  // NOT_FOUND: the request ended meanwhile, and its last event is on its way.
  (void)engine_->Cancel(request_id_);
}

void GenerateStreamCall::Start(absl::StatusOr<engine::GenerateRequest> request) {
  absl::Status submitted = request.ok() ? Submit(*std::move(request)) : request.status();
  if (!submitted.ok()) Refuse(ToGrpcStatus(submitted));
}

void GenerateStreamCall::Refuse(const grpc::Status& status) {
  std::lock_guard<std::mutex> lock(mutex_);
  finished_ = true;
  Finish(status);
}

void GenerateStreamCall::OnEngineEvent(engine::GenerationEvent event) {
  std::vector<pb::GenerateResponse> responses = ToResponses(event);
  std::lock_guard<std::mutex> lock(mutex_);
  if (!client_gone_) {
    for (pb::GenerateResponse& response : responses) pending_.push_back(std::move(response));
  }
  if (event.done) {
    engine_done_ = true;
    final_status_ = client_gone_ ? grpc::Status(grpc::StatusCode::CANCELLED, "cancelled")
                                 : ToGrpcStatus(event.status);
  }
  WriteNextLocked();
}

void GenerateStreamCall::WriteNextLocked() {
  if (writing_ || finished_) return;
  if (!pending_.empty() && !client_gone_) {
    writing_ = true;
    StartWrite(&pending_.front());
    return;
  }
  if (engine_done_) {
    finished_ = true;
    Finish(final_status_);
  }
}

void GenerateStreamCall::OnWriteDone(bool ok) {
  bool cancel = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    writing_ = false;
    pending_.pop_front();
    if (!ok && !client_gone_) {
      client_gone_ = true;
      cancel = true;
    }
    if (client_gone_) pending_.clear();
    WriteNextLocked();
  }
  if (cancel) CancelInEngine();
}

void GenerateStreamCall::OnCancel() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    client_gone_ = true;
    // Keep the response being written (its buffer is in use); drop the rest.
    if (writing_) {
      pending_.resize(1);
    } else {
      pending_.clear();
    }
  }
  CancelInEngine();
}

void GenerateUnaryCall::Start(absl::StatusOr<engine::GenerateRequest> request) {
  if (!request.ok()) {
    Finish(ToGrpcStatus(request.status()));
    return;
  }
  result_->set_request_id(request->id);
  for (int32_t i = 0; i < request->num_samples; ++i) result_->add_samples()->set_index(i);
  absl::Status submitted = Submit(*std::move(request));
  if (!submitted.ok()) Finish(ToGrpcStatus(submitted));
}

void GenerateUnaryCall::OnEngineEvent(engine::GenerationEvent event) {
  for (const engine::SampleOutput& output : event.outputs) {
    pb::SampleResult* sample = result_->mutable_samples(output.sample);
    sample->mutable_token_ids()->Add(output.tokens.begin(), output.tokens.end());
    sample->mutable_text()->append(output.text);
    for (const engine::TokenLogprob& logprob : output.logprobs) {
      ToProto(logprob, sample->add_logprobs());
    }
  }
  for (const engine::TokenLogprob& logprob : event.prompt_logprobs) {
    ToProto(logprob, result_->add_prompt_logprobs());
  }
  for (const engine::SampleFinish& finish : event.finished) {
    pb::SampleResult* sample = result_->mutable_samples(finish.sample);
    sample->set_finish_reason(ToProto(finish.reason));
    sample->set_completion_tokens(finish.completion_tokens);
  }
  if (!event.done) return;
  result_->set_prompt_tokens(event.prompt_tokens);
  ToProto(event.timings, result_->mutable_timings());
  if (client_gone_.load()) {
    Finish(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled"));
  } else {
    Finish(ToGrpcStatus(event.status));
  }
}

void GenerateUnaryCall::OnCancel() {
  client_gone_.store(true);
  CancelInEngine();
}

}  // namespace rattn::server
