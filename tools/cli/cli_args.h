// Command-line parsing for rattn-cli that needs no server: token id lists, comma lists with
// escapes, and merging a repeated flag into one occurrence before absl parses the command line.
#ifndef RATTN_TOOLS_CLI_CLI_ARGS_H_
#define RATTN_TOOLS_CLI_CLI_ARGS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace rattn::cli {

// "1,2, 3" -> {1, 2, 3}. Ids are non-negative 32-bit integers separated by commas and optional
// spaces; an empty list is an error.
absl::StatusOr<std::vector<int32_t>> ParseTokenIds(absl::string_view text);

// Splits a comma list in which "\," is a literal comma and "\\" a literal backslash:
// "a\,b,c" -> {"a,b", "c"}. Empty items are dropped, so "" gives {}. A backslash before any other
// character, or at the end, is an error.
absl::StatusOr<std::vector<std::string>> SplitEscapedList(absl::string_view text);

// absl keeps only the last value of a repeated flag. This rewrites `args` (argv, program name
// first) so that every occurrence of flag `name` ("--name=V", "-name=V", "--name V", "-name V")
// becomes one "--name=V1,V2,..." at the place of the first; the values, themselves comma lists,
// are joined with commas. Scanning stops at "--". A last "--name" with no value is left for absl
// to report.
std::vector<std::string> MergeRepeatedFlag(const std::vector<std::string>& args,
                                           absl::string_view name);

}  // namespace rattn::cli

#endif  // RATTN_TOOLS_CLI_CLI_ARGS_H_
