// Loading and validation of checkpoint directories; see checkpoint.h.
#include "engine/model/checkpoint.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "engine/util/file_util.h"
#include "engine/util/float16.h"
#include "engine/util/logging.h"
#include "engine/util/status_macros.h"

namespace rattn::model {
namespace {

namespace fs = std::filesystem;

std::string ShapeText(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

// config.json files are a few KiB; anything this large is not one.
constexpr int64_t kMaxConfigBytes = 16 << 20;

// Older Hugging Face exports carry the RoPE frequencies as a buffer; they are recomputed here.
bool IsIgnorableTensor(absl::string_view name) {
  return absl::EndsWith(name, ".rotary_emb.inv_freq");
}

}  // namespace

std::string LayerTensorName(int layer, absl::string_view suffix) {
  return absl::StrCat("model.layers.", layer, ".", suffix);
}

std::vector<ExpectedTensor> ExpectedTensors(const ModelConfig& c) {
  const int64_t h = c.hidden_size;
  std::vector<ExpectedTensor> expected;
  expected.push_back({"model.embed_tokens.weight", {c.vocab_size, h}});
  for (int i = 0; i < c.num_layers; ++i) {
    expected.push_back({LayerTensorName(i, "input_layernorm.weight"), {h}});
    expected.push_back({LayerTensorName(i, "self_attn.q_proj.weight"), {c.query_width(), h}});
    expected.push_back({LayerTensorName(i, "self_attn.k_proj.weight"), {c.kv_width(), h}});
    expected.push_back({LayerTensorName(i, "self_attn.v_proj.weight"), {c.kv_width(), h}});
    expected.push_back({LayerTensorName(i, "self_attn.o_proj.weight"), {h, c.query_width()}});
    if (c.HasRla(i)) {
      expected.push_back(
          {LayerTensorName(i, "self_attn.swa_norm.weight"), {c.num_heads, c.head_dim}});
      expected.push_back(
          {LayerTensorName(i, "self_attn.rla_norm.weight"), {c.num_heads, c.head_dim}});
    }
    expected.push_back({LayerTensorName(i, "post_attention_layernorm.weight"), {h}});
    expected.push_back({LayerTensorName(i, "mlp.gate_proj.weight"), {c.intermediate_size, h}});
    expected.push_back({LayerTensorName(i, "mlp.up_proj.weight"), {c.intermediate_size, h}});
    expected.push_back({LayerTensorName(i, "mlp.down_proj.weight"), {h, c.intermediate_size}});
  }
  expected.push_back({"model.norm.weight", {h}});
  if (!c.tie_word_embeddings) expected.push_back({"lm_head.weight", {c.vocab_size, h}});
  return expected;
}

absl::StatusOr<std::unique_ptr<Checkpoint>> Checkpoint::Open(const std::string& directory) {
  std::error_code error;
  if (!fs::is_directory(directory, error)) {
    return absl::NotFoundError(absl::StrCat(directory, ": not a checkpoint directory"));
  }
  std::unique_ptr<Checkpoint> checkpoint(new Checkpoint());
  checkpoint->directory_ = directory;

  fs::path config_path = fs::path(directory) / "config.json";
  RATTN_ASSIGN_OR_RETURN(std::string config_text,
                         ReadSmallFile(config_path.string(), kMaxConfigBytes));
  absl::StatusOr<ModelConfig> config = ModelConfig::FromJson(config_text);
  if (!config.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(config_path.string(), ": ", config.status().message()));
  }
  checkpoint->config_ = *std::move(config);

  std::vector<std::string> paths;
  for (const fs::directory_entry& entry : fs::directory_iterator(directory, error)) {
    if (entry.path().extension() == ".safetensors") paths.push_back(entry.path().string());
  }
  if (error) {
    return absl::PermissionDeniedError(absl::StrCat(directory, ": cannot list: ", error.message()));
  }
  if (paths.empty()) {
    return absl::NotFoundError(absl::StrCat(directory, ": no *.safetensors files"));
  }
  std::sort(paths.begin(), paths.end());

  for (const std::string& path : paths) {
    RATTN_ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsFile> file, SafetensorsFile::Open(path));
    for (const TensorInfo& tensor : file->tensors()) {
      auto [it, inserted] =
          checkpoint->tensors_.try_emplace(tensor.name, Located{&tensor, file.get()});
      if (!inserted) {
        return absl::InvalidArgumentError(absl::StrCat(path, ": tensor '", tensor.name,
                                                       "' is also in ", it->second.file->path()));
      }
    }
    checkpoint->files_.push_back(std::move(file));
  }

