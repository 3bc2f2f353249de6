// Random checkpoint writer; see random_checkpoint.h.
#include "engine/model/random_checkpoint.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <numbers>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "engine/model/checkpoint.h"
#include "engine/util/float16.h"
#include "engine/util/status_macros.h"

namespace rattn::model {
namespace {

// splitmix64: a small, well-mixed generator whose output is the same on every platform (unlike
// std::normal_distribution).
class Random {
 public:
  explicit Random(uint64_t seed) : state_(seed) {}

  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  // Uniform in (0, 1).
  double Uniform() { return (static_cast<double>(Next() >> 11) + 0.5) * 0x1p-53; }
  // Standard normal, by Box-Muller.
  double Normal() {
    return std::sqrt(-2.0 * std::log(Uniform())) * std::cos(2.0 * std::numbers::pi * Uniform());
  }

 private:
  uint64_t state_;
};

uint64_t HashName(absl::string_view name, uint64_t seed) {
  uint64_t hash = 0xcbf29ce484222325ull ^ seed;  // FNV-1a, seeded
  for (char c : name) hash = (hash ^ static_cast<unsigned char>(c)) * 0x100000001b3ull;
  return hash;
}

bool IsNormWeight(absl::string_view name) { return absl::StrContains(name, "norm.weight"); }

// Encodes `values` in `dtype` as little-endian bytes.
std::string Encode(const std::vector<float>& values, DType dtype) {
  std::string bytes(values.size() * DTypeSize(dtype), '\0');
  for (size_t i = 0; i < values.size(); ++i) {
    if (dtype == DType::kF32) {
      std::memcpy(bytes.data() + 4 * i, &values[i], 4);
    } else {
      uint16_t bits = dtype == DType::kBF16 ? FloatToBf16(values[i]) : FloatToF16(values[i]);
      std::memcpy(bytes.data() + 2 * i, &bits, 2);
    }
  }
  return bytes;
}

}  // namespace

absl::Status WriteRandomCheckpoint(const ModelConfig& config,
                                   const RandomCheckpointOptions& options,
                                   const std::string& directory) {
  RATTN_RETURN_IF_ERROR(config.Validate());
  if (options.dtype != DType::kF32 && options.dtype != DType::kF16 &&
      options.dtype != DType::kBF16) {
    return absl::InvalidArgumentError("random checkpoint dtype must be F32, F16 or BF16");
  }
  std::vector<ExpectedTensor> tensors = ExpectedTensors(config);
  if (options.num_shards < 1 || options.num_shards > static_cast<int>(tensors.size())) {
    return absl::InvalidArgumentError(
        absl::StrCat("num_shards must be in [1, ", tensors.size(), "], got ", options.num_shards));
  }
  std::error_code error;
  std::filesystem::create_directories(directory, error);
  if (error) {
    return absl::PermissionDeniedError(
        absl::StrCat(directory, ": cannot create: ", error.message()));
  }
  {
    std::ofstream out(std::filesystem::path(directory) / "config.json");
    out << (options.config_json.empty() ? config.ToJson() : options.config_json);
    if (!out) return absl::DataLossError(absl::StrCat(directory, "/config.json: write failed"));
  }

  // Contiguous runs of tensors per shard, each shard encoded and written before the next.
  const size_t per_shard = (tensors.size() + options.num_shards - 1) / options.num_shards;
  for (int shard = 0; shard < options.num_shards; ++shard) {
    size_t begin = shard * per_shard;
    size_t end = std::min(tensors.size(), begin + per_shard);
    std::vector<std::string> encoded;
    std::vector<TensorToWrite> to_write;
    encoded.reserve(end - begin);
    for (size_t t = begin; t < end; ++t) {
      const ExpectedTensor& tensor = tensors[t];
      int64_t count = 1;
      for (int64_t dim : tensor.shape) count *= dim;
      Random random(HashName(tensor.name, options.seed));
      std::vector<float> values(count);
      if (IsNormWeight(tensor.name)) {
        for (float& v : values) v = static_cast<float>(1.0 + 0.1 * random.Normal());
      } else {
        double fan_in = tensor.name == "model.embed_tokens.weight" ? 1.0 : tensor.shape.back();
        double scale = 1.0 / std::sqrt(fan_in);
        for (float& v : values) v = static_cast<float>(scale * random.Normal());
      }
      encoded.push_back(Encode(values, options.dtype));
      to_write.push_back({tensor.name, options.dtype, tensor.shape, encoded.back()});
    }
    std::string file_name =
        options.num_shards == 1
            ? "model.safetensors"
            : absl::StrFormat("model-%05d-of-%05d.safetensors", shard + 1, options.num_shards);
    RATTN_RETURN_IF_ERROR(
        WriteSafetensors((std::filesystem::path(directory) / file_name).string(), to_write,
                         {{"format", "pt"}, {"generator", "rattn random checkpoint"}}));
  }
  return absl::OkStatus();
}

}  // namespace rattn::model
