// JSON parsing that reports errors as absl::Status and refuses duplicate object keys, which
// nlohmann::json would otherwise resolve silently to the last value.
#ifndef RATTN_ENGINE_UTIL_JSON_UTIL_H_
#define RATTN_ENGINE_UTIL_JSON_UTIL_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace rattn {

// Parses `text` as one JSON value. `what` names the source in error messages
// (for example "model/config.json").
absl::StatusOr<nlohmann::json> ParseJsonStrict(absl::string_view text, absl::string_view what);

}  // namespace rattn

#endif  // RATTN_ENGINE_UTIL_JSON_UTIL_H_
