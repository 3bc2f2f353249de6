// Process-wide leveled logging to stderr.
//
//   RATTN_LOG(INFO) << "loaded " << n << " tensors in " << seconds << " s";
//
// Levels follow ../docs/architecture.md: INFO for lifecycle and capacity, WARNING for suspicious
// configuration, DEBUG for per-request decisions. A message below the minimum level costs one
// comparison; its stream expression is not evaluated. Thread-safe: each message is written with
// one call.
#ifndef RATTN_ENGINE_UTIL_LOGGING_H_
#define RATTN_ENGINE_UTIL_LOGGING_H_

#include <sstream>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace rattn {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// Messages below `level` are dropped. Default: kInfo.
void SetMinLogLevel(LogLevel level);
LogLevel MinLogLevel();

// Parses "debug", "info", "warning" or "error".
absl::StatusOr<LogLevel> ParseLogLevel(absl::string_view name);

namespace internal {

// Collects one message and writes it to stderr when destroyed.
class LogMessage {
 public:
  LogMessage(LogLevel level, const char* file, int line);
  ~LogMessage();
  LogMessage(const LogMessage&) = delete;
  LogMessage& operator=(const LogMessage&) = delete;

  std::ostream& stream() { return stream_; }

 private:
  LogLevel level_;
  std::ostringstream stream_;
};

// Lets the macro below turn `stream << ...` into a void expression.
struct LogVoidify {
  void operator&(std::ostream&) {}
};

}  // namespace internal
}  // namespace rattn

#define RATTN_LOG_LEVEL_DEBUG ::rattn::LogLevel::kDebug
#define RATTN_LOG_LEVEL_INFO ::rattn::LogLevel::kInfo
#define RATTN_LOG_LEVEL_WARNING ::rattn::LogLevel::kWarning
#define RATTN_LOG_LEVEL_ERROR ::rattn::LogLevel::kError

#define RATTN_LOG(severity)                             \
  (RATTN_LOG_LEVEL_##severity < ::rattn::MinLogLevel()) \
      ? (void)0                                         \
      : ::rattn::internal::LogVoidify() &               \
            ::rattn::internal::LogMessage(RATTN_LOG_LEVEL_##severity, __FILE__, __LINE__).stream()

#endif  // RATTN_ENGINE_UTIL_LOGGING_H_
