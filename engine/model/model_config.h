// The model hyperparameters read from a checkpoint's config.json, validated once.
//
// Three `model_type`s are accepted:
//   "rattention": the keys listed in docs/model-format.md, with an explicit `layer_types`;
//   "llama":      a Hugging Face Llama config; every layer is full_attention;
//   "mistral":    every layer is sliding_attention over `sliding_window` (full_attention when
//                 `sliding_window` is null).
#ifndef RATTN_ENGINE_MODEL_MODEL_CONFIG_H_
#define RATTN_ENGINE_MODEL_MODEL_CONFIG_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "kernels/feature_map.h"

namespace rattn::model {

enum class LayerType {
  kFullAttention,     // global layer: causal softmax attention over every earlier position
  kSlidingAttention,  // local layer: softmax attention over the last w + 1 positions
  kRAttention,        // local layer: sliding window plus residual linear attention
};

using FeatureMap = kernels::FeatureMap;

absl::string_view LayerTypeName(LayerType type);
absl::string_view FeatureMapName(FeatureMap map);

struct ModelConfig {
  std::string model_type = "rattention";
  int vocab_size = 0;
  int hidden_size = 0;
  int intermediate_size = 0;
  int num_layers = 0;
  int num_heads = 0;
  int num_kv_heads = 0;
  int head_dim = 0;
  int sliding_window = 0;  // w: a local layer's query t sees positions t - w .. t
  std::vector<LayerType> layer_types;
  double rope_theta = 10000.0;
  double rms_norm_eps = 1e-6;
  FeatureMap rla_feature_map = FeatureMap::kSoftmax;
  double rla_norm_eps = 1e-6;
  bool tie_word_embeddings = false;
  int max_position_embeddings = 0;
  std::optional<int> bos_token_id;
  std::vector<int> eos_token_ids;

  // Parses and validates config.json text. Errors name the key and the problem.
  static absl::StatusOr<ModelConfig> FromJson(absl::string_view json_text);

  // Checks every value against its range and the others (head counts divide, sizes fit).
  absl::Status Validate() const;

  // The canonical "rattention" config.json text for this config.
  std::string ToJson() const;

  bool IsLocal(int layer) const { return layer_types[layer] != LayerType::kFullAttention; }
  bool IsGlobal(int layer) const { return !IsLocal(layer); }
  bool HasRla(int layer) const { return layer_types[layer] == LayerType::kRAttention; }
  int NumLocalLayers() const;
  int NumGlobalLayers() const;
  int NumRlaLayers() const;

  int query_width() const { return num_heads * head_dim; }
  int kv_width() const { return num_kv_heads * head_dim; }
  int group_size() const { return num_heads / num_kv_heads; }
  // Floats in one rattention layer's state: num_kv_heads x (2 * head_dim) x head_dim.
  int64_t rla_state_floats() const {
    return static_cast<int64_t>(num_kv_heads) * 2 * head_dim * head_dim;
  }
  int64_t NumParameters() const;
};

}  // namespace rattn::model

#endif  // RATTN_ENGINE_MODEL_MODEL_CONFIG_H_
