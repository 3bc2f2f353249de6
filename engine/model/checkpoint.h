// A model checkpoint directory: config.json plus one or more *.safetensors files with Hugging
// Face-style tensor names (docs/model-format.md).
//
// Open() validates everything before returning: the config's values, every file's header, that
// each expected tensor is present exactly once with the shape the config implies and a float
// dtype, and that no unexpected tensor is present. Tensor values are checked (finite) when they
// are converted with ReadFloat. Every error names the file, the tensor and the problem.
#ifndef RATTN_ENGINE_MODEL_CHECKPOINT_H_
#define RATTN_ENGINE_MODEL_CHECKPOINT_H_

#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/model/model_config.h"
#include "engine/model/safetensors.h"

namespace rattn::model {

// A tensor the config implies, with its shape.
struct ExpectedTensor {
  std::string name;
  std::vector<int64_t> shape;
};

// Every tensor a checkpoint with `config` holds, in a stable order (embedding, layers, norm,
// lm_head). The single source of truth for names and shapes: the loader and the checkpoint
// writer both use it.
std::vector<ExpectedTensor> ExpectedTensors(const ModelConfig& config);

// Tensor names under model.layers.<layer>.
std::string LayerTensorName(int layer, absl::string_view suffix);

class Checkpoint {
 public:
  static absl::StatusOr<std::unique_ptr<Checkpoint>> Open(const std::string& directory);

  const std::string& directory() const { return directory_; }
  const ModelConfig& config() const { return config_; }
  // The dtype most of the weights are stored in (for reporting).
  DType storage_dtype() const { return storage_dtype_; }

  // The named tensor; Open() guaranteed every ExpectedTensors() entry is present.
  const TensorInfo& tensor(absl::string_view name) const;
  // The file a tensor was read from (for messages).
  const std::string& FileOf(absl::string_view name) const;

  // Converts a tensor to fp32 into `out`, refusing NaN or infinite values with a message naming
  // the file, the tensor and the index of the first bad element.
  absl::Status ReadFloat(absl::string_view name, std::span<float> out) const;

  // Copies a F16 or BF16 tensor's bit patterns into `out` unconverted, refusing NaN or infinite
  // values the same way. FAILED_PRECONDITION for a tensor of another dtype.
  absl::Status ReadBits16(absl::string_view name, std::span<uint16_t> out) const;

 private:
  Checkpoint() = default;

  struct Located {
    const TensorInfo* tensor;
    const SafetensorsFile* file;
  };

  std::string directory_;
  ModelConfig config_;
  DType storage_dtype_ = DType::kF32;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, Located, std::less<>> tensors_;
};

}  // namespace rattn::model

#endif  // RATTN_ENGINE_MODEL_CHECKPOINT_H_
