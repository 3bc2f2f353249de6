// A read-only memory mapping of a whole file, unmapped when destroyed.
#ifndef RATTN_ENGINE_UTIL_MAPPED_FILE_H_
#define RATTN_ENGINE_UTIL_MAPPED_FILE_H_

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace rattn {

class MappedFile {
 public:
  // Maps `path` read-only. An empty file maps to an empty view.
  static absl::StatusOr<std::unique_ptr<MappedFile>> Open(const std::string& path);

  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::string& path() const { return path_; }
  absl::string_view bytes() const { return {static_cast<const char*>(data_), size_}; }

 private:
  MappedFile(std::string path, void* data, size_t size)
      : path_(std::move(path)), data_(data), size_(size) {}

  std::string path_;
  void* data_;
  size_t size_;
};

}  // namespace rattn

#endif  // RATTN_ENGINE_UTIL_MAPPED_FILE_H_
