// The byte-level BPE tokenizer on a small hand-written tokenizer.json: GPT-2's byte alphabet,
// seventeen merges and three added tokens. Every expected id list below was worked out by hand
// from the merge ranks (lowest rank first, leftmost among equals); the comments show the work.
#include "engine/tokenizer/bpe_tokenizer.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "engine/tokenizer/byte_level.h"
#include "engine/tokenizer/pre_tokenizer.h"
#include "engine/tokenizer/tokenizer.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/test_util.h"

namespace rattn::engine {
namespace {

using nlohmann::json;
using Ids = std::vector<int32_t>;

// GPT-2's alphabet as its published table defines it, written here apart from byte_level.cc:
// the printable Latin-1 bytes stand for themselves, the others take U+0100 on, in byte order.
std::string Gpt2Symbol(int byte) {
  static const auto* table = [] {
    auto* symbols = new std::vector<std::string>(256);
    int substitute = 0x100;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      const int c = printable ? b : substitute++;
      std::string& s = (*symbols)[b];
      if (c < 0x80) {
        s = std::string(1, static_cast<char>(c));
      } else {
        s = {static_cast<char>(0xC0 | (c >> 6)), static_cast<char>(0x80 | (c & 0x3F))};
      }
    }
    return symbols;
  }();
  return (*table)[byte];
}

// Ids 0..255 are the bytes; merge r makes id 256 + r; "dog" (273) is in the vocabulary but no
// merge makes it. "Ġ" is the space, "Ã©" the bytes of "é".
const std::vector<std::pair<std::string, std::string>> kMerges = {
    {"Ġ", "t"}, {"h", "e"},  {"Ġt", "he"},  {"a", "t"},  {"Ġ", "c"}, {"Ġc", "at"},
    {"'", "s"}, {"1", "2"},  {"3", "4"},    {"12", "3"}, {"o", "o"}, {"Ã", "©"},
    {"c", "a"}, {"ca", "f"}, {"caf", "Ã©"}, {"Ġ", "Ġ"},  {"!", "!"},
};

json TokenizerJsonWith(json pre_tokenizer, bool ignore_merges) {
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[Gpt2Symbol(b)] = b;
  json merges = json::array();
  for (size_t rank = 0; rank < kMerges.size(); ++rank) {
    const auto& [left, right] = kMerges[rank];
    vocab[left + right] = 256 + rank;
    // Both spellings tokenizer.json uses: "a b" and ["a", "b"].
    if (rank % 2 == 0) {
      merges.push_back(left + " " + right);
    } else {
      merges.push_back(json::array({left, right}));
    }
  }
  vocab["dog"] = 273;
  return {
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens",
       {{{"id", 300},
         {"content", "<|endoftext|>"},
         {"special", true},
         {"lstrip", false},
         {"rstrip", false},
         {"single_word", false},
         {"normalized", false}},
        {{"id", 301}, {"content", "<tool>"}, {"special", false}},
        {{"id", 302}, {"content", "<tool>!"}, {"special", false}}}},
      {"normalizer", nullptr},
      {"pre_tokenizer", pre_tokenizer},
      {"post_processor", nullptr},
      {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"use_regex", true}}},
      {"model",
       {{"type", "BPE"},
        {"dropout", nullptr},
        {"unk_token", nullptr},
        {"fuse_unk", false},
        {"byte_fallback", false},
        {"ignore_merges", ignore_merges},
        {"vocab", vocab},
        {"merges", merges}}},
  };
}

json Gpt2Json() {
  return TokenizerJsonWith(
      {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}},
      /*ignore_merges=*/false);
}

json Llama3Json() {
  json split = {{"type", "Split"},
                {"pattern", {{"Regex", std::string(SplitPatternRegex(SplitPattern::kLlama3))}}},
                {"behavior", "Isolated"},
                {"invert", false}};
  json byte_level = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}};
  return TokenizerJsonWith({{"type", "Sequence"}, {"pretokenizers", {split, byte_level}}},
                           /*ignore_merges=*/true);
}

