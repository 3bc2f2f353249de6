// Conversions between the API's messages (proto/rattn/v1/rattn.proto) and the engine's types.
// ToEngineRequest validates what only the message knows (which oneof is set, integer widths,
// the text's encoding); the engine validates the rest when the request is submitted. Errors
// are INVALID_ARGUMENT and name the field.
#ifndef RATTN_SERVER_REQUEST_CONVERT_H_
#define RATTN_SERVER_REQUEST_CONVERT_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "engine/request.h"
#include "engine/tokenizer/tokenizer.h"
#include "rattn/v1/rattn.pb.h"

namespace rattn::server {

namespace pb = ::rattn::v1;

inline constexpr int kMaxRequestIdLength = 128;

// Empty, or 1 to 128 printable ASCII characters.
absl::Status ValidateRequestId(absl::string_view id);

// The engine request for `message`. A text prompt is encoded with `tokenizer` (null: text
// prompts are refused). `default_seed` is used when the message sets none.
absl::StatusOr<engine::GenerateRequest> ToEngineRequest(const pb::GenerateRequest& message,
                                                        const engine::Tokenizer* tokenizer,
                                                        uint64_t default_seed);

// Encodes a Tokenize call's text (also used for text prompts).
absl::StatusOr<std::vector<int32_t>> EncodeText(const engine::Tokenizer* tokenizer,
                                                absl::string_view text,
                                                const std::optional<bool>& add_bos);

pb::FinishReason ToProto(engine::FinishReason reason);
void ToProto(const engine::TokenLogprob& logprob, pb::TokenLogprob* out);
void ToProto(const engine::RequestTimings& timings, pb::Timings* out);

}  // namespace rattn::server

#endif  // RATTN_SERVER_REQUEST_CONVERT_H_
