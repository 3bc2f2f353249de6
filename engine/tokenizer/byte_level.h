// GPT-2's byte-level alphabet: a printable character for each of the 256 byte values, so that a
// byte-level BPE vocabulary can be written as text. Bytes that are printable Latin-1 characters
// (0x21..0x7E, 0xA1..0xAC, 0xAE..0xFF) stand for themselves; the other 68 take the characters
// U+0100..U+0143 in byte order (so the space 0x20 is U+0120 'Ġ').
#ifndef RATTN_ENGINE_TOKENIZER_BYTE_LEVEL_H_
#define RATTN_ENGINE_TOKENIZER_BYTE_LEVEL_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace rattn::engine {

class ByteLevelAlphabet {
 public:
  ByteLevelAlphabet();

  // The character of `byte`, UTF-8 encoded.
  const std::string& Symbol(uint8_t byte) const { return symbols_[byte]; }

  // `bytes` written in the alphabet: each byte replaced by its character, UTF-8 encoded.
  std::string ToSymbols(absl::string_view bytes) const;

  // The bytes `symbols` (well-formed UTF-8) stands for; nullopt when it holds a character
  // outside the alphabet.
  std::optional<std::string> ToBytes(absl::string_view symbols) const;

 private:
  static constexpr int kCodePoints = 0x144;  // every character of the alphabet is below this

  std::array<std::string, 256> symbols_;
  std::array<int16_t, kCodePoints> byte_of_;  // -1 for a code point outside the alphabet
};

}  // namespace rattn::engine

#endif  // RATTN_ENGINE_TOKENIZER_BYTE_LEVEL_H_
