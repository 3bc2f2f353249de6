// The incremental detokenizer: characters split across tokens are held back and released whole,
// ill-formed bytes become U+FFFD at once, and on random byte streams the pieces are always
// well-formed and join to the same text as repairing the whole stream in one go (checked against
// a reference repair written here from the Unicode definitions, independent of utf8.cc).
#include "engine/tokenizer/incremental_detokenizer.h"

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <unordered_set>
#include <vector>

#include "engine/tokenizer/byte_tokenizer.h"
#include "gtest/gtest.h"

namespace rattn::engine {
namespace {

const std::string kReplacement = "\xEF\xBF\xBD";

// --- A reference repair, from the definitions rather than a table of lead bytes. ---

std::string EncodeScalar(char32_t c) {
  std::string out;
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
  return out;
}

bool IsScalar(char32_t c) { return c <= 0x10FFFF && (c < 0xD800 || c > 0xDFFF); }

// Whether `bytes` is exactly the encoding of one scalar value: decoded by its bit pattern, then
// re-encoded, which rules out overlong forms.
bool IsOneCharacter(const std::string& bytes) {
  const auto lead = static_cast<uint8_t>(bytes[0]);
  int length = 0;
  char32_t c = 0;
  if (lead < 0x80) {
    length = 1, c = lead;
  } else if ((lead & 0xE0) == 0xC0) {
    length = 2, c = lead & 0x1F;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3, c = lead & 0x0F;
  } else if ((lead & 0xF8) == 0xF0) {
    length = 4, c = lead & 0x07;
  } else {
    return false;
  }
  if (static_cast<int>(bytes.size()) != length) return false;
  for (int i = 1; i < length; ++i) {
    const auto byte = static_cast<uint8_t>(bytes[i]);
    if ((byte & 0xC0) != 0x80) return false;
    c = (c << 6) | (byte & 0x3F);
  }
  return IsScalar(c) && EncodeScalar(c) == bytes;
}

// Every proper prefix of the encoding of every scalar value.
const std::unordered_set<std::string>& ProperPrefixes() {
  static const auto* prefixes = [] {
    auto* set = new std::unordered_set<std::string>();
    for (char32_t c = 0x80; c <= 0x10FFFF; ++c) {
      if (!IsScalar(c)) continue;
      const std::string bytes = EncodeScalar(c);
      for (size_t n = 1; n < bytes.size(); ++n) set->insert(bytes.substr(0, n));
    }
    return set;
  }();
  return *prefixes;
}

// Each character kept; each maximal ill-formed subpart (the longest run that begins some
// character, or else one byte) replaced by one U+FFFD.
std::string ReferenceRepair(const std::string& bytes) {
  std::string out;
  size_t i = 0;
  while (i < bytes.size()) {
    bool found = false;
    for (size_t n = 1; n <= 4 && i + n <= bytes.size(); ++n) {
      if (IsOneCharacter(bytes.substr(i, n))) {
        out += bytes.substr(i, n);
        i += n;
        found = true;
        break;
      }
    }
    if (found) continue;
    size_t subpart = 1;
    for (size_t n = 3; n >= 1; --n) {
      if (i + n <= bytes.size() && ProperPrefixes().count(bytes.substr(i, n)) > 0) {
        subpart = n;
        break;
      }
    }
    out += kReplacement;
    i += subpart;
  }
  return out;
}

// A tokenizer whose tokens stand for whatever bytes a test gives them.
class TableTokenizer : public Tokenizer {
 public:
  explicit TableTokenizer(std::vector<std::string> table) : table_(std::move(table)) {}
  absl::string_view kind() const override { return "table"; }
  int vocab_size() const override { return static_cast<int>(table_.size()); }
  absl::StatusOr<std::vector<int32_t>> Encode(absl::string_view, bool) const override {
    return absl::UnimplementedError("test tokenizer");
  }
  std::string TokenBytes(int32_t token) const override { return table_[token]; }
  std::optional<int32_t> bos_token() const override { return std::nullopt; }
  std::optional<int32_t> eos_token() const override { return std::nullopt; }

