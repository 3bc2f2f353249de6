// Reading a Hugging Face tokenizer.json into the parts a byte-level BPE tokenizer needs, and
// refusing every setting rattn does not implement, so that a tokenizer either encodes as its
// authors meant or is not loaded at all.
#ifndef RATTN_ENGINE_TOKENIZER_TOKENIZER_JSON_H_
#define RATTN_ENGINE_TOKENIZER_TOKENIZER_JSON_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/tokenizer/pre_tokenizer.h"

namespace rattn::engine {

// A token matched literally in the input before pre-tokenization.
struct AddedTokenSpec {
  int64_t id = 0;
  std::string content;  // the literal text, non-empty
  bool special = false;
};

// What tokenizer.json says, checked for shape but not for consistency between its parts
// (BpeTokenizer checks that merges and ids fit the vocabulary).
struct TokenizerJson {
  // Applied in order, each to every piece the previous one made; then the pieces' bytes are
  // written in the byte-level alphabet and merged.
  std::vector<SplitPattern> splits;
  // model.ignore_merges: a whole piece found in the vocabulary is one token, unmerged.
  bool ignore_merges = false;
  std::vector<std::pair<std::string, int64_t>> vocab;       // model.vocab, symbol -> id
  std::vector<std::pair<std::string, std::string>> merges;  // model.merges, by rank
  std::vector<AddedTokenSpec> added_tokens;
};

// Parses `text`, the contents of a tokenizer.json; `what` names it in errors. Accepted:
// model.type "BPE" without dropout, subword prefix or suffix, or byte fallback; no normalizer
// (null or an empty Sequence); pre_tokenizer ByteLevel, or a Sequence of Split pre-tokenizers
// with the patterns of pre_tokenizer.h (behavior "Isolated") ending in ByteLevel, none adding a
// prefix space; decoder null or ByteLevel; merges as "a b" strings or ["a", "b"] pairs; added
// tokens without lstrip, rstrip or single_word. INVALID_ARGUMENT naming the field otherwise.
// post_processor, truncation and padding are ignored: the engine adds bos itself (the add_bos
// of Tokenizer::Encode) and never truncates a prompt silently.
absl::StatusOr<TokenizerJson> ParseTokenizerJson(absl::string_view text, absl::string_view what);

}  // namespace rattn::engine

#endif  // RATTN_ENGINE_TOKENIZER_TOKENIZER_JSON_H_
