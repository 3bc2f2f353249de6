// Stop-string matching over streamed text; see stop_matcher.h.
#include "engine/stop_matcher.h"

#include <algorithm>

namespace rattn::engine {

StopMatcher::StopMatcher(std::vector<std::string> stop_strings) : stops_(std::move(stop_strings)) {
  for (const std::string& stop : stops_) longest_ = std::max(longest_, stop.size());
}

std::string StopMatcher::Append(absl::string_view text, bool* stopped) {
  *stopped = false;
  pending_.append(text.data(), text.size());
  if (stops_.empty()) return Flush();

  // The earliest stop string in what is pending (everything before it was emitted already
  // without containing one, so a match must end in the new text).
  size_t earliest = std::string::npos;
  for (const std::string& stop : stops_) {
    size_t at = pending_.find(stop);
    if (at < earliest) earliest = at;
  }
  if (earliest != std::string::npos) {
    *stopped = true;
    std::string out = pending_.substr(0, earliest);
    pending_.clear();
    return out;
  }
  // Hold back the longest tail that is a prefix of some stop string.
  size_t hold = 0;
  for (const std::string& stop : stops_) {
    for (size_t n = std::min(stop.size() - 1, pending_.size()); n > hold; --n) {
      if (absl::string_view(pending_).substr(pending_.size() - n) ==
          absl::string_view(stop).substr(0, n)) {
        hold = n;
        break;
      }
    }
  }
  std::string out = pending_.substr(0, pending_.size() - hold);
  pending_.erase(0, pending_.size() - hold);
  return out;
}

std::string StopMatcher::Flush() {
  std::string out;
  out.swap(pending_);
  return out;
}

}  // namespace rattn::engine
