#include "server/server_options.h"

#include <cmath>
#include <filesystem>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/util/status_macros.h"

namespace rattn::server {
namespace {

absl::Status FlagError(absl::string_view flag, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat("--", flag, ": ", problem));
}

absl::Status CheckRange(absl::string_view flag, int64_t value, int64_t lo, int64_t hi) {
  if (value < lo || value > hi) {
    return FlagError(flag, absl::StrCat("must be in [", lo, ", ", hi, "], got ", value));
  }
  return absl::OkStatus();
}

absl::Status CheckReadable(absl::string_view flag, const std::string& path) {
  std::error_code error;
  if (!std::filesystem::is_regular_file(path, error)) {
    return FlagError(flag, absl::StrCat("'", path, "' is not a readable file"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<BackendKind> ParseBackendKind(absl::string_view name) {
  if (name == "auto") return BackendKind::kAuto;
  if (name == "cpu") return BackendKind::kCpu;
  if (name == "cuda") return BackendKind::kCuda;
  return FlagError("backend", absl::StrCat("must be auto, cpu or cuda, got '", name, "'"));
}

absl::StatusOr<int64_t> ParseByteSize(absl::string_view text) {
  std::string s = absl::AsciiStrToLower(absl::StripAsciiWhitespace(text));
  int64_t unit = 1;
  const std::pair<absl::string_view, int64_t> suffixes[] = {{"kib", int64_t{1} << 10},
                                                            {"mib", int64_t{1} << 20},
                                                            {"gib", int64_t{1} << 30},
                                                            {"k", int64_t{1} << 10},
                                                            {"m", int64_t{1} << 20},
                                                            {"g", int64_t{1} << 30},
                                                            {"b", 1}};
  for (const auto& [suffix, scale] : suffixes) {
    if (absl::EndsWith(s, suffix)) {
      s.resize(s.size() - suffix.size());
      unit = scale;
      break;
    }
  }
  int64_t count = 0;
  if (!absl::SimpleAtoi(s, &count) || count < 0 ||
      count > std::numeric_limits<int64_t>::max() / unit) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", text, "' is not a byte size (e.g. 512MiB, 2GiB, 1048576)"));
  }
  return count * unit;
}

absl::StatusOr<MemoryBudget> MemoryBudget::Parse(absl::string_view text) {
  MemoryBudget budget;
  double fraction = 0;
  if (absl::StrContains(text, '.') && absl::SimpleAtod(text, &fraction)) {
    if (!(fraction > 0 && fraction < 1)) {
      return absl::InvalidArgumentError(
          absl::StrCat("a memory fraction must be in (0, 1), got '", text, "'"));
    }
    budget.fraction = fraction;
    return budget;
  }
  absl::StatusOr<int64_t> bytes = ParseByteSize(text);
  if (!bytes.ok()) return bytes.status();
  if (*bytes < (int64_t{1} << 20)) {
    return absl::InvalidArgumentError(
        absl::StrCat("a memory budget must be at least 1MiB, got '", text, "'"));
  }
  budget.bytes = *bytes;
  return budget;
}

int64_t MemoryBudget::Resolve(int64_t available_bytes) const {
  if (fraction > 0) return static_cast<int64_t>(fraction * static_cast<double>(available_bytes));
  return bytes;
}

std::string MemoryBudget::ToString() const {
  if (fraction > 0) return absl::StrFormat("%.2f of available memory", fraction);
  return absl::StrFormat("%.1f MiB", static_cast<double>(bytes) / (1 << 20));
}

absl::Status ServerOptions::Validate() const {
  if (model_dir.empty()) return FlagError("model_dir", "is required");
  std::error_code error;
  if (!std::filesystem::is_directory(model_dir, error)) {
    return FlagError("model_dir", absl::StrCat("'", model_dir, "' is not a directory"));
  }
  if (listen_address.empty()) return FlagError("listen", "is required");
  RATTN_RETURN_IF_ERROR(CheckRange("threads", num_threads, 0, 1024));
  RATTN_RETURN_IF_ERROR(CheckRange("max_message_size", max_message_bytes, 4096, int64_t{1} << 30));
  if (tls_cert_file.empty() != tls_key_file.empty()) {
    return FlagError("tls_cert", "--tls_cert and --tls_key must be given together");
  }
  if (!tls_cert_file.empty()) {
    RATTN_RETURN_IF_ERROR(CheckReadable("tls_cert", tls_cert_file));
    RATTN_RETURN_IF_ERROR(CheckReadable("tls_key", tls_key_file));
  }
  for (char c : auth_token) {
    if (c < 0x21 || c > 0x7e) {
      return FlagError("auth_token_file", "the token must be printable ASCII without spaces");
    }
  }
  RATTN_RETURN_IF_ERROR(CheckRange("block_size", block_size, 1, 1024));
  RATTN_RETURN_IF_ERROR(CheckRange("max_sequences", max_sequences, 1, 1 << 16));
  RATTN_RETURN_IF_ERROR(CheckRange("max_tokens_per_step", max_tokens_per_step, 1, 1 << 20));
  RATTN_RETURN_IF_ERROR(CheckRange("max_waiting", max_waiting, 1, 1 << 20));
  if (drain_timeout < absl::ZeroDuration()) return FlagError("drain_timeout", "is negative");
  if (stall_timeout <= absl::ZeroDuration()) return FlagError("stall_timeout", "must be positive");
  if (max_connection_age < absl::Seconds(1)) {
    return FlagError("max_connection_age", "must be at least 1s (or inf)");
  }
  return absl::OkStatus();
}

}  // namespace rattn::server
