#include "server/request_convert.h"

#include <limits>
#include <optional>

#include "absl/strings/str_cat.h"
#include "engine/util/status_macros.h"

namespace rattn::server {
namespace {

absl::Status FieldError(absl::string_view field, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", problem));
}

// A uint32 field the engine holds in an int32, checked before the narrowing.
absl::StatusOr<int32_t> Narrow(absl::string_view field, uint32_t value, uint32_t limit) {
  if (value > limit) {
    return FieldError(field, absl::StrCat("must be at most ", limit, ", got ", value));
  }
  return static_cast<int32_t>(value);
}

engine::SamplingParams ToEngine(const pb::SamplingParams& p, uint64_t default_seed) {
  engine::SamplingParams s;
  if (p.has_temperature()) s.temperature = p.temperature();
  if (p.has_top_k()) s.top_k = p.top_k();
  if (p.has_top_p()) s.top_p = p.top_p();
  if (p.has_min_p()) s.min_p = p.min_p();
  if (p.has_repetition_penalty()) s.repetition_penalty = p.repetition_penalty();
  if (p.has_presence_penalty()) s.presence_penalty = p.presence_penalty();
  if (p.has_frequency_penalty()) s.frequency_penalty = p.frequency_penalty();
  s.seed = p.has_seed() ? p.seed() : default_seed;
  return s;
}

}  // namespace

absl::Status ValidateRequestId(absl::string_view id) {
  if (id.size() > kMaxRequestIdLength) {
    return FieldError("request_id", absl::StrCat("is ", id.size(), " characters; at most ",
                                                 kMaxRequestIdLength, " are allowed"));
  }
  for (char c : id) {
    if (c < 0x21 || c > 0x7e) {
      return FieldError("request_id", "must be printable ASCII without spaces");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<int32_t>> EncodeText(const engine::Tokenizer* tokenizer,
                                                absl::string_view text,
                                                const std::optional<bool>& add_bos) {
  if (tokenizer == nullptr) {
    return FieldError("text", "the model has no tokenizer; send token ids");
  }
  absl::StatusOr<std::vector<int32_t>> ids = tokenizer->Encode(text, add_bos.value_or(true));
  if (!ids.ok()) return FieldError("text", ids.status().message());
  return ids;
}

absl::StatusOr<engine::GenerateRequest> ToEngineRequest(const pb::GenerateRequest& message,
                                                        const engine::Tokenizer* tokenizer,
                                                        uint64_t default_seed) {
  engine::GenerateRequest request;
  RATTN_RETURN_IF_ERROR(ValidateRequestId(message.request_id()));
  request.id = message.request_id();

  switch (message.prompt_case()) {
    case pb::GenerateRequest::kText: {
      std::optional<bool> add_bos;
      if (message.has_add_bos()) add_bos = message.add_bos();
      RATTN_ASSIGN_OR_RETURN(request.prompt, EncodeText(tokenizer, message.text(), add_bos));
      if (request.prompt.empty()) return FieldError("text", "is empty");
      break;
    }
    case pb::GenerateRequest::kTokenIds:
      request.prompt.assign(message.token_ids().ids().begin(), message.token_ids().ids().end());
      if (request.prompt.empty()) return FieldError("token_ids", "is empty");
      break;
    case pb::GenerateRequest::PROMPT_NOT_SET:
      return FieldError("prompt", "set text or token_ids");
  }

  request.sampling = ToEngine(message.sampling(), default_seed);

  const pb::StoppingCriteria& stopping = message.stopping();
  if (stopping.has_max_new_tokens()) {
    RATTN_ASSIGN_OR_RETURN(request.stopping.max_new_tokens,
                           Narrow("stopping.max_new_tokens", stopping.max_new_tokens(), 1u << 30));
  }
  request.stopping.stop_strings.assign(stopping.stop().begin(), stopping.stop().end());
  request.stopping.stop_token_ids.assign(stopping.stop_token_ids().begin(),
                                         stopping.stop_token_ids().end());
  request.stopping.ignore_eos = stopping.ignore_eos();

  if (message.logprobs().has_top_logprobs()) {
    RATTN_ASSIGN_OR_RETURN(
        request.top_logprobs,
        Narrow("logprobs.top_logprobs", message.logprobs().top_logprobs(), 1u << 20));
  }
  request.prompt_logprobs = message.logprobs().prompt_logprobs();
  if (message.n() > 0) {
    RATTN_ASSIGN_OR_RETURN(request.num_samples, Narrow("n", message.n(), 1u << 20));
  }
  return request;
}

pb::FinishReason ToProto(engine::FinishReason reason) {
  switch (reason) {
    case engine::FinishReason::kLength:
      return pb::FINISH_REASON_LENGTH;
    case engine::FinishReason::kStop:
      return pb::FINISH_REASON_STOP;
    case engine::FinishReason::kEos:
      return pb::FINISH_REASON_EOS;
    case engine::FinishReason::kCancelled:
      return pb::FINISH_REASON_CANCELLED;
    case engine::FinishReason::kError:
      return pb::FINISH_REASON_ERROR;
  }
  return pb::FINISH_REASON_UNSPECIFIED;
}

void ToProto(const engine::TokenLogprob& logprob, pb::TokenLogprob* out) {
  out->set_token_id(logprob.token);
  out->set_logprob(logprob.logprob);
  for (const auto& [token, value] : logprob.top) {
    pb::TopLogprob* top = out->add_top();
    top->set_token_id(token);
    top->set_logprob(value);
  }
}

void ToProto(const engine::RequestTimings& t, pb::Timings* out) {
  out->set_queue_seconds(t.queue_seconds);
  out->set_time_to_first_token_seconds(t.time_to_first_token);
  out->set_prefill_seconds(t.prefill_seconds);
  out->set_decode_seconds(t.decode_seconds);
  out->set_total_seconds(t.total_seconds);
}

}  // namespace rattn::server