  // Every expected tensor present with its shape and a float dtype.
  std::vector<ExpectedTensor> expected = ExpectedTensors(checkpoint->config_);
  std::map<DType, int> dtype_counts;
  for (const ExpectedTensor& want : expected) {
    auto it = checkpoint->tensors_.find(want.name);
    if (it == checkpoint->tensors_.end()) {
      return absl::InvalidArgumentError(absl::StrCat(directory, ": tensor '", want.name,
                                                     "' is missing (expected shape ",
                                                     ShapeText(want.shape), " from config.json)"));
    }
    const TensorInfo& have = *it->second.tensor;
    const std::string& path = it->second.file->path();
    if (have.dtype != DType::kF32 && have.dtype != DType::kF16 && have.dtype != DType::kBF16) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": tensor '", want.name, "' has dtype ",
                                                     DTypeName(have.dtype),
                                                     "; expected F32, F16 or BF16"));
    }
    if (have.shape != want.shape) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": tensor '", want.name, "' has shape ", ShapeText(have.shape),
                       "; config.json implies ", ShapeText(want.shape)));
    }
    ++dtype_counts[have.dtype];
  }
  // Nothing else, but for buffers the engine recomputes.
  absl::flat_hash_set<std::string> expected_names;
  for (const ExpectedTensor& want : expected) expected_names.insert(want.name);
  for (const auto& [name, located] : checkpoint->tensors_) {
    if (expected_names.contains(name)) continue;
    if (IsIgnorableTensor(name)) {
      RATTN_LOG(WARNING) << located.file->path() << ": ignoring tensor '" << name
                         << "' (recomputed by the engine)";
      continue;
    }
    std::string hint;
    if (name == "lm_head.weight" && checkpoint->config_.tie_word_embeddings) {
      hint = " (config.json sets tie_word_embeddings, so lm_head.weight must be absent)";
    }
    return absl::InvalidArgumentError(
        absl::StrCat(located.file->path(), ": unexpected tensor '", name, "'", hint));
  }
  checkpoint->storage_dtype_ =
      std::max_element(dtype_counts.begin(), dtype_counts.end(), [](const auto& a, const auto& b) {
        return a.second < b.second;
      })->first;
  return checkpoint;
}

const TensorInfo& Checkpoint::tensor(absl::string_view name) const {
  return *tensors_.find(name)->second.tensor;
}

const std::string& Checkpoint::FileOf(absl::string_view name) const {
  return tensors_.find(name)->second.file->path();
}

absl::Status Checkpoint::ReadFloat(absl::string_view name, std::span<float> out) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) {
    return absl::NotFoundError(absl::StrCat(directory_, ": no tensor '", name, "'"));
  }
  const std::string& path = it->second.file->path();
  absl::Status converted = ConvertToFloat(*it->second.tensor, out);
  if (!converted.ok())
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", converted.message()));
  for (size_t i = 0; i < out.size(); ++i) {
    if (!std::isfinite(out[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": tensor '", name, "' holds ", out[i], " at element ", i));
    }
  }
  return absl::OkStatus();
}

absl::Status Checkpoint::ReadBits16(absl::string_view name, std::span<uint16_t> out) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) {
    return absl::NotFoundError(absl::StrCat(directory_, ": no tensor '", name, "'"));
  }
  const TensorInfo& tensor = *it->second.tensor;
  const std::string& path = it->second.file->path();
  if (tensor.dtype != DType::kBF16 && tensor.dtype != DType::kF16) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, ": tensor '", name, "' is ", DTypeName(tensor.dtype), ", not 16-bit"));
  }
  if (out.size() != static_cast<size_t>(tensor.num_elements())) {
    return absl::InternalError(absl::StrCat("tensor '", name, "' has ", tensor.num_elements(),
                                            " elements, output holds ", out.size()));
  }
  std::memcpy(out.data(), tensor.data.data(), out.size() * sizeof(uint16_t));
  // An all-ones exponent is an infinity or a NaN in both formats.
  const uint16_t exponent = tensor.dtype == DType::kBF16 ? 0x7f80 : 0x7c00;
  for (size_t i = 0; i < out.size(); ++i) {
    if ((out[i] & exponent) == exponent) {
      const float value = tensor.dtype == DType::kBF16 ? Bf16ToFloat(out[i]) : F16ToFloat(out[i]);
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": tensor '", name, "' holds ", value, " at element ", i));
    }
  }
  return absl::OkStatus();
}

}  // namespace rattn::model
