// Reading a whole small file (a config, a token, a certificate) into memory.
#ifndef RATTN_ENGINE_UTIL_FILE_UTIL_H_
#define RATTN_ENGINE_UTIL_FILE_UTIL_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace rattn {

// The bytes of the file at `path`. NOT_FOUND ("PATH: cannot open") when it cannot be opened,
// INVALID_ARGUMENT naming the size when it is larger than `max_bytes` (checked before reading,
// so a huge or endless file is never loaded), DATA_LOSS when reading fails midway.
absl::StatusOr<std::string> ReadSmallFile(const std::string& path, int64_t max_bytes);

}  // namespace rattn

#endif  // RATTN_ENGINE_UTIL_FILE_UTIL_H_
