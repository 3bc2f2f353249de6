// The pre-tokenizer scanners against the matches of their regular expressions. The expected
// splits were produced with Python's `regex` module (which implements \p{L}, \p{N} and the
// look-ahead) from the patterns in pre_tokenizer.h, and read over by hand.
#include "engine/tokenizer/pre_tokenizer.h"

#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace rattn::engine {
namespace {

struct SplitCase {
  std::string text;
  std::vector<std::string> gpt2;
  std::vector<std::string> llama3;
  std::vector<std::string> qwen2;
};

const SplitCase kCases[] = {
    {"Hello world", {"Hello", " world"}, {"Hello", " world"}, {"Hello", " world"}},
    {"the cat's 1234 dogs!!",
     {"the", " cat", "'s", " 1234", " dogs", "!!"},
     {"the", " cat", "'s", " ", "123", "4", " dogs", "!!"},
     {"the", " cat", "'s", " ", "1", "2", "3", "4", " dogs", "!!"}},
    {"I'M here, you'RE there; we'll see'd",
     {"I", "'", "M", " here", ",", " you", "'", "RE", " there", ";", " we", "'ll", " see", "'d"},
     {"I", "'M", " here", ",", " you", "'RE", " there", ";", " we", "'ll", " see", "'d"},
     {"I", "'M", " here", ",", " you", "'RE", " there", ";", " we", "'ll", " see", "'d"}},
    {"don't  stop\n\nnow",
     {"don", "'t", " ", " stop", "\n", "\n", "now"},
     {"don", "'t", " ", " stop", "\n\n", "now"},
     {"don", "'t", " ", " stop", "\n\n", "now"}},
    {"a  b", {"a", " ", " b"}, {"a", " ", " b"}, {"a", " ", " b"}},
    {"x   ", {"x", "   "}, {"x", "   "}, {"x", "   "}},
    {"  lead", {" ", " lead"}, {" ", " lead"}, {" ", " lead"}},
    {"tab\tx", {"tab", "\t", "x"}, {"tab", "\tx"}, {"tab", "\tx"}},
    {"line\r\nbreak",
     {"line", "\r", "\n", "break"},
     {"line", "\r\n", "break"},
     {"line", "\r\n", "break"}},
    {"end.\n\n", {"end", ".", "\n\n"}, {"end", ".\n\n"}, {"end", ".\n\n"}},
    {"12345 67890",
     {"12345", " 67890"},
     {"123", "45", " ", "678", "90"},
     {"1", "2", "3", "4", "5", " ", "6", "7", "8", "9", "0"}},
    {"caf\xC3\xA9 na\xC3\xAFve",
     {"caf\xC3\xA9", " na\xC3\xAFve"},
     {"caf\xC3\xA9", " na\xC3\xAFve"},
     {"caf\xC3\xA9", " na\xC3\xAFve"}},
    {"\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xE3\x81\xAE\xE3\x83\x86\xE3\x82\xAD\xE3\x82\xB9\xE3\x83"
     "\x88",
     {"\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xE3\x81\xAE\xE3\x83\x86\xE3\x82\xAD\xE3\x82\xB9\xE3\x83"
      "\x88"},
     {"\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xE3\x81\xAE\xE3\x83\x86\xE3\x82\xAD\xE3\x82\xB9\xE3\x83"
      "\x88"},
     {"\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xE3\x81\xAE\xE3\x83\x86\xE3\x82\xAD\xE3\x82\xB9\xE3\x83"
      "\x88"}},
    {"emoji \xF0\x9F\x98\x80\xF0\x9F\x98\x80 ok",
     {"emoji", " \xF0\x9F\x98\x80\xF0\x9F\x98\x80", " ok"},
     {"emoji", " \xF0\x9F\x98\x80\xF0\x9F\x98\x80", " ok"},
     {"emoji", " \xF0\x9F\x98\x80\xF0\x9F\x98\x80", " ok"}},
    {"\xE0\xA4\xAE\xE0\xA4\xA8\xE0\xA5\x81\xE0\xA4\xB7\xE0\xA5\x8D\xE0\xA4\xAF",
     {"\xE0\xA4\xAE\xE0\xA4\xA8", "\xE0\xA5\x81", "\xE0\xA4\xB7", "\xE0\xA5\x8D", "\xE0\xA4\xAF"},
     {"\xE0\xA4\xAE\xE0\xA4\xA8", "\xE0\xA5\x81\xE0\xA4\xB7", "\xE0\xA5\x8D\xE0\xA4\xAF"},
     {"\xE0\xA4\xAE\xE0\xA4\xA8", "\xE0\xA5\x81\xE0\xA4\xB7", "\xE0\xA5\x8D\xE0\xA4\xAF"}},
    {"z\xCC\xB7"
     "a\xCC\xB6l",
     {"z", "\xCC\xB7", "a", "\xCC\xB6", "l"},
     {"z",
      "\xCC\xB7"
      "a",
      "\xCC\xB6l"},
     {"z",
      "\xCC\xB7"
      "a",
      "\xCC\xB6l"}},
    {"\xC2\xA0nbsp\xE3\x80\x80ideo",
     {"\xC2\xA0", "nbsp", "\xE3\x80\x80", "ideo"},
     {"\xC2\xA0nbsp", "\xE3\x80\x80ideo"},
     {"\xC2\xA0nbsp", "\xE3\x80\x80ideo"}},
    {"\xC2\xBD \xC2\xB2 \xE2\x85\xAB",
     {"\xC2\xBD", " \xC2\xB2", " \xE2\x85\xAB"},
     {"\xC2\xBD", " ", "\xC2\xB2", " ", "\xE2\x85\xAB"},
     {"\xC2\xBD", " ", "\xC2\xB2", " ", "\xE2\x85\xAB"}},
    {"foo--bar ...",
     {"foo", "--", "bar", " ..."},
     {"foo", "--", "bar", " ..."},
     {"foo", "--", "bar", " ..."}},
    {"'s's 'x", {"'s", "'s", " '", "x"}, {"'s", "'s", " '", "x"}, {"'s", "'s", " '", "x"}},
};

std::vector<std::string> Split(const std::string& text, SplitPattern pattern) {
  std::vector<std::string> pieces;
  for (absl::string_view piece : SplitWithPattern(text, pattern)) pieces.emplace_back(piece);
  return pieces;
}

TEST(PreTokenizerTest, Gpt2SplitsAsItsRegex) {
  for (const SplitCase& c : kCases) {
    EXPECT_EQ(Split(c.text, SplitPattern::kGpt2), c.gpt2) << ::testing::PrintToString(c.text);
  }
}

TEST(PreTokenizerTest, Llama3SplitsAsItsRegex) {
  for (const SplitCase& c : kCases) {
    EXPECT_EQ(Split(c.text, SplitPattern::kLlama3), c.llama3) << ::testing::PrintToString(c.text);
  }
}

TEST(PreTokenizerTest, Qwen2SplitsAsItsRegex) {
  for (const SplitCase& c : kCases) {
    EXPECT_EQ(Split(c.text, SplitPattern::kQwen2), c.qwen2) << ::testing::PrintToString(c.text);
  }
}

TEST(PreTokenizerTest, PiecesCoverTheTextWithoutEmptyOnes) {
  const std::string text = "  mixed\t\tspacing\r\n\r\n 42x  y!?\n";
  for (SplitPattern pattern : {SplitPattern::kGpt2, SplitPattern::kLlama3, SplitPattern::kQwen2}) {
    const std::vector<std::string> pieces = Split(text, pattern);
    EXPECT_EQ(absl::StrJoin(pieces, ""), text);
    for (const std::string& piece : pieces) EXPECT_FALSE(piece.empty());
  }
  EXPECT_TRUE(SplitWithPattern("", SplitPattern::kGpt2).empty());
}

TEST(PreTokenizerTest, KnowsTheRegexesAsTokenizerJsonSpellsThem) {
  // As they appear in the tokenizer.json files of Llama 3 and Qwen2 (JSON-escaped).
  const auto regexes = nlohmann::json::parse(
      R"json({"gpt2": "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+)json"
      R"json(|\\s+(?!\\S)|\\s+",)json"
      R"json("llama3": "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3})json"
      R"json(| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",)json"
      R"json("qwen2": "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N})json"
      R"json(| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"})json");
  EXPECT_EQ(SplitPatternFromRegex(regexes["gpt2"].get<std::string>()), SplitPattern::kGpt2);
  EXPECT_EQ(SplitPatternFromRegex(regexes["llama3"].get<std::string>()), SplitPattern::kLlama3);
  EXPECT_EQ(SplitPatternFromRegex(regexes["qwen2"].get<std::string>()), SplitPattern::kQwen2);
}

TEST(PreTokenizerTest, RecognizesOnlyTheExactRegexes) {
  for (SplitPattern pattern : {SplitPattern::kGpt2, SplitPattern::kLlama3, SplitPattern::kQwen2}) {
    EXPECT_EQ(SplitPatternFromRegex(SplitPatternRegex(pattern)), pattern);
  }
  EXPECT_EQ(SplitPatternFromRegex(R"re(\s+|\S+)re"), std::nullopt);
  std::string almost(SplitPatternRegex(SplitPattern::kGpt2));
  almost.pop_back();
  EXPECT_EQ(SplitPatternFromRegex(almost), std::nullopt);
}

}  // namespace
}  // namespace rattn::engine
