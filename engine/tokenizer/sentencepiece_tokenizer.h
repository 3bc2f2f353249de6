// A tokenizer backed by a SentencePiece model file (tokenizer.model), through the system's
// libsentencepiece.
#ifndef RATTN_ENGINE_TOKENIZER_SENTENCEPIECE_TOKENIZER_H_
#define RATTN_ENGINE_TOKENIZER_SENTENCEPIECE_TOKENIZER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/tokenizer/internal/sentencepiece_model.h"
#include "engine/tokenizer/tokenizer.h"

namespace rattn::engine {

// Encoding is the library's own. TokenBytes follows SentencePiece's decoder piece by piece:
// control pieces give "", byte-fallback pieces "<0xAB>" give the byte 0xAB, the unknown piece
// gives " \u2047 ", and any other piece gives its text with each U+2581 (the word-boundary
// mark) replaced by a space. TokenBytes keeps the space of a leading U+2581, because generated
// tokens continue a prompt and the space between the prompt and a new word is real.
// TokenBytesAtTextStart drops it, as the library's Decode (0.1.97) does for every piece other
// than a byte or unknown piece while the text decoded so far is empty: that space is the
// "dummy prefix" the encoder added.
class SentencePieceTokenizer : public Tokenizer {
 public:
  // Loads the model at `path`. INVALID_ARGUMENT, naming `path`, when the library cannot read it.
  static absl::StatusOr<std::unique_ptr<SentencePieceTokenizer>> Load(const std::string& path);

  absl::string_view kind() const override { return "sentencepiece"; }
  int vocab_size() const override { return static_cast<int>(token_bytes_.size()); }
  absl::StatusOr<std::vector<int32_t>> Encode(absl::string_view text, bool add_bos) const override;
  std::string TokenBytes(int32_t token) const override;
  std::string TokenBytesAtTextStart(int32_t token) const override;
  std::optional<int32_t> bos_token() const override { return bos_token_; }
  std::optional<int32_t> eos_token() const override { return eos_token_; }

 private:
  SentencePieceTokenizer(std::unique_ptr<internal::SentencePieceModel> model,
                         std::vector<std::string> token_bytes,
                         std::vector<bool> drops_leading_space);

  std::unique_ptr<internal::SentencePieceModel> model_;
  std::vector<std::string> token_bytes_;  // (vocab_size): TokenBytes of every id
  // (vocab_size): whether TokenBytesAtTextStart drops the first byte, a space from U+2581
  std::vector<bool> drops_leading_space_;
  std::optional<int32_t> bos_token_;
  std::optional<int32_t> eos_token_;
};

}  // namespace rattn::engine

#endif  // RATTN_ENGINE_TOKENIZER_SENTENCEPIECE_TOKENIZER_H_
