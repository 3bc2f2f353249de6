// A Hugging Face byte-level BPE tokenizer (GPT-2, Llama 3 and their kin) read from
// tokenizer.json.
#ifndef RATTN_ENGINE_TOKENIZER_BPE_TOKENIZER_H_
#define RATTN_ENGINE_TOKENIZER_BPE_TOKENIZER_H_

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/tokenizer/byte_level.h"
#include "engine/tokenizer/pre_tokenizer.h"
#include "engine/tokenizer/tokenizer.h"
#include "engine/tokenizer/tokenizer_json.h"

namespace rattn::engine {

// Encoding: added tokens are found first, leftmost and then longest, and become their ids; the
// text between them is split by the pre-tokenizer's patterns, each piece's bytes are written in
// the byte-level alphabet, and adjacent symbols are merged lowest merge rank first (leftmost
// among equal ranks) until no listed merge applies. TokenBytes gives a vocabulary token's bytes
// (its text read back through the byte-level alphabet, or its text itself when it holds a
// character outside the alphabet), a non-special added token's content, and "" for a special
// one.
class BpeTokenizer : public Tokenizer {
 public:
  // Special tokens named by their content (as tokenizer_config.json names them); "" for none.
  struct Options {
    std::string bos_token;
    std::string eos_token;
  };

  // Builds the tokenizer from the contents of a tokenizer.json; `what` names it in errors.
  // INVALID_ARGUMENT for anything ParseTokenizerJson refuses, and for a vocabulary without a
  // token for every byte, two tokens with one id, an id of 2^22 or more, a merge naming a token
  // (or making one) the vocabulary lacks, a merge listed twice, an added token whose id the
  // vocabulary gives to other text, or a bos or eos token the vocabulary lacks.
  static absl::StatusOr<std::unique_ptr<BpeTokenizer>> FromJson(absl::string_view json_text,
                                                                absl::string_view what,
                                                                const Options& options);

  absl::string_view kind() const override { return "bpe"; }
  int vocab_size() const override { return static_cast<int>(token_bytes_.size()); }
  absl::StatusOr<std::vector<int32_t>> Encode(absl::string_view text, bool add_bos) const override;
  std::string TokenBytes(int32_t token) const override;
  std::optional<int32_t> bos_token() const override { return bos_token_; }
  std::optional<int32_t> eos_token() const override { return eos_token_; }

  // The id of the token whose text is `content`: an added token, else a vocabulary entry.
  std::optional<int32_t> TokenId(absl::string_view content) const;

 private:
  struct MergeRule {
    int32_t rank;
    int32_t merged;  // the id of the two tokens joined
  };
  struct AddedToken {
    std::string content;
    int32_t id;
  };

  BpeTokenizer() = default;

  absl::Status Build(TokenizerJson spec, absl::string_view what);
  // Appends the ids of `text`, which holds no added token.
  void EncodeSegment(absl::string_view text, std::vector<int32_t>* ids) const;
  // Appends the ids of one pre-tokenized piece.
  void EncodePiece(absl::string_view bytes, std::vector<int32_t>* ids) const;
  // The added token at the start of `text`, the longest when several are; nullptr if none.
  const AddedToken* MatchAddedToken(absl::string_view text) const;
  // The rule merging `left` then `right`; nullptr when there is none.
  const MergeRule* FindMerge(int32_t left, int32_t right) const;

  static uint64_t PairKey(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) |
           static_cast<uint32_t>(right);
  }

  ByteLevelAlphabet alphabet_;
  std::vector<SplitPattern> splits_;
  bool ignore_merges_ = false;
  absl::flat_hash_map<std::string, int32_t> vocab_;  // byte-level symbols -> id
  absl::flat_hash_map<uint64_t, MergeRule> merges_;  // PairKey(left, right) -> rule
  std::array<int32_t, 256> byte_tokens_{};           // the id of each single byte
  std::vector<AddedToken> added_tokens_;
  std::array<std::vector<int32_t>, 256> added_by_first_byte_;  // indices, longest first
  std::vector<std::string> token_bytes_;  // (vocab_size): TokenBytes of every id
  std::optional<int32_t> bos_token_;
  std::optional<int32_t> eos_token_;
};

}  // namespace rattn::engine

#endif  // RATTN_ENGINE_TOKENIZER_BPE_TOKENIZER_H_
