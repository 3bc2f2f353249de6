// Command-line parsing for rattn-cli that needs no server.
#include "tools/cli/cli_args.h"

#include <limits>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace rattn::cli {
namespace {

// The value of `arg` when it is flag `name` written with "=", or nullopt.
std::optional<std::string> InlineValue(absl::string_view arg, absl::string_view name) {
  for (absl::string_view dashes : {"--", "-"}) {
    std::string prefix = absl::StrCat(dashes, name, "=");
    if (absl::StartsWith(arg, prefix)) return std::string(arg.substr(prefix.size()));
  }
  return std::nullopt;
}

bool IsBareFlag(absl::string_view arg, absl::string_view name) {
  return arg == absl::StrCat("--", name) || arg == absl::StrCat("-", name);
}

}  // namespace

absl::StatusOr<std::vector<int32_t>> ParseTokenIds(absl::string_view text) {
  std::vector<int32_t> ids;
  for (absl::string_view item : absl::StrSplit(text, ',')) {
    item = absl::StripAsciiWhitespace(item);
    int64_t id = 0;
    if (!absl::SimpleAtoi(item, &id) || id < 0 || id > std::numeric_limits<int32_t>::max()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "token ids must be non-negative integers separated by commas, got '", item, "'"));
    }
    ids.push_back(static_cast<int32_t>(id));
  }
  return ids;
}

absl::StatusOr<std::vector<std::string>> SplitEscapedList(absl::string_view text) {
  std::vector<std::string> items;
  std::string current;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '\\') {
      if (i + 1 == text.size() || (text[i + 1] != ',' && text[i + 1] != '\\')) {
        return absl::InvalidArgumentError(
            absl::StrCat("in '", text, "': a backslash may only escape ',' or '\\'"));
      }
      current.push_back(text[++i]);
    } else if (c == ',') {
      if (!current.empty()) items.push_back(std::move(current));
      current.clear();
    } else {
      current.push_back(c);
    }
  }
  if (!current.empty()) items.push_back(std::move(current));
  return items;
}

std::vector<std::string> MergeRepeatedFlag(const std::vector<std::string>& args,
                                           absl::string_view name) {
  std::vector<std::string> merged;
  std::vector<std::string> values;
  size_t merged_position = 0;
  size_t i = 0;
  for (; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") break;
    std::optional<std::string> value = InlineValue(arg, name);
    if (!value.has_value() && IsBareFlag(arg, name) && i + 1 < args.size()) {
      value = args[++i];
    }
    if (!value.has_value()) {
      merged.push_back(arg);
      continue;
    }
    if (values.empty()) merged_position = merged.size();
    values.push_back(*std::move(value));
  }
  merged.insert(merged.end(), args.begin() + i, args.end());
  if (!values.empty()) {
    merged.insert(merged.begin() + merged_position,
                  absl::StrCat("--", name, "=", absl::StrJoin(values, ",")));
  }
  return merged;
}

}  // namespace rattn::cli
