// Turns a stream of generated tokens into a stream of text pieces, each well-formed UTF-8, for
// one sequence.
#ifndef RATTN_ENGINE_TOKENIZER_INCREMENTAL_DETOKENIZER_H_
#define RATTN_ENGINE_TOKENIZER_INCREMENTAL_DETOKENIZER_H_

#include <cstdint>
#include <string>

#include "engine/tokenizer/tokenizer.h"

namespace rattn::engine {

// Joins the TokenBytes of successive tokens and returns, after each token, the text that has
// become complete. A character whose bytes arrive in several tokens is held back until its last
// byte arrives; ill-formed bytes become U+FFFD, one per maximal ill-formed subpart (the Unicode
// standard's recommended practice), as soon as they are known to be ill-formed, so at most three
// bytes, the start of one character, are ever held. Every returned piece is well-formed UTF-8,
// and the pieces joined with Flush() equal the whole byte string repaired in one go.
//
// Tokens whose TokenBytes are "" (control and special tokens) add nothing and leave a held
// partial character waiting for its remaining bytes.
//
// Not thread-safe; one per sequence. `tokenizer` is borrowed and must outlive this object.
class IncrementalDetokenizer {
 public:
  // Where the stream's first token stands.
  enum class Start {
    kContinuation,  // after text decoded elsewhere (a prompt): every token reads TokenBytes
    kTextStart,     // at the start of a text: tokens read TokenBytesAtTextStart until one
                    // contributes bytes
  };

  explicit IncrementalDetokenizer(const Tokenizer& tokenizer, Start start = Start::kContinuation)
      : tokenizer_(tokenizer), start_(start), at_text_start_(start == Start::kTextStart) {}

  // The text completed by `token`; "" when it only adds to a held partial character.
  std::string Append(int32_t token);

  // The end of the stream: a held partial character becomes one U+FFFD. The detokenizer is then
  // as new and may take a new stream, which starts as the first did.
  std::string Flush();

 private:
  const Tokenizer& tokenizer_;
  Start start_;
  bool at_text_start_;   // no token has contributed bytes yet, in a kTextStart stream
  std::string pending_;  // the first bytes of one character, at most three
};

}  // namespace rattn::engine

#endif  // RATTN_ENGINE_TOKENIZER_INCREMENTAL_DETOKENIZER_H_
