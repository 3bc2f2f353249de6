// Choosing a model directory's tokenizer when it has no tokenizer file, the refusal of a file
// that is not one, and the UTF-8 check every Encode makes. (Picking tokenizer.json and
// tokenizer.model is tested beside those tokenizers.)
#include "engine/tokenizer/tokenizer.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace rattn::engine {
namespace {

TEST(LoadTokenizerTest, FallsBackToBytesWithoutATokenizerFile) {
  rattn::testing::ScratchDir scratch("bytes");
  const std::string dir = scratch.path();
  auto tokenizer = LoadTokenizer(dir, 260);
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  EXPECT_EQ((*tokenizer)->kind(), "byte");
  EXPECT_EQ((*tokenizer)->vocab_size(), 260);
  EXPECT_EQ((*tokenizer)->eos_token(), 257);
  std::filesystem::remove_all(dir);
}

TEST(LoadTokenizerTest, RefusesAVocabularyTooSmallForBytes) {
  rattn::testing::ScratchDir scratch("small");
  const std::string dir = scratch.path();
  auto tokenizer = LoadTokenizer(dir, 100);
  ASSERT_FALSE(tokenizer.ok());
  EXPECT_EQ(tokenizer.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(tokenizer.status().message().find("neither tokenizer.json nor tokenizer.model"),
            absl::string_view::npos)
      << tokenizer.status();
  std::filesystem::remove_all(dir);
}

TEST(LoadTokenizerTest, RefusesATokenizerFileThatIsNotOne) {
  rattn::testing::ScratchDir scratch("garbage");
  const std::string dir = scratch.path();
  std::ofstream(dir + "/tokenizer.json") << "{\"model\": {\"type\": \"Unigram\"}}";
  auto tokenizer = LoadTokenizer(dir, 1000);
  ASSERT_FALSE(tokenizer.ok());
  EXPECT_EQ(tokenizer.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(tokenizer.status().message().find(dir + "/tokenizer.json"), absl::string_view::npos)
      << tokenizer.status();
  std::filesystem::remove_all(dir);
}

TEST(CheckUtf8Test, AcceptsWellFormedTextAndNamesTheFirstBadByte) {
  EXPECT_TRUE(CheckUtf8("caf\xC3\xA9 \xF0\x9F\x98\x80").ok());
  const absl::Status status = CheckUtf8("ab\xC3\xA9\xC0\xAF");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("byte 4 (0xc0)"), absl::string_view::npos) << status;
}

}  // namespace
}  // namespace rattn::engine
