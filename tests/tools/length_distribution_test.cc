// rattn-bench's length specs and portable draws: parsing, refusals, ranges, shape and
// determinism per seed.
#include "tools/bench/length_distribution.h"

#include <cmath>
#include <map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tools/bench/bench_random.h"

namespace rattn::bench {
namespace {

std::vector<int64_t> Draw(const LengthDistribution& lengths, uint64_t seed, int count) {
  BenchRng rng = MakeRng(seed, 0);
  std::vector<int64_t> draws;
  for (int i = 0; i < count; ++i) draws.push_back(lengths.Sample(rng));
  return draws;
}

TEST(LengthDistributionTest, FixedAlwaysGivesItsLength) {
  absl::StatusOr<LengthDistribution> lengths = LengthDistribution::Parse("128");
  ASSERT_TRUE(lengths.ok()) << lengths.status();
  EXPECT_EQ(lengths->kind(), LengthDistribution::Kind::kFixed);
  EXPECT_EQ(lengths->ToString(), "128");
  EXPECT_EQ(lengths->UpperBound(), 128);
  for (int64_t length : Draw(*lengths, 3, 100)) EXPECT_EQ(length, 128);
}

TEST(LengthDistributionTest, ParsesUniformAndNormalWithSurroundingSpace) {
  absl::StatusOr<LengthDistribution> uniform = LengthDistribution::Parse(" uniform:16:64 ");
  ASSERT_TRUE(uniform.ok()) << uniform.status();
  EXPECT_EQ(uniform->ToString(), "uniform:16:64");
  EXPECT_EQ(uniform->UpperBound(), 64);

  absl::StatusOr<LengthDistribution> normal = LengthDistribution::Parse("normal:100:12.5");
  ASSERT_TRUE(normal.ok()) << normal.status();
  EXPECT_EQ(normal->kind(), LengthDistribution::Kind::kNormal);
  EXPECT_EQ(normal->ToString(), "normal:100:12.5");
  EXPECT_FALSE(normal->UpperBound().has_value());
}

TEST(LengthDistributionTest, RefusesBadSpecsQuotingThem) {
  for (const char* spec : {"",
                           "0",
                           "-3",
                           "1.5",
                           "abc",
                           "16777217",
                           "uniform:5:2",
                           "uniform:0:4",
                           "uniform:1",
                           "uniform:1:2:3",
                           "uniform:a:b",
                           "uniform:-2:4",
                           "normal:x",
                           "normal:10",
                           "normal:10:-1",
                           "normal:-5:1",
                           "normal:0:1",
                           "normal:inf:1",
                           "normal:10:nan",
                           "poisson:3:4",
                           "3:4"}) {
    absl::StatusOr<LengthDistribution> lengths = LengthDistribution::Parse(spec);
    ASSERT_FALSE(lengths.ok()) << "accepted '" << spec << "'";
    EXPECT_EQ(lengths.status().code(), absl::StatusCode::kInvalidArgument) << spec;
    EXPECT_NE(lengths.status().message().find(absl::StrCat("'", spec, "'")), std::string::npos)
        << lengths.status();
  }
}

TEST(LengthDistributionTest, UniformStaysInRangeAndCoversItEvenly) {
  const LengthDistribution lengths = *LengthDistribution::Parse("uniform:16:20");
  std::map<int64_t, int> counts;
  for (int64_t length : Draw(lengths, 11, 10000)) ++counts[length];
  ASSERT_EQ(counts.size(), 5u);
  EXPECT_EQ(counts.begin()->first, 16);
  EXPECT_EQ(counts.rbegin()->first, 20);
  // 2000 expected per value; the binomial standard deviation is 40.
  for (const auto& [length, count] : counts) EXPECT_NEAR(count, 2000, 200) << length;
}

TEST(LengthDistributionTest, NormalHasItsMeanAndSpread) {
  const LengthDistribution lengths = *LengthDistribution::Parse("normal:100:10");
  const std::vector<int64_t> draws = Draw(lengths, 5, 20000);
  double sum = 0;
  double sum_of_squares = 0;
  for (int64_t length : draws) {
    sum += length;
    sum_of_squares += static_cast<double>(length) * length;
  }
  const double mean = sum / draws.size();
  const double stddev = std::sqrt(sum_of_squares / draws.size() - mean * mean);
  EXPECT_NEAR(mean, 100.0, 0.5);
  EXPECT_NEAR(stddev, 10.0, 0.5);
}

TEST(LengthDistributionTest, NormalIsRaisedToOneNotBelow) {
  const LengthDistribution lengths = *LengthDistribution::Parse("normal:1:100");
  int ones = 0;
  for (int64_t length : Draw(lengths, 9, 4000)) {
    ASSERT_GE(length, 1);
    ones += length == 1;
  }
  // About half of the draws fall at or below 1.
  EXPECT_NEAR(ones, 2000, 200);
}

TEST(LengthDistributionTest, SameSeedSameDrawsOtherSeedOtherDraws) {
  const LengthDistribution lengths = *LengthDistribution::Parse("uniform:1:1000000");
  EXPECT_EQ(Draw(lengths, 42, 50), Draw(lengths, 42, 50));
  EXPECT_NE(Draw(lengths, 42, 50), Draw(lengths, 43, 50));
}

TEST(BenchRandomTest, EngineIsTheStandardOne) {
  // The C++ standard fixes the 10000th output of a default-constructed mt19937_64.
  BenchRng rng;
  rng.discard(9999);
  EXPECT_EQ(rng(), 9981545732273789042ull);
}

TEST(BenchRandomTest, StreamsOfOneSeedDiffer) {
  BenchRng prompts = MakeRng(7, 0);
  BenchRng arrivals = MakeRng(7, 1);
  BenchRng prompts_again = MakeRng(7, 0);
  const uint64_t first = prompts();
  EXPECT_NE(first, arrivals());
  EXPECT_EQ(first, prompts_again());
}

TEST(BenchRandomTest, UniformIntHandlesDegenerateAndFullRanges) {
  BenchRng rng = MakeRng(1, 0);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(UniformInt(rng, 7, 7), 7);
  bool negative = false;
  bool positive = false;
  for (int i = 0; i < 64; ++i) {
    const int64_t draw = UniformInt(rng, INT64_MIN, INT64_MAX);
    negative |= draw < 0;
    positive |= draw > 0;
  }
  EXPECT_TRUE(negative && positive);
}

TEST(BenchRandomTest, UnitAndExponentialHaveTheirMeans) {
  BenchRng rng = MakeRng(2, 0);
  double unit_sum = 0;
  double exponential_sum = 0;
  constexpr int kDraws = 20000;
  for (int i = 0; i < kDraws; ++i) {
    const double unit = UniformUnit(rng);
    ASSERT_GE(unit, 0.0);
    ASSERT_LT(unit, 1.0);
    unit_sum += unit;
    exponential_sum += Exponential(rng, 4.0);
  }
  EXPECT_NEAR(unit_sum / kDraws, 0.5, 0.01);
  EXPECT_NEAR(exponential_sum / kDraws, 0.25, 0.01);
}

}  // namespace
}  // namespace rattn::bench
