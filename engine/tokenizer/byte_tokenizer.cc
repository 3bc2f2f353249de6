// The byte tokenizer; see byte_tokenizer.h.
#include "engine/tokenizer/byte_tokenizer.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/util/status_macros.h"

namespace rattn::engine {

absl::StatusOr<std::unique_ptr<ByteTokenizer>> ByteTokenizer::Create(int vocab_size) {
  if (vocab_size < 256) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a byte tokenizer needs a vocab_size of at least 256, one id per byte; got ", vocab_size));
  }
  return std::unique_ptr<ByteTokenizer>(new ByteTokenizer(vocab_size));
}

absl::StatusOr<std::vector<int32_t>> ByteTokenizer::Encode(absl::string_view text,
                                                           bool add_bos) const {
  RATTN_RETURN_IF_ERROR(CheckUtf8(text));
  std::vector<int32_t> ids;
  ids.reserve(text.size() + 1);
  if (add_bos && bos_token().has_value()) ids.push_back(*bos_token());
  for (char byte : text) ids.push_back(static_cast<unsigned char>(byte));
  return ids;
}

std::string ByteTokenizer::TokenBytes(int32_t token) const {
  if (token < 0 || token > 255) return "";
  return std::string(1, static_cast<char>(token));
}

std::optional<int32_t> ByteTokenizer::bos_token() const {
  if (vocab_size_ <= kBosToken) return std::nullopt;
  return kBosToken;
}

std::optional<int32_t> ByteTokenizer::eos_token() const {
  if (vocab_size_ <= kEosToken) return std::nullopt;
  return kEosToken;
}

absl::string_view ByteTokenizer::SpecialTokenName(int32_t token) const {
  if (token >= vocab_size_) return "";
  switch (token) {
    case kBosToken:
      return "<|bos|>";
    case kEosToken:
      return "<|eos|>";
    case kPadToken:
      return "<|pad|>";
    default:
      return "";
  }
}

}  // namespace rattn::engine
