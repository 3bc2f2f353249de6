// rattn-cli's parsing (token ids, escaped comma lists, repeated flags) and formatting.
#include "tools/cli/cli_args.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tools/cli/cli_format.h"

namespace rattn::cli {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

TEST(ParseTokenIdsTest, ReadsCommaSeparatedIds) {
  absl::StatusOr<std::vector<int32_t>> ids = ParseTokenIds("1,2, 3 ,2147483647");
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_THAT(*ids, ElementsAre(1, 2, 3, 2147483647));
}

TEST(ParseTokenIdsTest, RefusesAnythingElse) {
  for (const char* text : {"", "1,,2", "a", "-1", "2147483648", "1,2,", "1.5", "1 2"}) {
    absl::StatusOr<std::vector<int32_t>> ids = ParseTokenIds(text);
    EXPECT_EQ(ids.status().code(), absl::StatusCode::kInvalidArgument) << "'" << text << "'";
  }
}

TEST(SplitEscapedListTest, SplitsOnUnescapedCommas) {
  EXPECT_THAT(*SplitEscapedList(R"(a\,b,c)"), ElementsAre("a,b", "c"));
  EXPECT_THAT(*SplitEscapedList(R"(x,,y,)"), ElementsAre("x", "y"));
  EXPECT_THAT(*SplitEscapedList(R"(back\\slash)"), ElementsAre(R"(back\slash)"));
  EXPECT_THAT(*SplitEscapedList("\n\n,END"), ElementsAre("\n\n", "END"));
  EXPECT_THAT(*SplitEscapedList(""), IsEmpty());
}

TEST(SplitEscapedListTest, RefusesOtherEscapes) {
  EXPECT_FALSE(SplitEscapedList(R"(ends\)").ok());
  EXPECT_FALSE(SplitEscapedList(R"(\n)").ok());
}

TEST(MergeRepeatedFlagTest, JoinsEveryFormAtTheFirstPlace) {
  const std::vector<std::string> args = {"rattn-cli", "generate", "--stop=a", "hi", "--stop",
                                         "b,c",       "-stop=d",  "--n=2",    "--", "--stop=e"};
  EXPECT_THAT(
      MergeRepeatedFlag(args, "stop"),
      ElementsAre("rattn-cli", "generate", "--stop=a,b,c,d", "hi", "--n=2", "--", "--stop=e"));
}

TEST(MergeRepeatedFlagTest, LeavesOtherFlagsAndALastBareFlagAlone) {
  const std::vector<std::string> args = {"rattn-cli", "--stopper=x", "generate", "--stop"};
  EXPECT_EQ(MergeRepeatedFlag(args, "stop"), args);
}

TEST(CliFormatTest, SummaryLineStatesCountsTimesAndRate) {
  GenerateSummary summary;
  summary.request_id = "r1";
  summary.finish_reasons = {v1::FINISH_REASON_LENGTH, v1::FINISH_REASON_STOP};
  summary.prompt_tokens = 7;
  summary.completion_tokens = 200;
  summary.ttft_seconds = 0.012;
  summary.e2e_seconds = 2.0;
  EXPECT_EQ(FormatSummaryLine(summary),
            "request r1: finish length,stop, prompt 7 tokens, completion 200 tokens, TTFT 12.0 "
            "ms, total 2.00 s, 100.0 tokens/s");
  summary.ttft_seconds.reset();
  EXPECT_THAT(FormatSummaryLine(summary), HasSubstr("TTFT -,"));
}

TEST(CliFormatTest, SecondsPickTheirUnit) {
  EXPECT_EQ(FormatSeconds(0.0005), "500 us");
  EXPECT_EQ(FormatSeconds(0.0123), "12.3 ms");
  EXPECT_EQ(FormatSeconds(1.5), "1.50 s");
}

TEST(CliFormatTest, TokenTextIsQuotedAndEscaped) {
  EXPECT_EQ(QuoteTokenText("a\n\"\\\x01"), R"("a\n\"\\\x01")");
}

TEST(CliFormatTest, ModelInfoRunLengthEncodesLayers) {
  v1::ModelInfo info;
  for (const char* layer : {"rattention", "rattention", "rattention", "full_attention"}) {
    info.add_layer_types(layer);
  }
  EXPECT_THAT(FormatModelInfo(info), HasSubstr("4 (rattention x3, full_attention)"));
}

TEST(CliFormatTest, LogprobTableListsAlternatives) {
  google::protobuf::RepeatedPtrField<v1::TokenLogprob> logprobs;
  v1::TokenLogprob& token = *logprobs.Add();
  token.set_token_id(5);
  token.set_logprob(-0.25f);
  v1::TopLogprob& top = *token.add_top();
  top.set_token_id(9);
  top.set_logprob(-1.5f);
  const std::string table =
      FormatLogprobTable(0, logprobs, [](int32_t id) { return absl::StrCat("t", id); });
  EXPECT_THAT(table, HasSubstr("-0.2500"));
  EXPECT_THAT(table, HasSubstr("t9(9)=-1.500"));
}

}  // namespace
}  // namespace rattn::cli
