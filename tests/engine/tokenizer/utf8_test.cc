// UTF-8 scanning: well-formed characters, where a cut-off character is reported, and how
// ill-formed bytes group into maximal subparts (each one U+FFFD).
#include "engine/tokenizer/utf8.h"

#include <string>

#include "gtest/gtest.h"

namespace rattn::engine {
namespace {

TEST(Utf8Test, ScansCharactersOfEveryLength) {
  for (const std::string text : {"A", "\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80"}) {
    const Utf8Unit unit = ScanUtf8(text + "tail");
    EXPECT_EQ(unit.kind, Utf8Unit::Kind::kCharacter) << text;
    EXPECT_EQ(unit.length, static_cast<int>(text.size())) << text;
  }
  EXPECT_EQ(ScanUtf8("\xC3\xA9").code_point, U'\u00E9');
  EXPECT_EQ(ScanUtf8("\xF0\x9F\x98\x80").code_point, U'\U0001F600');
  EXPECT_EQ(ScanUtf8("\xF4\x8F\xBF\xBF").code_point, U'\U0010FFFF');
}

TEST(Utf8Test, ReportsACharacterCutOffByTheEndAsIncomplete) {
  const Utf8Unit unit = ScanUtf8("\xF0\x9F\x98");
  EXPECT_EQ(unit.kind, Utf8Unit::Kind::kIncomplete);
  EXPECT_EQ(unit.length, 3);
}

TEST(Utf8Test, GroupsIllFormedBytesIntoMaximalSubparts) {
  struct Case {
    std::string bytes;
    int length;
  };
  for (const Case& c : std::initializer_list<Case>{
           {"\xE2\x41", 1},          // a lead byte followed by ASCII
           {"\xF0\x9F\x41", 2},      // two bytes that begin an emoji, then ASCII
           {"\xE0\x80\x80", 1},      // overlong: E0 needs A0..BF next
           {"\xED\xA0\x80", 1},      // a surrogate: ED needs 80..9F next
           {"\xF4\x90\x80\x80", 1},  // above U+10FFFF
           {"\xC0\xAF", 1},          // C0 never begins a character
           {"\x80", 1},              // a lone continuation byte
           {"\xFF", 1}}) {
    const Utf8Unit unit = ScanUtf8(c.bytes);
    EXPECT_EQ(unit.kind, Utf8Unit::Kind::kInvalid) << ::testing::PrintToString(c.bytes);
    EXPECT_EQ(unit.length, c.length) << ::testing::PrintToString(c.bytes);
  }
}

TEST(Utf8Test, FindsTheOffsetOfTheFirstBadByte) {
  EXPECT_EQ(FindInvalidUtf8("plain caf\xC3\xA9 \xF0\x9F\x98\x80"), std::nullopt);
  EXPECT_EQ(FindInvalidUtf8(""), std::nullopt);
  EXPECT_EQ(FindInvalidUtf8("ab\xFF"), 2u);
  EXPECT_EQ(FindInvalidUtf8("\xC3\xA9x\xE2\x82"), 3u);  // cut off at the end
  EXPECT_EQ(FindInvalidUtf8("\xED\xA0\x80"), 0u);
}

TEST(Utf8Test, AppendUtf8EncodesEveryLength) {
  std::string out;
  for (char32_t c : {U'A', U'\u00E9', U'\u20AC', U'\U0001F600'}) AppendUtf8(c, &out);
  EXPECT_EQ(out, "A\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80");
}

}  // namespace
}  // namespace rattn::engine
