// Whole-sequence logits of the CPU backend against the independent numpy reference
// (tests/reference/rattention_reference.py), on the checkpoints of golden_cases.json.
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "engine/cpu/cpu_backend.h"
#include "engine/model/checkpoint.h"
#include "engine/model/safetensors.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace rattn {
namespace {

constexpr double kTolerance = 1e-4;  // max |cpu - reference| / max |reference|, per position

std::string GoldenDir() {
  const char* dir = std::getenv("RATTN_GOLDEN_DIR");
  return dir != nullptr ? dir : "";
}

std::vector<std::string> CaseNames() {
  std::vector<std::string> names;
  std::ifstream in(GoldenDir() + "/cases.txt");
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) names.push_back(line);
  }
  return names;
}

class ReferenceLogitsTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ReferenceLogitsTest, MatchesReferenceAtEveryLength) {
  const std::string dir = GoldenDir() + "/" + GetParam();
  auto checkpoint = model::Checkpoint::Open(dir + "/checkpoint");
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  auto backend = cpu::CpuBackend::Create(**checkpoint);
  ASSERT_TRUE(backend.ok()) << backend.status();
  auto golden = model::SafetensorsFile::Open(dir + "/golden.safetensors");
  ASSERT_TRUE(golden.ok()) << golden.status();

  const model::TensorInfo* tokens_tensor = (*golden)->Find("tokens");
  const model::TensorInfo* logits_tensor = (*golden)->Find("logits");
  ASSERT_NE(tokens_tensor, nullptr);
  ASSERT_NE(logits_tensor, nullptr);
  ASSERT_EQ(tokens_tensor->dtype, model::DType::kI32);
  std::vector<int32_t> tokens(tokens_tensor->num_elements());
  std::memcpy(tokens.data(), tokens_tensor->data.data(), tokens.size() * sizeof(int32_t));
  std::vector<float> expected(logits_tensor->num_elements());
  ASSERT_TRUE(model::ConvertToFloat(*logits_tensor, expected).ok());
  const int vocab = (*checkpoint)->config().vocab_size;
  ASSERT_EQ(expected.size(), tokens.size() * vocab);

  std::vector<int> lengths;
  for (absl::string_view text : absl::StrSplit((*golden)->metadata().at("lengths"), ',')) {
    int length = 0;
    ASSERT_TRUE(absl::SimpleAtoi(text, &length));
    lengths.push_back(length);
  }
  ASSERT_EQ(lengths.size(), 4u);
  for (int length : lengths) {
    SCOPED_TRACE(::testing::Message() << "sequence length " << length);
    std::vector<float> logits =
        testing::WholeSequenceLogits(**backend, std::span(tokens.data(), length));
    ASSERT_EQ(logits.size(), static_cast<size_t>(length) * vocab);
    double worst = 0.0;
    for (int t = 0; t < length; ++t) {
      double error =
          testing::RowRelativeError(logits.data() + t * vocab, expected.data() + t * vocab, vocab);
      EXPECT_LE(error, kTolerance) << "position " << t;
      worst = std::max(worst, error);
    }
    RecordProperty("worst_relative_error_" + std::to_string(length), std::to_string(worst));
  }
}

INSTANTIATE_TEST_SUITE_P(GoldenCases, ReferenceLogitsTest, ::testing::ValuesIn(CaseNames()),
                         [](const auto& info) { return info.param; });

// The parameterized suite above is empty when the golden fixture did not run; fail loudly.
TEST(ReferenceLogitsSetup, GoldenCasesExist) {
  ASSERT_FALSE(GoldenDir().empty()) << "RATTN_GOLDEN_DIR is not set (run through ctest)";
  EXPECT_GE(CaseNames().size(), 6u) << "no golden cases in " << GoldenDir();
}

}  // namespace
}  // namespace rattn
