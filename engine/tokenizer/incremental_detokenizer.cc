// The incremental detokenizer; see incremental_detokenizer.h.
#include "engine/tokenizer/incremental_detokenizer.h"

#include "absl/strings/string_view.h"
#include "engine/tokenizer/utf8.h"

namespace rattn::engine {

std::string IncrementalDetokenizer::Append(int32_t token) {
  const std::string bytes_of_token =
      at_text_start_ ? tokenizer_.TokenBytesAtTextStart(token) : tokenizer_.TokenBytes(token);
  if (!bytes_of_token.empty()) at_text_start_ = false;
  pending_ += bytes_of_token;
  std::string text;
  const absl::string_view bytes = pending_;
  size_t offset = 0;
  while (offset < bytes.size()) {
    const Utf8Unit unit = ScanUtf8(bytes.substr(offset));
    if (unit.kind == Utf8Unit::Kind::kIncomplete) break;
    if (unit.kind == Utf8Unit::Kind::kCharacter) {
      text.append(bytes.data() + offset, unit.length);
    } else {
      text.append(kReplacementCharacter.data(), kReplacementCharacter.size());
    }
    offset += unit.length;
  }
  pending_.erase(0, offset);
  return text;
}

std::string IncrementalDetokenizer::Flush() {
  at_text_start_ = start_ == Start::kTextStart;
  if (pending_.empty()) return "";
  pending_.clear();
  return std::string(kReplacementCharacter.data(), kReplacementCharacter.size());
}

}  // namespace rattn::engine
