// Strict JSON parsing; see json_util.h.
#include "engine/util/json_util.h"

#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace rattn {

absl::StatusOr<nlohmann::json> ParseJsonStrict(absl::string_view text, absl::string_view what) {
  using nlohmann::json;
  // One set of seen keys per open object; the innermost is at the back.
  std::vector<std::set<std::string>> open_objects;
  std::string duplicate_key;
  auto on_event = [&](int /*depth*/, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
        open_objects.emplace_back();
        break;
      case json::parse_event_t::object_end:
        if (!open_objects.empty()) open_objects.pop_back();
        break;
      case json::parse_event_t::key:
        if (!open_objects.empty() && duplicate_key.empty() &&
            !open_objects.back().insert(parsed.get<std::string>()).second) {
          duplicate_key = parsed.get<std::string>();
        }
        break;
      default:
        break;
    }
    return true;
  };
  json value = json::parse(text.begin(), text.end(), on_event, /*allow_exceptions=*/false);
  if (value.is_discarded()) {
    // Parse again with exceptions on, only to recover the parser's description of the error.
    std::string detail = "malformed JSON";
    try {
      json unused = json::parse(text.begin(), text.end());
      (void)unused;
    } catch (const json::exception& error) {  // parse_error, or out_of_range for 1e999
      detail = error.what();
    }
    return absl::InvalidArgumentError(absl::StrCat(what, ": ", detail));
  }
  if (!duplicate_key.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": key '", duplicate_key, "' appears more than once"));
  }
  return value;
}

}  // namespace rattn