std::unique_ptr<BpeTokenizer> Load(const json& tokenizer_json,
                                   const BpeTokenizer::Options& options = {}) {
  auto tokenizer = BpeTokenizer::FromJson(tokenizer_json.dump(), "tokenizer.json", options);
  EXPECT_TRUE(tokenizer.ok()) << tokenizer.status();
  return tokenizer.ok() ? std::move(tokenizer).value() : nullptr;
}

Ids Encode(const Tokenizer& tokenizer, const std::string& text) {
  auto ids = tokenizer.Encode(text, /*add_bos=*/false);
  EXPECT_TRUE(ids.ok()) << ids.status();
  return ids.ok() ? *ids : Ids{};
}

std::string Decode(const Tokenizer& tokenizer, const Ids& ids) {
  std::string text;
  for (int32_t id : ids) text += tokenizer.TokenBytes(id);
  return text;
}

TEST(BpeTokenizerTest, AlphabetMatchesGpt2sPublishedSymbols) {
  const ByteLevelAlphabet alphabet;
  EXPECT_EQ(alphabet.Symbol(' '), "\xC4\xA0");   // U+0120 'Ġ'
  EXPECT_EQ(alphabet.Symbol('\n'), "\xC4\x8A");  // U+010A 'Ċ'
  EXPECT_EQ(alphabet.Symbol(0x00), "\xC4\x80");  // U+0100 'Ā'
  EXPECT_EQ(alphabet.Symbol(0x7F), "\xC4\xA1");  // U+0121 'ġ'
  EXPECT_EQ(alphabet.Symbol(0xAD), "\xC5\x83");  // U+0143 'Ń', the last substitute
  EXPECT_EQ(alphabet.Symbol('A'), "A");
  for (int b = 0; b < 256; ++b) EXPECT_EQ(alphabet.Symbol(b), Gpt2Symbol(b)) << b;
  EXPECT_EQ(alphabet.ToBytes(alphabet.ToSymbols("caf\xC3\xA9 \x01")), "caf\xC3\xA9 \x01");
  EXPECT_EQ(alphabet.ToBytes("\xE2\x82\xAC"), std::nullopt);  // '€' is not in the alphabet
}

TEST(BpeTokenizerTest, MergesByRankWithinGpt2Pieces) {
  auto tokenizer = Load(Gpt2Json());
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_EQ(tokenizer->kind(), "bpe");
  EXPECT_EQ(tokenizer->vocab_size(), 303);
  // "the" | " cat" | "'s": t·he (h e is rank 1; no merge takes t he); Ġ c a t merges a·t (3),
  // then Ġ·c (4), then Ġc·at (5); '·s (6).
  EXPECT_EQ(Encode(*tokenizer, "the cat's"), (Ids{'t', 257, 261, 262}));
  // Ġ·t (0), h·e (1), Ġt·he (2).
  EXPECT_EQ(Encode(*tokenizer, " the"), (Ids{258}));
  // c a f Ã © : Ã·© (11), c·a (12), ca·f (13), caf·Ã© (14).
  EXPECT_EQ(Encode(*tokenizer, "caf\xC3\xA9"), (Ids{270}));
  // "1234" | " 123": 1·2 (7), 3·4 (8); no merge joins 12 34. Ġ 1 2 3: 1·2, 12·3 (9).
  EXPECT_EQ(Encode(*tokenizer, "1234 123"), (Ids{263, 264, ' ', 265}));
}

TEST(BpeTokenizerTest, SplitsSpacesAsGpt2Does) {
  auto tokenizer = Load(Gpt2Json());
  ASSERT_NE(tokenizer, nullptr);
  // "a" | " " | " b": of two spaces before a word, the last joins the word.
  EXPECT_EQ(Encode(*tokenizer, "a  b"), (Ids{'a', ' ', ' ', 'b'}));
  // "x" | "   ": Ġ·Ġ (15) merges the leftmost pair first.
  EXPECT_EQ(Encode(*tokenizer, "x   "), (Ids{'x', 271, ' '}));
  // "a" | "\n" | "\n" | "b".
  EXPECT_EQ(Encode(*tokenizer, "a\n\nb"), (Ids{'a', '\n', '\n', 'b'}));
}

