// The tokenizer interface the engine encodes prompts and decodes generated tokens with, and the
// loader that picks the right implementation for a model directory.
#ifndef RATTN_ENGINE_TOKENIZER_TOKENIZER_H_
#define RATTN_ENGINE_TOKENIZER_TOKENIZER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace rattn::engine {

// Maps text to token ids and token ids back to bytes. Implementations are immutable once made,
// so every method is safe to call from several threads at once.
class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // "byte", "sentencepiece" or "bpe".
  virtual absl::string_view kind() const = 0;

  // One more than the largest id the tokenizer produces or names; every id it returns from
  // Encode, bos_token() and eos_token() is below this.
  virtual int vocab_size() const = 0;

  // The ids of `text`, preceded by bos_token() when `add_bos` is set and the tokenizer has one.
  // INVALID_ARGUMENT, naming the byte offset, when `text` is not well-formed UTF-8.
  virtual absl::StatusOr<std::vector<int32_t>> Encode(absl::string_view text,
                                                      bool add_bos) const = 0;

  // The bytes `token` contributes to a decoded continuation: "" for special and control tokens
  // and for ids the tokenizer does not know; a byte token's single raw byte, which may be part
  // of a UTF-8 character (IncrementalDetokenizer joins such bytes back into characters).
  virtual std::string TokenBytes(int32_t token) const = 0;

  // The bytes `token` contributes when it begins a text, that is, when every token before it
  // contributed none (a reply decoded without its prompt, say). SentencePiece drops the space of
  // a leading U+2581 there; the other tokenizers give TokenBytes.
  virtual std::string TokenBytesAtTextStart(int32_t token) const { return TokenBytes(token); }

  virtual std::optional<int32_t> bos_token() const = 0;
  virtual std::optional<int32_t> eos_token() const = 0;
};

// OK when `text` is well-formed UTF-8; otherwise INVALID_ARGUMENT naming the offset of the
// first bad byte (see FindInvalidUtf8 in utf8.h).
absl::Status CheckUtf8(absl::string_view text);

// The tokenizer of the model in `model_dir`, the first that exists of:
//   tokenizer.json   a Hugging Face byte-level BPE tokenizer (BpeTokenizer), with bos and eos
//                    named by tokenizer_config.json's bos_token and eos_token when that file
//                    exists;
//   tokenizer.model  a SentencePiece model (SentencePieceTokenizer);
//   neither          a ByteTokenizer, when `vocab_size` >= 256.
// `vocab_size` is the model's: a tokenizer with an id the model has no embedding for is refused
// (INVALID_ARGUMENT). Errors name the file and what is wrong with it.
absl::StatusOr<std::unique_ptr<Tokenizer>> LoadTokenizer(const std::string& model_dir,
                                                         int vocab_size);

}  // namespace rattn::engine

#endif  // RATTN_ENGINE_TOKENIZER_TOKENIZER_H_
