// Validation of rattn-bench's options.
#include "tools/bench/bench_options.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace rattn::bench {

const char* LoadModeName(LoadMode mode) {
  return mode == LoadMode::kConcurrency ? "concurrency" : "request_rate";
}

absl::Status BenchOptions::Validate() const {
  auto bad = [](absl::string_view message) { return absl::InvalidArgumentError(message); };
  if (target.empty()) return bad("--target is empty");
  if (mode == LoadMode::kConcurrency && (concurrency < 1 || concurrency > kMaxInFlight)) {
    return bad(absl::StrCat("--concurrency must be in 1 .. ", kMaxInFlight));
  }
  if (mode == LoadMode::kRequestRate) {
    if (!(request_rate > 0) || !std::isfinite(request_rate)) {
      return bad("--request_rate must be a positive number of requests per second");
    }
    if (max_concurrency < 0 || max_concurrency > kMaxInFlight) {
      return bad(absl::StrCat("--max_concurrency must be in 0 .. ", kMaxInFlight));
    }
  }
  if (duration <= absl::ZeroDuration() || duration == absl::InfiniteDuration()) {
    return bad("--duration must be positive and finite");
  }
  if (warmup < absl::ZeroDuration() || warmup == absl::InfiniteDuration()) {
    return bad("--warmup must be >= 0 and finite");
  }
  if (num_requests < 0) return bad("--num_requests must be >= 0");
  if (!(temperature >= 0) || !std::isfinite(temperature)) return bad("--temperature must be >= 0");
  if (request_timeout <= absl::ZeroDuration()) return bad("--request_timeout must be positive");
  return absl::OkStatus();
}

}  // namespace rattn::bench
