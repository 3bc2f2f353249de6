// Loads what the server serves from a model directory: the checkpoint onto a backend, the
// tokenizer, and the description GetModelInfo returns.
#ifndef RATTN_SERVER_MODEL_LOADER_H_
#define RATTN_SERVER_MODEL_LOADER_H_

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "engine/backend.h"
#include "engine/tokenizer/tokenizer.h"
#include "rattn/v1/rattn.pb.h"
#include "server/server_options.h"

namespace rattn::server {

struct LoadedModel {
  std::unique_ptr<engine::Backend> backend;
  std::unique_ptr<engine::Tokenizer> tokenizer;  // null when the model has none
  ::rattn::v1::ModelInfo info;
  int64_t weight_bytes = 0;  // in the backend's memory
};

// Opens and validates the checkpoint (errors name the file and the tensor), builds the backend
// that options.backend asks for (auto: CUDA when built and a device is present, else CPU) and
// loads the tokenizer.
absl::StatusOr<LoadedModel> LoadModel(const ServerOptions& options);

// What GetModelInfo says of a model (block_size and version are filled in by the server).
::rattn::v1::ModelInfo DescribeModel(const model::ModelConfig& config, absl::string_view name,
                                     absl::string_view dtype, absl::string_view backend,
                                     const engine::Tokenizer* tokenizer);

}  // namespace rattn::server

#endif  // RATTN_SERVER_MODEL_LOADER_H_
