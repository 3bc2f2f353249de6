// The SentencePiece tokenizer against reference encodings made independently by the library's
// Python binding (tests/reference/make_sentencepiece_cases.py, run by the sentencepiece_setup
// fixture into $RATTN_SENTENCEPIECE_DIR): the same ids, and the same decoded text when the
// tokens' TokenBytes are streamed through the IncrementalDetokenizer.
//
// Leading space: the reference decodes whole texts, so these tests stream with
// IncrementalDetokenizer::Start::kTextStart, where tokens read TokenBytesAtTextStart (which drops
// the space of a leading U+2581, as SentencePiece's Decode does while its output is still empty)
// until one contributes bytes. A continuation (kContinuation) keeps that space; the last test
// checks both.
#include "engine/tokenizer/sentencepiece_tokenizer.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "engine/tokenizer/incremental_detokenizer.h"
#include "engine/tokenizer/tokenizer.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/test_util.h"

namespace rattn::engine {
namespace {

using nlohmann::json;

std::string ReferenceDir() {
  const char* dir = std::getenv("RATTN_SENTENCEPIECE_DIR");
  return dir != nullptr ? dir : "";
}

class SentencePieceTokenizerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(ReferenceDir().empty())
        << "RATTN_SENTENCEPIECE_DIR is not set; run this test through ctest, whose "
           "sentencepiece_setup fixture writes the reference cases";
    std::ifstream in(ReferenceDir() + "/cases.json");
    ASSERT_TRUE(in) << "cannot open " << ReferenceDir() << "/cases.json";
    std::stringstream text;
    text << in.rdbuf();
    reference_ = json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
    ASSERT_FALSE(reference_.is_discarded()) << "cases.json is not JSON";
    auto tokenizer = SentencePieceTokenizer::Load(ReferenceDir() + "/tokenizer.model");
    ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
    tokenizer_ = std::move(tokenizer).value();
  }

  // `ids` streamed through a detokenizer, every piece joined.
  std::string Stream(
      const std::vector<int32_t>& ids,
      IncrementalDetokenizer::Start start = IncrementalDetokenizer::Start::kTextStart) const {
    IncrementalDetokenizer detokenizer(*tokenizer_, start);
    std::string text;
    for (int32_t id : ids) text += detokenizer.Append(id);
    return text + detokenizer.Flush();
  }

  json reference_;
  std::unique_ptr<SentencePieceTokenizer> tokenizer_;
};

TEST_F(SentencePieceTokenizerTest, EncodesAsTheLibrarysPythonBinding) {
  ASSERT_GE(reference_["cases"].size(), 30u);
  int with_byte_fallback = 0;
  for (const json& c : reference_["cases"]) {
    const std::string text = c["text"].get<std::string>();
    auto ids = tokenizer_->Encode(text, /*add_bos=*/false);
    ASSERT_TRUE(ids.ok()) << ids.status();
    EXPECT_EQ(*ids, c["ids"].get<std::vector<int32_t>>()) << text;
    auto with_bos = tokenizer_->Encode(text, /*add_bos=*/true);
    ASSERT_TRUE(with_bos.ok()) << with_bos.status();
    EXPECT_EQ(*with_bos, c["ids_with_bos"].get<std::vector<int32_t>>()) << text;

    for (int32_t id : *ids) {
      if (tokenizer_->TokenBytes(id).size() == 1 &&
          static_cast<unsigned char>(tokenizer_->TokenBytes(id)[0]) >= 0x80) {
        ++with_byte_fallback;
        break;
      }
    }
  }
  EXPECT_GE(with_byte_fallback, 4) << "the cases should exercise byte-fallback pieces";
}

TEST_F(SentencePieceTokenizerTest, StreamedTokensDecodeAsTheLibraryDoes) {
  for (const json& c : reference_["cases"]) {
    EXPECT_EQ(Stream(c["ids"].get<std::vector<int32_t>>()), c["decoded"].get<std::string>())
        << c["text"].get<std::string>();
  }
}

TEST_F(SentencePieceTokenizerTest, EveryTokenAloneDecodesAsTheLibraryDoes) {
  ASSERT_EQ(static_cast<int>(reference_["single"].size()), tokenizer_->vocab_size());
  for (const json& single : reference_["single"]) {
    const int32_t id = single["id"].get<int32_t>();
    EXPECT_EQ(Stream({id}), single["decoded"].get<std::string>()) << "id " << id;
  }
}