TEST(BpeTokenizerTest, SplitsContractionsAndPunctuation) {
  auto tokenizer = Load(Gpt2Json());
  ASSERT_NE(tokenizer, nullptr);
  // "don" | "'t" | " we" | "'ll"
  EXPECT_EQ(Encode(*tokenizer, "don't we'll"),
            (Ids{'d', 'o', 'n', '\'', 't', ' ', 'w', 'e', '\'', 'l', 'l'}));
  // "wow" | "!!!": !·! (16) on the leftmost pair.
  EXPECT_EQ(Encode(*tokenizer, "wow!!!"), (Ids{'w', 'o', 'w', 272, '!'}));
}

TEST(BpeTokenizerTest, SpellsUnmergedNonAsciiAsByteTokens) {
  auto tokenizer = Load(Gpt2Json());
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_EQ(Encode(*tokenizer, "\xF0\x9F\x98\x80"), (Ids{0xF0, 0x9F, 0x98, 0x80}));
  EXPECT_EQ(tokenizer->TokenBytes(0xF0), "\xF0");
}

TEST(BpeTokenizerTest, MatchesAddedTokensLiterallyBeforeSplitting) {
  auto tokenizer = Load(Gpt2Json());
  ASSERT_NE(tokenizer, nullptr);
  // "foo" (o·o, 10) | <|endoftext|> | "bar" | <tool> | " baz"
  EXPECT_EQ(Encode(*tokenizer, "foo<|endoftext|>bar<tool> baz"),
            (Ids{'f', 266, 300, 'b', 'a', 'r', 301, ' ', 'b', 'a', 'z'}));
  // The longest added token wins where two start at the same place.
  EXPECT_EQ(Encode(*tokenizer, "<tool>!<tool>"), (Ids{302, 301}));
  EXPECT_EQ(Encode(*tokenizer, "<|endoftext|><|endoftext|>"), (Ids{300, 300}));
  // An incomplete one is ordinary text: "<" | "too" (o·o, 10).
  EXPECT_EQ(Encode(*tokenizer, "<too"), (Ids{'<', 't', 266}));
}

TEST(BpeTokenizerTest, Llama3PatternSplitsDigitsInThrees) {
  auto tokenizer = Load(Llama3Json());
  ASSERT_NE(tokenizer, nullptr);
  // "123" | "4" | " " | "123", where GPT-2 gives "1234" | " 123".
  EXPECT_EQ(Encode(*tokenizer, "1234 123"), (Ids{265, '4', ' ', 265}));
  EXPECT_EQ(Encode(*tokenizer, "the cat's"), (Ids{'t', 257, 261, 262}));
}

TEST(BpeTokenizerTest, IgnoreMergesTakesAWholePieceFromTheVocabulary) {
  auto gpt2 = Load(Gpt2Json());
  auto llama3 = Load(Llama3Json());
  ASSERT_NE(gpt2, nullptr);
  ASSERT_NE(llama3, nullptr);
  EXPECT_EQ(Encode(*gpt2, "dog"), (Ids{'d', 'o', 'g'}));  // no merge makes "dog"
  EXPECT_EQ(Encode(*llama3, "dog"), (Ids{273}));
}

TEST(BpeTokenizerTest, MergesALongPieceLeftmostFirst) {
  auto tokenizer = Load(Gpt2Json());
  ASSERT_NE(tokenizer, nullptr);
  // o·o (10) pairs the letters from the left, leaving the odd one last.
  Ids expected(5000, 266);
  expected.insert(expected.begin(), 'z');
  expected.push_back('o');
  EXPECT_EQ(Encode(*tokenizer, "z" + std::string(10001, 'o')), expected);
}

