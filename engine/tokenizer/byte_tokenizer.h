// A tokenizer without a vocabulary file: one token per UTF-8 byte, for models trained on raw
// bytes and for tests.
#ifndef RATTN_ENGINE_TOKENIZER_BYTE_TOKENIZER_H_
#define RATTN_ENGINE_TOKENIZER_BYTE_TOKENIZER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/tokenizer/tokenizer.h"

namespace rattn::engine {

// Ids 0..255 are the bytes 0x00..0xFF. The ids after them are special tokens, each present only
// when `vocab_size` leaves room for it: 256 "<|bos|>", 257 "<|eos|>", 258 "<|pad|>". Ids from 259
// up to vocab_size - 1 are unused and decode to "".
class ByteTokenizer : public Tokenizer {
 public:
  static constexpr int32_t kBosToken = 256;
  static constexpr int32_t kEosToken = 257;
  static constexpr int32_t kPadToken = 258;

  // INVALID_ARGUMENT when `vocab_size` < 256.
  static absl::StatusOr<std::unique_ptr<ByteTokenizer>> Create(int vocab_size);

  absl::string_view kind() const override { return "byte"; }
  int vocab_size() const override { return vocab_size_; }
  absl::StatusOr<std::vector<int32_t>> Encode(absl::string_view text, bool add_bos) const override;
  std::string TokenBytes(int32_t token) const override;
  std::optional<int32_t> bos_token() const override;
  std::optional<int32_t> eos_token() const override;

  // "<|bos|>", "<|eos|>" or "<|pad|>" for a special id the vocabulary holds; "" otherwise.
  absl::string_view SpecialTokenName(int32_t token) const;

 private:
  explicit ByteTokenizer(int vocab_size) : vocab_size_(vocab_size) {}

  int vocab_size_;
};

}  // namespace rattn::engine

#endif  // RATTN_ENGINE_TOKENIZER_BYTE_TOKENIZER_H_
