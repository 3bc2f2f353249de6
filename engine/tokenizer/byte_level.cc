// The byte-level alphabet; see byte_level.h.
#include "engine/tokenizer/byte_level.h"

#include "engine/tokenizer/utf8.h"

namespace rattn::engine {
namespace {

bool StandsForItself(int byte) {
  return (byte >= 0x21 && byte <= 0x7E) || (byte >= 0xA1 && byte <= 0xAC) || byte >= 0xAE;
}

}  // namespace

ByteLevelAlphabet::ByteLevelAlphabet() {
  byte_of_.fill(-1);
  char32_t next_substitute = 0x100;
  for (int byte = 0; byte < 256; ++byte) {
    const char32_t code_point = StandsForItself(byte) ? byte : next_substitute++;
    AppendUtf8(code_point, &symbols_[byte]);
    byte_of_[code_point] = static_cast<int16_t>(byte);
  }
}

std::string ByteLevelAlphabet::ToSymbols(absl::string_view bytes) const {
  std::string symbols;
  symbols.reserve(bytes.size() * 2);
  for (char byte : bytes) symbols += symbols_[static_cast<uint8_t>(byte)];
  return symbols;
}

std::optional<std::string> ByteLevelAlphabet::ToBytes(absl::string_view symbols) const {
  std::string bytes;
  size_t offset = 0;
  while (offset < symbols.size()) {
    const Utf8Unit unit = ScanUtf8(symbols.substr(offset));
    if (unit.kind != Utf8Unit::Kind::kCharacter || unit.code_point >= kCodePoints ||
        byte_of_[unit.code_point] < 0) {
      return std::nullopt;
    }
    bytes.push_back(static_cast<char>(byte_of_[unit.code_point]));
    offset += unit.length;
  }
  return bytes;
}

}  // namespace rattn::engine