// The ids of a piece by the textbook procedure: merge the lowest-ranked adjacent pair, the
// leftmost among equals, until none is listed. Quadratic, and independent of the queue the
// tokenizer uses.
Ids TextbookMerge(absl::string_view piece) {
  std::vector<std::string> symbols;
  for (char byte : piece) symbols.push_back(Gpt2Symbol(static_cast<unsigned char>(byte)));
  for (;;) {
    size_t best_rank = kMerges.size();
    size_t best_at = 0;
    for (size_t i = 0; i + 1 < symbols.size(); ++i) {
      for (size_t rank = 0; rank < best_rank; ++rank) {
        if (kMerges[rank].first == symbols[i] && kMerges[rank].second == symbols[i + 1]) {
          best_rank = rank;
          best_at = i;
          break;
        }
      }
    }
    if (best_rank == kMerges.size()) break;
    symbols[best_at] += symbols[best_at + 1];
    symbols.erase(symbols.begin() + best_at + 1);
  }
  Ids ids;
  for (const std::string& symbol : symbols) {
    int32_t id = -1;
    for (int b = 0; b < 256; ++b) {
      if (Gpt2Symbol(b) == symbol) id = b;
    }
    for (size_t rank = 0; rank < kMerges.size(); ++rank) {
      if (kMerges[rank].first + kMerges[rank].second == symbol) id = 256 + rank;
    }
    ids.push_back(id);
  }
  return ids;
}

TEST(BpeTokenizerTest, RandomTextMergesAsTheTextbookProcedure) {
  auto tokenizer = Load(Gpt2Json());
  ASSERT_NE(tokenizer, nullptr);
  const std::vector<std::string> alphabet = {"t", "h", "e", "a", "c", "f", " ",        "'", "s",
                                             "1", "2", "3", "4", "o", "!", "\xC3\xA9", "x"};
  std::mt19937 rng(7);
  for (int trial = 0; trial < 500; ++trial) {
    std::string text;
    const int length = static_cast<int>(rng() % 30);
    for (int i = 0; i < length; ++i) text += alphabet[rng() % alphabet.size()];
    Ids expected;
    for (absl::string_view piece : SplitWithPattern(text, SplitPattern::kGpt2)) {
      const Ids ids = TextbookMerge(piece);
      expected.insert(expected.end(), ids.begin(), ids.end());
    }
    EXPECT_EQ(Encode(*tokenizer, text), expected) << ::testing::PrintToString(text);
  }
}

TEST(BpeTokenizerTest, TokenBytesReadsTheAlphabetBack) {
  auto tokenizer = Load(Gpt2Json());
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_EQ(tokenizer->TokenBytes(270), "caf\xC3\xA9");
  EXPECT_EQ(tokenizer->TokenBytes(258), " the");
  EXPECT_EQ(tokenizer->TokenBytes(271), "  ");
  EXPECT_EQ(tokenizer->TokenBytes('\n'), "\n");
  EXPECT_EQ(tokenizer->TokenBytes(300), "");  // special
  EXPECT_EQ(tokenizer->TokenBytes(301), "<tool>");
  EXPECT_EQ(tokenizer->TokenBytes(299), "");  // no token has this id
  EXPECT_EQ(tokenizer->TokenBytes(-1), "");
  for (const std::string text :
       {"the cat's 1234 dogs!!", "  spaced  out  ", "caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC",
        "tabs\tand\r\nlines", "x<tool>y"}) {
    EXPECT_EQ(Decode(*tokenizer, Encode(*tokenizer, text)), text);
  }
  EXPECT_EQ(Decode(*tokenizer, Encode(*tokenizer, "a<|endoftext|>b")), "ab");
}

TEST(BpeTokenizerTest, BosAndEosComeFromTheOptions) {
  auto tokenizer = Load(Gpt2Json(), {.bos_token = "<|endoftext|>", .eos_token = "<tool>"});
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_EQ(tokenizer->bos_token(), 300);
  EXPECT_EQ(tokenizer->eos_token(), 301);
  auto ids = tokenizer->Encode("the", /*add_bos=*/true);
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(*ids, (Ids{300, 't', 257}));

  auto plain = Load(Gpt2Json());
  ASSERT_NE(plain, nullptr);
  EXPECT_EQ(plain->bos_token(), std::nullopt);
  EXPECT_EQ(plain->TokenId("<|endoftext|>"), 300);
  EXPECT_EQ(plain->TokenId(" the"), 258);
}

