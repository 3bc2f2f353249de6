// The lengths rattn-bench draws for prompts (--prompt_len) and outputs (--output_len).
//
// Specs:
//   "N"                 always N (N >= 1)
//   "uniform:A:B"       an integer uniform on A .. B, both included (1 <= A <= B)
//   "normal:MEAN:STD"   round(MEAN + STD * z) for a standard normal z, raised to 1 when below
//                       (MEAN > 0, STD >= 0, both finite)
// Every draw is between 1 and kMaxLength.
#ifndef RATTN_TOOLS_BENCH_LENGTH_DISTRIBUTION_H_
#define RATTN_TOOLS_BENCH_LENGTH_DISTRIBUTION_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tools/bench/bench_random.h"

namespace rattn::bench {

class LengthDistribution {
 public:
  // Far beyond any context; keeps normal draws and their sums inside 32-bit fields.
  static constexpr int64_t kMaxLength = int64_t{1} << 24;

  enum class Kind { kFixed, kUniform, kNormal };

  // INVALID_ARGUMENT, quoting the spec, when it is not one of the forms above.
  static absl::StatusOr<LengthDistribution> Parse(absl::string_view spec);
  static LengthDistribution Fixed(int64_t length);

  // A length in 1 .. kMaxLength. The same rng state gives the same length.
  int64_t Sample(BenchRng& rng) const;

  // The largest length a draw can take; nullopt for a normal distribution, which has none below
  // kMaxLength.
  std::optional<int64_t> UpperBound() const;

  // The spec in canonical form ("128", "uniform:16:64", "normal:100:20").
  std::string ToString() const;

  Kind kind() const { return kind_; }

 private:
  LengthDistribution(Kind kind, double a, double b) : kind_(kind), a_(a), b_(b) {}

  Kind kind_;
  // kFixed: (length, unused); kUniform: (low, high); kNormal: (mean, standard deviation).
  double a_;
  double b_;
};

}  // namespace rattn::bench

#endif  // RATTN_TOOLS_BENCH_LENGTH_DISTRIBUTION_H_
