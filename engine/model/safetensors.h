// Reading and writing the safetensors format: an 8-byte little-endian header length N, N bytes
// of JSON mapping tensor names to {dtype, shape, data_offsets}, then the tensor bytes. Offsets
// are relative to the first byte after the header.
//
// Reading validates the whole header before any tensor is used: the header fits the file, its
// JSON parses with no duplicate keys, every dtype is known, every shape's byte size equals its
// offsets' span, offsets lie inside the data, and tensors neither overlap nor leave holes.
#ifndef RATTN_ENGINE_MODEL_SAFETENSORS_H_
#define RATTN_ENGINE_MODEL_SAFETENSORS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/util/mapped_file.h"

namespace rattn::model {

enum class DType { kF32, kF16, kBF16, kF64, kI64, kI32, kI16, kI8, kU8, kBool };

absl::string_view DTypeName(DType dtype);
size_t DTypeSize(DType dtype);

// One tensor of a safetensors file; `data` points into the file's mapping.
struct TensorInfo {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  absl::string_view data;

  int64_t num_elements() const;
};

// A validated, memory-mapped safetensors file. Tensor data stays valid while this lives.
class SafetensorsFile {
 public:
  static absl::StatusOr<std::unique_ptr<SafetensorsFile>> Open(const std::string& path);

  // Validates `bytes` (a whole file's contents, which must outlive the result's use) as if read
  // from `path`; used by Open and by the fuzzer.
  static absl::StatusOr<std::vector<TensorInfo>> ParseTensors(
      absl::string_view bytes, absl::string_view path,
      std::map<std::string, std::string>* metadata);

  const std::string& path() const { return file_->path(); }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // nullptr when absent.
  const TensorInfo* Find(absl::string_view name) const;

 private:
  explicit SafetensorsFile(std::unique_ptr<MappedFile> file) : file_(std::move(file)) {}

  std::unique_ptr<MappedFile> file_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

// Converts a F32, F16 or BF16 tensor to fp32 into `out` (num_elements() floats).
absl::Status ConvertToFloat(const TensorInfo& tensor, std::span<float> out);

// A tensor to write: its bytes must hold exactly product(shape) * DTypeSize(dtype) bytes.
struct TensorToWrite {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  absl::string_view data;
};

// Writes a safetensors file with tensors in the given order.
absl::Status WriteSafetensors(const std::string& path, std::span<const TensorToWrite> tensors,
                              const std::map<std::string, std::string>& metadata = {});

}  // namespace rattn::model

#endif  // RATTN_ENGINE_MODEL_SAFETENSORS_H_