TEST(BpeTokenizerTest, RefusesTextThatIsNotUtf8) {
  auto tokenizer = Load(Gpt2Json());
  ASSERT_NE(tokenizer, nullptr);
  auto ids = tokenizer->Encode("abc\xC3", /*add_bos=*/false);
  ASSERT_FALSE(ids.ok());
  EXPECT_EQ(ids.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(ids.status().message().find("byte 3"), absl::string_view::npos) << ids.status();
}

// Loading `tokenizer_json` fails with INVALID_ARGUMENT and a message holding `expected`.
void ExpectRefused(const std::string& tokenizer_json, const std::string& expected,
                   const BpeTokenizer::Options& options = {}) {
  auto tokenizer = BpeTokenizer::FromJson(tokenizer_json, "model/tokenizer.json", options);
  ASSERT_FALSE(tokenizer.ok()) << "accepted; expected an error about " << expected;
  EXPECT_EQ(tokenizer.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(tokenizer.status().message().find("model/tokenizer.json"), absl::string_view::npos)
      << tokenizer.status();
  EXPECT_NE(tokenizer.status().message().find(expected), absl::string_view::npos)
      << tokenizer.status();
}

TEST(BpeTokenizerTest, RefusesMalformedJson) {
  ExpectRefused("{\"model\": ", "model/tokenizer.json");
  ExpectRefused("[]", "top level");
}

TEST(BpeTokenizerTest, RefusesOtherModelTypes) {
  json j = Gpt2Json();
  j["model"]["type"] = "WordPiece";
  ExpectRefused(j.dump(), "model.type");
  j = Gpt2Json();
  j["model"]["dropout"] = 0.1;
  ExpectRefused(j.dump(), "model.dropout");
}

TEST(BpeTokenizerTest, RefusesMergesOutsideTheVocabulary) {
  json j = Gpt2Json();
  j["model"]["merges"].push_back("Ġ zz");
  ExpectRefused(j.dump(), "model.merges[17]");
  j = Gpt2Json();
  j["model"]["merges"].push_back("d o");  // "do" is not in the vocabulary
  ExpectRefused(j.dump(), "makes a token that is not in model.vocab");
  j = Gpt2Json();
  j["model"]["merges"].push_back("h e");
  ExpectRefused(j.dump(), "repeats an earlier merge");
  j = Gpt2Json();
  j["model"]["merges"].push_back("a b c");
  ExpectRefused(j.dump(), "model.merges[17]");
}

TEST(BpeTokenizerTest, RefusesInconsistentIds) {
  json j = Gpt2Json();
  j["model"]["vocab"]["dog"] = 5;
  ExpectRefused(j.dump(), "gives id 5");
  j = Gpt2Json();
  j["model"]["vocab"].erase(Gpt2Symbol(' '));
  ExpectRefused(j.dump(), "byte 0x20");
  j = Gpt2Json();
  j["added_tokens"][1]["id"] = 273;  // "dog"'s id
  ExpectRefused(j.dump(), "added_tokens[1]");
  j = Gpt2Json();
  j["model"]["vocab"]["huge"] = 1 << 23;
  ExpectRefused(j.dump(), "beyond the largest supported");
  ExpectRefused(Gpt2Json().dump(), "bos_token '<missing>'", {.bos_token = "<missing>"});
}

TEST(BpeTokenizerTest, RefusesTextChangingOrUnknownPipelineSteps) {
  json j = Gpt2Json();
  j["normalizer"] = {{"type", "NFC"}};
  ExpectRefused(j.dump(), "normalizer");
  j = Gpt2Json();
  j["pre_tokenizer"] = {{"type", "Whitespace"}};
  ExpectRefused(j.dump(), "pre_tokenizer.type");
  j = Gpt2Json();
  j.erase("pre_tokenizer");
  ExpectRefused(j.dump(), "pre_tokenizer");
  j = Gpt2Json();
  j["pre_tokenizer"]["add_prefix_space"] = true;
  ExpectRefused(j.dump(), "pre_tokenizer.add_prefix_space");
  j = Llama3Json();
  j["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "\\s+|\\S+";
  ExpectRefused(j.dump(), "pre_tokenizer.pretokenizers[0].pattern.Regex");
  j = Llama3Json();
  j["pre_tokenizer"]["pretokenizers"][0]["behavior"] = "Removed";
  ExpectRefused(j.dump(), "pre_tokenizer.pretokenizers[0].behavior");
  j = Gpt2Json();
  j["decoder"] = {{"type", "WordPiece"}};
  ExpectRefused(j.dump(), "decoder.type");
  j = Gpt2Json();
  j["added_tokens"][0]["lstrip"] = true;
  ExpectRefused(j.dump(), "added_tokens[0].lstrip");
}

TEST(BpeTokenizerTest, AcceptsAnEmptyNormalizerSequence) {
  json j = Gpt2Json();
  j["normalizer"] = {{"type", "Sequence"}, {"normalizers", json::array()}};
  auto tokenizer = Load(j);
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_EQ(Encode(*tokenizer, " the"), (Ids{258}));
}

TEST(BpeTokenizerTest, LoadTokenizerPrefersTokenizerJsonAndReadsItsConfig) {
  rattn::testing::ScratchDir scratch("load");
  const std::string dir = scratch.path();
  std::ofstream(dir + "/tokenizer.json") << Gpt2Json().dump();
  std::ofstream(dir + "/tokenizer.model") << "not read: tokenizer.json comes first";
  std::ofstream(dir + "/tokenizer_config.json")
      << R"({"bos_token": "<|endoftext|>", "eos_token": {"__type": "AddedToken",
             "content": "<tool>", "special": false}, "model_max_length": 1024})";
  auto tokenizer = LoadTokenizer(dir, 303);
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  EXPECT_EQ((*tokenizer)->kind(), "bpe");
  EXPECT_EQ((*tokenizer)->bos_token(), 300);
  EXPECT_EQ((*tokenizer)->eos_token(), 301);
  std::filesystem::remove_all(dir);
}

