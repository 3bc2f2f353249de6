// The byte tokenizer: byte ids, the special ids the vocabulary size leaves room for, and the
// refusal of text that is not UTF-8.
#include "engine/tokenizer/byte_tokenizer.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace rattn::engine {
namespace {

std::string JoinTokenBytes(const Tokenizer& tokenizer, const std::vector<int32_t>& ids) {
  std::string bytes;
  for (int32_t id : ids) bytes += tokenizer.TokenBytes(id);
  return bytes;
}

TEST(ByteTokenizerTest, EncodesEachUtf8ByteAsItsValue) {
  auto tokenizer = ByteTokenizer::Create(512);
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  auto ids = (*tokenizer)->Encode("h\xC3\xA9!", /*add_bos=*/false);
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_EQ(*ids, (std::vector<int32_t>{'h', 0xC3, 0xA9, '!'}));
  EXPECT_EQ((*tokenizer)->kind(), "byte");
  EXPECT_EQ((*tokenizer)->vocab_size(), 512);
}

TEST(ByteTokenizerTest, RoundTripsTextThroughTokenBytes) {
  auto tokenizer = ByteTokenizer::Create(259);
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  for (const std::string text :
       {"", "plain ASCII", "caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x98\x80", "\n\t\x01"}) {
    auto ids = (*tokenizer)->Encode(text, /*add_bos=*/true);
    ASSERT_TRUE(ids.ok()) << ids.status();
    ASSERT_EQ(ids->size(), text.size() + 1);
    EXPECT_EQ(ids->front(), ByteTokenizer::kBosToken);
    EXPECT_EQ(JoinTokenBytes(**tokenizer, *ids), text);
  }
}

TEST(ByteTokenizerTest, SpecialTokensExistOnlyWhenTheVocabularyHasRoom) {
  auto bytes_only = ByteTokenizer::Create(256);
  ASSERT_TRUE(bytes_only.ok());
  EXPECT_EQ((*bytes_only)->bos_token(), std::nullopt);
  EXPECT_EQ((*bytes_only)->eos_token(), std::nullopt);
  auto ids = (*bytes_only)->Encode("a", /*add_bos=*/true);
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(*ids, std::vector<int32_t>{'a'});  // no bos to add

  auto with_bos = ByteTokenizer::Create(257);
  ASSERT_TRUE(with_bos.ok());
  EXPECT_EQ((*with_bos)->bos_token(), 256);
  EXPECT_EQ((*with_bos)->eos_token(), std::nullopt);

  auto all = ByteTokenizer::Create(300);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ((*all)->bos_token(), 256);
  EXPECT_EQ((*all)->eos_token(), 257);
  EXPECT_EQ((*all)->SpecialTokenName(256), "<|bos|>");
  EXPECT_EQ((*all)->SpecialTokenName(257), "<|eos|>");
  EXPECT_EQ((*all)->SpecialTokenName(258), "<|pad|>");
  EXPECT_EQ((*all)->SpecialTokenName(259), "");
  EXPECT_EQ((*with_bos)->SpecialTokenName(257), "");
  for (int32_t special : {256, 257, 258, 299, 300, -1}) {
    EXPECT_EQ((*all)->TokenBytes(special), "") << special;
  }
}

TEST(ByteTokenizerTest, TokenBytesOfAByteTokenIsTheRawByte) {
  auto tokenizer = ByteTokenizer::Create(256);
  ASSERT_TRUE(tokenizer.ok());
  EXPECT_EQ((*tokenizer)->TokenBytes(0xF0), "\xF0");  // the first byte of a 4-byte character
  EXPECT_EQ((*tokenizer)->TokenBytes(0), std::string(1, '\0'));
}

TEST(ByteTokenizerTest, RefusesTextThatIsNotUtf8AndNamesTheOffset) {
  auto tokenizer = ByteTokenizer::Create(256);
  ASSERT_TRUE(tokenizer.ok());
  auto ids = (*tokenizer)->Encode("ok\xC3\xA9\xFFmore", /*add_bos=*/false);
  ASSERT_FALSE(ids.ok());
  EXPECT_EQ(ids.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(ids.status().message().find("byte 4"), absl::string_view::npos) << ids.status();
}

TEST(ByteTokenizerTest, RefusesAVocabularySmallerThanTheBytes) {
  auto tokenizer = ByteTokenizer::Create(255);
  ASSERT_FALSE(tokenizer.ok());
  EXPECT_EQ(tokenizer.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace rattn::engine
