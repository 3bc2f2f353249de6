// Writes checkpoints with random weights, deterministic in a seed, for tests and benchmarks.
#ifndef RATTN_ENGINE_MODEL_RANDOM_CHECKPOINT_H_
#define RATTN_ENGINE_MODEL_RANDOM_CHECKPOINT_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "engine/model/model_config.h"
#include "engine/model/safetensors.h"

namespace rattn::model {

struct RandomCheckpointOptions {
  uint64_t seed = 0;
  DType dtype = DType::kF32;  // F32, F16 or BF16
  int num_shards = 1;         // tensors split over this many *.safetensors files
  // Written as config.json instead of config.ToJson() when not empty (for example a Hugging
  // Face Llama config); it must describe the same model.
  std::string config_json;
};

// Creates `directory` (if needed) and writes config.json and the safetensors files. Weights are
// drawn so that activations stay O(1): projections N(0, 1/fan_in), embeddings N(0, 1), norm
// weights 1 + N(0, 0.01). Each tensor's values depend only on the seed and its name.
absl::Status WriteRandomCheckpoint(const ModelConfig& config,
                                   const RandomCheckpointOptions& options,
                                   const std::string& directory);

}  // namespace rattn::model

#endif  // RATTN_ENGINE_MODEL_RANDOM_CHECKPOINT_H_