 private:
  std::vector<std::string> table_;
};

std::unique_ptr<ByteTokenizer> Bytes() {
  auto tokenizer = ByteTokenizer::Create(259);
  EXPECT_TRUE(tokenizer.ok());
  return std::move(tokenizer).value();
}

// --- Tests. ---

TEST(IncrementalDetokenizerTest, ReferenceRepairFollowsTheUnicodePractice) {
  // Expected values as Python's bytes.decode("utf-8", "replace") gives them.
  EXPECT_EQ(ReferenceRepair("\xE2\x41"), kReplacement + "A");
  EXPECT_EQ(ReferenceRepair("\xF0\x9F\x41"), kReplacement + "A");
  EXPECT_EQ(ReferenceRepair("\xE0\x80"), kReplacement + kReplacement);
  EXPECT_EQ(ReferenceRepair("\xED\xA0\x80"), kReplacement + kReplacement + kReplacement);
  EXPECT_EQ(ReferenceRepair("\xF0\x9F\x98"), kReplacement);
  EXPECT_EQ(ReferenceRepair("ok\xF0\x9F\x98\x80"), "ok\xF0\x9F\x98\x80");
}

TEST(IncrementalDetokenizerTest, HoldsAFourByteCharacterUntilItsLastByte) {
  auto bytes = Bytes();
  IncrementalDetokenizer detokenizer(*bytes);
  EXPECT_EQ(detokenizer.Append(0xF0), "");
  EXPECT_EQ(detokenizer.Append(0x9F), "");
  EXPECT_EQ(detokenizer.Append(0x98), "");
  EXPECT_EQ(detokenizer.Append(0x80), "\xF0\x9F\x98\x80");
  EXPECT_EQ(detokenizer.Flush(), "");
}

TEST(IncrementalDetokenizerTest, ReplacesInvalidBytesAsSoonAsTheyAreKnown) {
  auto bytes = Bytes();
  IncrementalDetokenizer detokenizer(*bytes);
  EXPECT_EQ(detokenizer.Append(0xFF), kReplacement);
  EXPECT_EQ(detokenizer.Append(0x80), kReplacement);  // a continuation byte with no lead
  EXPECT_EQ(detokenizer.Append(0xE2), "");
  EXPECT_EQ(detokenizer.Append('A'), kReplacement + "A");
  EXPECT_EQ(detokenizer.Append(0xED), "");
  EXPECT_EQ(detokenizer.Append(0xA0), kReplacement + kReplacement);  // a surrogate's start
  EXPECT_EQ(detokenizer.Flush(), "");
}

TEST(IncrementalDetokenizerTest, FlushReplacesAnIncompleteTail) {
  auto bytes = Bytes();
  IncrementalDetokenizer detokenizer(*bytes);
  EXPECT_EQ(detokenizer.Append('x'), "x");
  EXPECT_EQ(detokenizer.Append(0xF0), "");
  EXPECT_EQ(detokenizer.Append(0x9F), "");
  EXPECT_EQ(detokenizer.Flush(), kReplacement);
  EXPECT_EQ(detokenizer.Flush(), "");
  EXPECT_EQ(detokenizer.Append('y'), "y");  // usable for a new stream
}

TEST(IncrementalDetokenizerTest, SpecialTokensAddNothing) {
  auto bytes = Bytes();
  IncrementalDetokenizer detokenizer(*bytes);
  EXPECT_EQ(detokenizer.Append(ByteTokenizer::kBosToken), "");
  EXPECT_EQ(detokenizer.Append(0xC3), "");
  EXPECT_EQ(detokenizer.Append(ByteTokenizer::kPadToken), "");
  EXPECT_EQ(detokenizer.Append(0xA9), "\xC3\xA9");
}

// A tokenizer that, as SentencePiece does, drops a token's leading space at the start of a text.
class LeadingSpaceTokenizer : public TableTokenizer {
 public:
  using TableTokenizer::TableTokenizer;
  std::string TokenBytesAtTextStart(int32_t token) const override {
    std::string bytes = TokenBytes(token);
    if (!bytes.empty() && bytes[0] == ' ') bytes.erase(0, 1);
    return bytes;
  }
};

TEST(IncrementalDetokenizerTest, ATextStartReadsTokensAtTextStartUntilOneGivesBytes) {
  LeadingSpaceTokenizer tokenizer({"", " ", " a", " b"});
  IncrementalDetokenizer text(tokenizer, IncrementalDetokenizer::Start::kTextStart);
  EXPECT_EQ(text.Append(0), "");    // a control token gives nothing
  EXPECT_EQ(text.Append(1), "");    // a lone space piece is dropped whole
  EXPECT_EQ(text.Append(2), "a");   // its space dropped
  EXPECT_EQ(text.Append(3), " b");  // past the start: kept
  EXPECT_EQ(text.Flush(), "");
  EXPECT_EQ(text.Append(2), "a");  // a new stream starts again

  IncrementalDetokenizer continuation(tokenizer);
  EXPECT_EQ(continuation.Append(2), " a");
}

TEST(IncrementalDetokenizerTest, MultiByteTokensReleaseOnlyWholeCharacters) {
  // "é" split as C3 | A9 + "x" + first half of "€", then the rest of "€".
  TableTokenizer tokenizer({"\xC3", "\xA9x\xE2\x82", "\xAC!"});
  IncrementalDetokenizer detokenizer(tokenizer);
  EXPECT_EQ(detokenizer.Append(0), "");
  EXPECT_EQ(detokenizer.Append(1), "\xC3\xA9x");
  EXPECT_EQ(detokenizer.Append(2), "\xE2\x82\xAC!");
}

// Random streams mixing characters, truncated characters and stray bytes, cut into tokens of
// zero to five bytes.
TEST(IncrementalDetokenizerTest, RandomStreamsMatchTheReferenceRepair) {
  std::mt19937 rng(20240611);
  const uint8_t kAwkward[] = {0x80, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0,
                              0xED, 0xEF, 0xF0, 0xF4, 0xF5, 0xFF, 0x00, 0x7F, 'a'};
  for (int trial = 0; trial < 300; ++trial) {
    std::string stream;
    const int parts = 1 + static_cast<int>(rng() % 40);
    for (int p = 0; p < parts; ++p) {
      const int choice = static_cast<int>(rng() % 3);
      if (choice == 2) {
        stream += static_cast<char>(kAwkward[rng() % sizeof(kAwkward)]);
        continue;
      }
      char32_t c = 0;
      do {
        const uint32_t limits[] = {0x80, 0x800, 0x10000, 0x110000};
        c = rng() % limits[rng() % 4];
      } while (!IsScalar(c));
      std::string encoded = EncodeScalar(c);
      if (choice == 1 && encoded.size() > 1) encoded.resize(1 + rng() % (encoded.size() - 1));
      stream += encoded;
    }

    std::vector<std::string> table;
    for (size_t at = 0; at < stream.size();) {
      const size_t length = std::min<size_t>(rng() % 6, stream.size() - at);
      table.push_back(stream.substr(at, length));
      at += length;
    }
    TableTokenizer tokenizer(table);
    IncrementalDetokenizer detokenizer(tokenizer);
    std::string joined;
    std::string fed;
    for (int32_t token = 0; token < tokenizer.vocab_size(); ++token) {
      const std::string piece = detokenizer.Append(token);
      fed += table[token];
      ASSERT_EQ(ReferenceRepair(piece), piece) << "a piece is not well-formed, trial " << trial;
      joined += piece;
      // Nothing is held but the start of one character: flushing now would give the repair of
      // everything fed so far.
      IncrementalDetokenizer probe = detokenizer;
      ASSERT_EQ(joined + probe.Flush(), ReferenceRepair(fed)) << "trial " << trial;
    }
    joined += detokenizer.Flush();
    EXPECT_EQ(joined, ReferenceRepair(stream)) << "trial " << trial;
  }
}

}  // namespace
}  // namespace rattn::engine
