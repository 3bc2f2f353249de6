// Finds stop strings in streamed text, across token boundaries, and decides how much text is
// safe to emit: any tail that could still grow into a stop string is held back, and a stop
// string is never emitted.
#ifndef RATTN_ENGINE_STOP_MATCHER_H_
#define RATTN_ENGINE_STOP_MATCHER_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace rattn::engine {

class StopMatcher {
 public:
  explicit StopMatcher(std::vector<std::string> stop_strings);

  // Appends `text` to what the sample has produced. Returns the text that may be emitted now;
  // sets *stopped when a stop string appeared (the text before it is returned, the rest dropped).
  std::string Append(absl::string_view text, bool* stopped);

  // The held-back tail, at the end of a sample that did not stop on a string.
  std::string Flush();

 private:
  std::vector<std::string> stops_;
  size_t longest_ = 0;
  std::string pending_;  // produced but not yet emitted
};

}  // namespace rattn::engine

#endif  // RATTN_ENGINE_STOP_MATCHER_H_
