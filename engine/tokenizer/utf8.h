// UTF-8 scanning shared by the tokenizers and the incremental detokenizer: well-formedness as
// the Unicode standard defines it (no overlong forms, no surrogates, nothing above U+10FFFF) and
// the "maximal subpart" rule for where one U+FFFD replaces ill-formed bytes.
#ifndef RATTN_ENGINE_TOKENIZER_UTF8_H_
#define RATTN_ENGINE_TOKENIZER_UTF8_H_

#include <cstddef>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace rattn::engine {

// U+FFFD REPLACEMENT CHARACTER, encoded.
inline constexpr absl::string_view kReplacementCharacter = "\xEF\xBF\xBD";

// What the bytes at the start of a text hold.
struct Utf8Unit {
  enum class Kind {
    kCharacter,   // `length` bytes encode `code_point`
    kIncomplete,  // all the bytes there are (`length` of them) begin a character, which more
                  // bytes could complete
    kInvalid,     // `length` >= 1 bytes form a maximal ill-formed subpart: one U+FFFD
  };
  Kind kind;
  int length;
  char32_t code_point;  // meaningful for kCharacter only
};

// Reads the unit at the start of `bytes`, which must not be empty.
Utf8Unit ScanUtf8(absl::string_view bytes);

// The offset of the first byte of `text` that does not begin a well-formed character (a byte of
// an ill-formed sequence, or a character cut off by the end of the text); nullopt when all of
// `text` is well-formed.
std::optional<size_t> FindInvalidUtf8(absl::string_view text);

// Appends the UTF-8 encoding of `code_point`, which must be a Unicode scalar value.
void AppendUtf8(char32_t code_point, std::string* out);

}  // namespace rattn::engine

#endif  // RATTN_ENGINE_TOKENIZER_UTF8_H_
