// The pre-tokenizer scanners; see pre_tokenizer.h. Each alternative of a pattern is a function
// that returns where its match ends at a given character, or nothing; the scanner takes the first
// alternative that matches, as a backtracking engine would.
#include "engine/tokenizer/pre_tokenizer.h"

#include <utf8proc.h>

#include <cstdint>

#include "engine/tokenizer/utf8.h"

namespace rattn::engine {
namespace {

constexpr absl::string_view kGpt2Regex =
    R"re('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)re";
constexpr absl::string_view kLlama3Regex =
    R"re((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|)re"
    R"re( ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";
constexpr absl::string_view kQwen2Regex =
    R"re((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|)re"
    R"re( ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";

enum class CharClass : uint8_t { kLetter, kNumber, kSpace, kOther };

struct Char {
  char32_t code_point;
  CharClass cls;
  size_t offset;  // of its first byte in the text
};

// The White_Space property, which is what \s matches in Unicode mode.
bool IsWhiteSpace(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
         c == 0x3000;
}

CharClass Classify(char32_t c) {
  if (IsWhiteSpace(c)) return CharClass::kSpace;
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(c))) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
      return CharClass::kLetter;
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
      return CharClass::kNumber;
    default:
      return CharClass::kOther;
  }
}

// The characters of a text and the scans the alternatives share. Positions are character
// indices; a scan returns the end of its match or -1.
class Scanner {
 public:
  explicit Scanner(absl::string_view text) : text_(text) {
    size_t offset = 0;
    while (offset < text.size()) {
      const Utf8Unit unit = ScanUtf8(text.substr(offset));
      if (unit.kind == Utf8Unit::Kind::kCharacter) {
        chars_.push_back({unit.code_point, Classify(unit.code_point), offset});
        offset += unit.length;
      } else {  // outside the contract; one byte at a time keeps the pieces covering the text
        chars_.push_back({0xFFFD, CharClass::kOther, offset});
        offset += 1;
      }
    }
  }

  int size() const { return static_cast<int>(chars_.size()); }
  absl::string_view Piece(int begin, int end) const {
    const size_t from = chars_[begin].offset;
    const size_t to = end < size() ? chars_[end].offset : text_.size();
    return text_.substr(from, to - from);
  }

  bool Is(int i, CharClass cls) const { return i < size() && chars_[i].cls == cls; }
  bool IsCodePoint(int i, char32_t c) const { return i < size() && chars_[i].code_point == c; }
  bool IsLineBreak(int i) const { return IsCodePoint(i, '\r') || IsCodePoint(i, '\n'); }

  // The end of the run of `cls` characters starting at `i` (i itself when there is none).
  int RunEnd(int i, CharClass cls) const {
    while (Is(i, cls)) ++i;
    return i;
  }

  // 's|'t|'re|'ve|'m|'ll|'d, case-sensitive or not.
  int Contraction(int i, bool ignore_case) const {
    if (!IsCodePoint(i, '\'')) return -1;
    auto letter_is = [&](int j, char lower) {
      if (j >= size()) return false;
      const char32_t c = chars_[j].code_point;
      if (c == static_cast<char32_t>(lower)) return true;
      return ignore_case && c == static_cast<char32_t>(lower - 'a' + 'A');
    };
    for (char single : {'s', 't', 'm', 'd'}) {
      if (letter_is(i + 1, single)) return i + 2;
    }
    for (const char* pair : {"re", "ve", "ll"}) {
      if (letter_is(i + 1, pair[0]) && letter_is(i + 2, pair[1])) return i + 3;
    }
    return -1;
  }

  // ` ?X+`: an optional U+0020 then one or more characters of class X.
  int SpaceThenRun(int i, CharClass cls) const {
    const int start = IsCodePoint(i, ' ') && Is(i + 1, cls) ? i + 1 : i;
    const int end = RunEnd(start, cls);
    return end > start ? end : -1;
  }

  // `\s+(?!\S)` then, failing that, `\s+`: a run of white space, less its last character when
  // a non-space follows it and the run has more than one.
  int SpaceRun(int i) const {
    const int end = RunEnd(i, CharClass::kSpace);
    if (end == i) return -1;
    if (end < size() && end - i > 1) return end - 1;
    return end;
  }

 private:
  absl::string_view text_;
  std::vector<Char> chars_;
};

int NextGpt2(const Scanner& s, int i) {
  int end = s.Contraction(i, /*ignore_case=*/false);
  if (end < 0) end = s.SpaceThenRun(i, CharClass::kLetter);
  if (end < 0) end = s.SpaceThenRun(i, CharClass::kNumber);
  if (end < 0) end = s.SpaceThenRun(i, CharClass::kOther);
  if (end < 0) end = s.SpaceRun(i);
  return end;
}

int NextLlama3(const Scanner& s, int i, int max_digits) {
  if (int end = s.Contraction(i, /*ignore_case=*/true); end >= 0) return end;

  // [^\r\n\p{L}\p{N}]?\p{L}+
  const bool may_lead =
      !s.IsLineBreak(i) && !s.Is(i, CharClass::kLetter) && !s.Is(i, CharClass::kNumber);
  const int letters = may_lead && s.Is(i + 1, CharClass::kLetter) ? i + 1 : i;
  if (int end = s.RunEnd(letters, CharClass::kLetter); end > letters) return end;

  // \p{N}{1,max_digits}
  int end = i;
  while (end - i < max_digits && s.Is(end, CharClass::kNumber)) ++end;
  if (end > i) return end;

  // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
  if (end = s.SpaceThenRun(i, CharClass::kOther); end >= 0) {
    while (s.IsLineBreak(end)) ++end;
    return end;
  }

  // \s*[\r\n]+: the white space up to and including the last line break of the run.
  const int space_end = s.RunEnd(i, CharClass::kSpace);
  for (int j = space_end - 1; j >= i; --j) {
    if (s.IsLineBreak(j)) return j + 1;
  }
  return s.SpaceRun(i);
}

}  // namespace

std::optional<SplitPattern> SplitPatternFromRegex(absl::string_view regex) {
  for (SplitPattern pattern : {SplitPattern::kGpt2, SplitPattern::kLlama3, SplitPattern::kQwen2}) {
    if (regex == SplitPatternRegex(pattern)) return pattern;
  }
  return std::nullopt;
}

absl::string_view SplitPatternRegex(SplitPattern pattern) {
  switch (pattern) {
    case SplitPattern::kGpt2:
      return kGpt2Regex;
    case SplitPattern::kLlama3:
      return kLlama3Regex;
    case SplitPattern::kQwen2:
      return kQwen2Regex;
  }
  return "";
}

std::vector<absl::string_view> SplitWithPattern(absl::string_view text, SplitPattern pattern) {
  const Scanner scanner(text);
  std::vector<absl::string_view> pieces;
  int i = 0;
  while (i < scanner.size()) {
    int end = -1;
    switch (pattern) {
      case SplitPattern::kGpt2:
        end = NextGpt2(scanner, i);
        break;
      case SplitPattern::kLlama3:
        end = NextLlama3(scanner, i, /*max_digits=*/3);
        break;
      case SplitPattern::kQwen2:
        end = NextLlama3(scanner, i, /*max_digits=*/1);
        break;
    }
    // Every character is a letter, a number, white space or other, and each pattern has an
    // alternative for each class; the guard only keeps a mistake from looping forever.
    if (end <= i) end = i + 1;
    pieces.push_back(scanner.Piece(i, end));
    i = end;
  }
  return pieces;
}

}  // namespace rattn::engine
