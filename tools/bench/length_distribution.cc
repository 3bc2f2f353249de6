// Parsing and sampling of rattn-bench's length specs.
#include "tools/bench/length_distribution.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace rattn::bench {
namespace {

absl::Status BadSpec(absl::string_view spec, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("bad length spec '", spec, "': ", why,
                                                 " (expected N, uniform:A:B or normal:MEAN:STD)"));
}

// An integer length in 1 .. kMaxLength.
bool ParseLength(absl::string_view text, int64_t& length) {
  return absl::SimpleAtoi(text, &length) && length >= 1 && length <= LengthDistribution::kMaxLength;
}

}  // namespace

absl::StatusOr<LengthDistribution> LengthDistribution::Parse(absl::string_view spec) {
  const absl::string_view trimmed = absl::StripAsciiWhitespace(spec);
  const std::vector<absl::string_view> parts = absl::StrSplit(trimmed, ':');
  if (parts.size() == 1) {
    int64_t length = 0;
    if (!ParseLength(parts[0], length)) {
      return BadSpec(spec, absl::StrCat("a length is an integer from 1 to ", kMaxLength));
    }
    return Fixed(length);
  }
  if (parts[0] == "uniform") {
    int64_t low = 0;
    int64_t high = 0;
    if (parts.size() != 3 || !ParseLength(parts[1], low) || !ParseLength(parts[2], high)) {
      return BadSpec(spec, absl::StrCat("uniform takes two integer bounds from 1 to ", kMaxLength));
    }
    if (low > high) return BadSpec(spec, "the low bound exceeds the high bound");
    return LengthDistribution(Kind::kUniform, low, high);
  }
  if (parts[0] == "normal") {
    double mean = 0;
    double stddev = 0;
    if (parts.size() != 3 || !absl::SimpleAtod(parts[1], &mean) ||
        !absl::SimpleAtod(parts[2], &stddev) || !std::isfinite(mean) || !std::isfinite(stddev)) {
      return BadSpec(spec, "normal takes a finite mean and standard deviation");
    }
    if (mean <= 0 || mean > kMaxLength) {
      return BadSpec(spec, absl::StrCat("the mean must be in (0, ", kMaxLength, "]"));
    }
    if (stddev < 0) return BadSpec(spec, "the standard deviation must be >= 0");
    return LengthDistribution(Kind::kNormal, mean, stddev);
  }
  return BadSpec(spec, absl::StrCat("unknown distribution '", parts[0], "'"));
}

LengthDistribution LengthDistribution::Fixed(int64_t length) {
  return LengthDistribution(Kind::kFixed, std::clamp<int64_t>(length, 1, kMaxLength), 0);
}

int64_t LengthDistribution::Sample(BenchRng& rng) const {
  switch (kind_) {
    case Kind::kFixed:
      return static_cast<int64_t>(a_);
    case Kind::kUniform:
      return UniformInt(rng, static_cast<int64_t>(a_), static_cast<int64_t>(b_));
    case Kind::kNormal: {
      const double draw = std::round(a_ + b_ * StandardNormal(rng));
      return static_cast<int64_t>(std::clamp(draw, 1.0, static_cast<double>(kMaxLength)));
    }
  }
  return 1;
}

std::optional<int64_t> LengthDistribution::UpperBound() const {
  switch (kind_) {
    case Kind::kFixed:
      return static_cast<int64_t>(a_);
    case Kind::kUniform:
      return static_cast<int64_t>(b_);
    case Kind::kNormal:
      return std::nullopt;
  }
  return std::nullopt;
}

std::string LengthDistribution::ToString() const {
  switch (kind_) {
    case Kind::kFixed:
      return absl::StrCat(static_cast<int64_t>(a_));
    case Kind::kUniform:
      return absl::StrCat("uniform:", static_cast<int64_t>(a_), ":", static_cast<int64_t>(b_));
    case Kind::kNormal:
      return absl::StrCat("normal:", a_, ":", b_);
  }
  return "";
}

}  // namespace rattn::bench
