// The splits a byte-level BPE tokenizer makes before merging: the regular expressions of GPT-2
// and Llama 3 (the latter also used, with single digits, by Qwen2), implemented as hand-written
// scanners over Unicode character classes rather than with a regex engine.
#ifndef RATTN_ENGINE_TOKENIZER_PRE_TOKENIZER_H_
#define RATTN_ENGINE_TOKENIZER_PRE_TOKENIZER_H_

#include <optional>
#include <vector>

#include "absl/strings/string_view.h"

namespace rattn::engine {

enum class SplitPattern {
  // 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
  kGpt2,
  // (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|
  // \s*[\r\n]+|\s+(?!\S)|\s+
  kLlama3,
  // The Llama 3 pattern with \p{N} in place of \p{N}{1,3}: every digit on its own.
  kQwen2,
};

// The pattern whose regex, as tokenizer.json writes it, is exactly `regex`; nullopt otherwise.
std::optional<SplitPattern> SplitPatternFromRegex(absl::string_view regex);

// The regex of `pattern`, as tokenizer.json writes it.
absl::string_view SplitPatternRegex(SplitPattern pattern);

// The successive matches of `pattern` in `text`, as a backtracking regex engine finds them
// (alternatives tried in order, quantifiers greedy). Every character matches some alternative,
// so the pieces are non-empty and concatenate to `text`. `text` must be well-formed UTF-8.
// Classes follow Unicode: \p{L} is the general categories Lu Ll Lt Lm Lo, \p{N} is Nd Nl No
// (from libutf8proc), and \s is the White_Space property. The case-insensitive contractions of
// Llama 3 and Qwen2 match ASCII letters only, where a regex engine's Unicode case folding would
// also take U+017F (long s) for 's'.
std::vector<absl::string_view> SplitWithPattern(absl::string_view text, SplitPattern pattern);

}  // namespace rattn::engine

#endif  // RATTN_ENGINE_TOKENIZER_PRE_TOKENIZER_H_
