// UTF-8 scanning; see utf8.h.
#include "engine/tokenizer/utf8.h"

#include <cstdint>

namespace rattn::engine {
namespace {

// The bytes a lead byte allows in its sequence, after the lead itself (the Unicode standard's
// table of well-formed byte sequences). The second byte's range depends on the lead, which is how
// overlong forms, surrogates and values above U+10FFFF are excluded; later bytes are always
// 0x80..0xBF.
struct LeadRule {
  int length;  // 0: the byte cannot begin a character
  uint8_t second_low;
  uint8_t second_high;
};

LeadRule RuleFor(uint8_t lead) {
  if (lead < 0x80) return {1, 0, 0};
  if (lead < 0xC2) return {0, 0, 0};  // continuation bytes, and the overlong leads C0 and C1
  if (lead < 0xE0) return {2, 0x80, 0xBF};
  if (lead == 0xE0) return {3, 0xA0, 0xBF};
  if (lead == 0xED) return {3, 0x80, 0x9F};  // excludes the surrogates D800..DFFF
  if (lead < 0xF0) return {3, 0x80, 0xBF};
  if (lead == 0xF0) return {4, 0x90, 0xBF};
  if (lead < 0xF4) return {4, 0x80, 0xBF};
  if (lead == 0xF4) return {4, 0x80, 0x8F};  // nothing above U+10FFFF
  return {0, 0, 0};
}

}  // namespace

Utf8Unit ScanUtf8(absl::string_view bytes) {
  const auto lead = static_cast<uint8_t>(bytes[0]);
  const LeadRule rule = RuleFor(lead);
  if (rule.length == 0) return {Utf8Unit::Kind::kInvalid, 1, 0};
  if (rule.length == 1) return {Utf8Unit::Kind::kCharacter, 1, lead};

  // The lead's payload bits: 5, 4 or 3 of them for sequences of 2, 3 or 4 bytes.
  char32_t code_point = lead & (0x7F >> rule.length);
  for (int i = 1; i < rule.length; ++i) {
    if (i >= static_cast<int>(bytes.size())) return {Utf8Unit::Kind::kIncomplete, i, 0};
    const auto byte = static_cast<uint8_t>(bytes[i]);
    const uint8_t low = i == 1 ? rule.second_low : 0x80;
    const uint8_t high = i == 1 ? rule.second_high : 0xBF;
    if (byte < low || byte > high) return {Utf8Unit::Kind::kInvalid, i, 0};
    code_point = (code_point << 6) | (byte & 0x3F);
  }
  return {Utf8Unit::Kind::kCharacter, rule.length, code_point};
}

std::optional<size_t> FindInvalidUtf8(absl::string_view text) {
  size_t offset = 0;
  while (offset < text.size()) {
    const Utf8Unit unit = ScanUtf8(text.substr(offset));
    if (unit.kind != Utf8Unit::Kind::kCharacter) return offset;
    offset += unit.length;
  }
  return std::nullopt;
}

void AppendUtf8(char32_t code_point, std::string* out) {
  if (code_point < 0x80) {
    out->push_back(static_cast<char>(code_point));
  } else if (code_point < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (code_point >> 6)));
    out->push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else if (code_point < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (code_point >> 12)));
    out->push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (code_point >> 18)));
    out->push_back(static_cast<char>(0x80 | ((code_point >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  }
}

}  // namespace rattn::engine