TEST(BpeTokenizerTest, LoadTokenizerRefusesIdsBeyondTheModelsVocabulary) {
  rattn::testing::ScratchDir scratch("vocab");
  const std::string dir = scratch.path();
  std::ofstream(dir + "/tokenizer.json") << Gpt2Json().dump();
  auto tokenizer = LoadTokenizer(dir, 302);
  ASSERT_FALSE(tokenizer.ok());
  EXPECT_EQ(tokenizer.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(tokenizer.status().message().find("ids up to 302"), absl::string_view::npos)
      << tokenizer.status();
  EXPECT_NE(tokenizer.status().message().find("vocab_size is 302"), absl::string_view::npos)
      << tokenizer.status();
  std::filesystem::remove_all(dir);
}

TEST(BpeTokenizerTest, LoadTokenizerRefusesAnUnknownSpecialTokenInTheConfig) {
  rattn::testing::ScratchDir scratch("config");
  const std::string dir = scratch.path();
  std::ofstream(dir + "/tokenizer.json") << Gpt2Json().dump();
  std::ofstream(dir + "/tokenizer_config.json") << R"({"eos_token": "</s>"})";
  auto tokenizer = LoadTokenizer(dir, 1000);
  ASSERT_FALSE(tokenizer.ok());
  EXPECT_NE(tokenizer.status().message().find("eos_token '</s>'"), absl::string_view::npos)
      << tokenizer.status();
  std::ofstream(dir + "/tokenizer_config.json") << R"({"eos_token": 7})";
  tokenizer = LoadTokenizer(dir, 1000);
  ASSERT_FALSE(tokenizer.ok());
  EXPECT_NE(tokenizer.status().message().find("tokenizer_config.json"), absl::string_view::npos)
      << tokenizer.status();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace rattn::engine