TEST_F(SentencePieceTokenizerTest, DropsTheLeadingSpaceWhereTheLibraryDoes) {
  ASSERT_GE(reference_["sequences"].size(), 10u);
  for (const json& sequence : reference_["sequences"]) {
    const std::vector<int32_t> ids = sequence["ids"].get<std::vector<int32_t>>();
    EXPECT_EQ(Stream(ids), sequence["decoded"].get<std::string>()) << ::testing::PrintToString(ids);
  }
}

TEST_F(SentencePieceTokenizerTest, AContinuationKeepsTheSpaceOfItsFirstPiece) {
  const std::vector<int32_t> ids = reference_["sequences"][0]["ids"].get<std::vector<int32_t>>();
  const std::string word = tokenizer_->TokenBytes(ids[1]);
  ASSERT_EQ(word[0], ' ');
  EXPECT_EQ(tokenizer_->TokenBytesAtTextStart(ids[1]), word.substr(1));
  EXPECT_EQ(Stream({ids[1]}, IncrementalDetokenizer::Start::kContinuation), word);
  EXPECT_EQ(Stream({ids[1]}, IncrementalDetokenizer::Start::kTextStart), word.substr(1));
}

TEST_F(SentencePieceTokenizerTest, NamesTheModelsSpecialTokens) {
  EXPECT_EQ(tokenizer_->kind(), "sentencepiece");
  EXPECT_EQ(tokenizer_->vocab_size(), 400);
  EXPECT_EQ(tokenizer_->bos_token(), reference_["bos_id"].get<int32_t>());
  EXPECT_EQ(tokenizer_->eos_token(), reference_["eos_id"].get<int32_t>());
  EXPECT_EQ(tokenizer_->TokenBytes(*tokenizer_->bos_token()), "");
  EXPECT_EQ(tokenizer_->TokenBytes(*tokenizer_->eos_token()), "");
  EXPECT_EQ(tokenizer_->TokenBytes(reference_["unk_id"].get<int32_t>()), " \xE2\x81\x87 ");
  EXPECT_EQ(tokenizer_->TokenBytes(tokenizer_->vocab_size()), "");
}

TEST_F(SentencePieceTokenizerTest, RefusesTextThatIsNotUtf8) {
  auto ids = tokenizer_->Encode("abc\xF0\x9F", /*add_bos=*/false);
  ASSERT_FALSE(ids.ok());
  EXPECT_EQ(ids.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(ids.status().message().find("byte 3"), absl::string_view::npos) << ids.status();
}

TEST_F(SentencePieceTokenizerTest, LoadTokenizerPicksTokenizerModelAndChecksTheVocabSize) {
  rattn::testing::ScratchDir scratch("load");
  const std::string dir = scratch.path();
  std::filesystem::copy_file(ReferenceDir() + "/tokenizer.model", dir + "/tokenizer.model");
  auto tokenizer = LoadTokenizer(dir, 400);
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  EXPECT_EQ((*tokenizer)->kind(), "sentencepiece");

  auto too_small = LoadTokenizer(dir, 399);
  ASSERT_FALSE(too_small.ok());
  EXPECT_EQ(too_small.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(too_small.status().message().find("tokenizer.model"), absl::string_view::npos);
  EXPECT_NE(too_small.status().message().find("vocab_size is 399"), absl::string_view::npos)
      << too_small.status();
  std::filesystem::remove_all(dir);
}

TEST(SentencePieceTokenizerLoadTest, RefusesAFileThatIsNotAModel) {
  rattn::testing::ScratchDir scratch("garbage");
  const std::string dir = scratch.path();
  std::ofstream(dir + "/tokenizer.model") << "this is not a protobuf";
  auto tokenizer = SentencePieceTokenizer::Load(dir + "/tokenizer.model");
  ASSERT_FALSE(tokenizer.ok());
  EXPECT_EQ(tokenizer.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(tokenizer.status().message().find(dir + "/tokenizer.model"), absl::string_view::npos)
      << tokenizer.status();

  auto missing = SentencePieceTokenizer::Load(dir + "/absent.model");
  EXPECT_FALSE(missing.ok());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace rattn::engine
