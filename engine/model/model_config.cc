// Parsing and validation of config.json; see model_config.h and docs/model-format.md.
#include "engine/model/model_config.h"

#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "engine/util/json_util.h"
#include "engine/util/status_macros.h"
#include "nlohmann/json.hpp"

namespace rattn::model {
namespace {

using nlohmann::json;

// Upper bounds that keep every size product far from overflow and reject nonsense early.
constexpr int kMaxVocab = 1 << 24;
constexpr int kMaxHidden = 1 << 16;
constexpr int kMaxIntermediate = 1 << 18;
constexpr int kMaxLayers = 1024;
constexpr int kMaxHeads = 1024;
constexpr int kMaxHeadDim = 1024;
constexpr int kMaxPositions = 1 << 24;

absl::Status KeyError(absl::string_view key, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat("config key '", key, "' ", problem));
}

// Reads an optional integer key; `out` keeps its value when the key is absent or null.
absl::Status ReadInt(const json& config, absl::string_view key, bool required, int* out) {
  auto it = config.find(key);
  if (it == config.end() || it->is_null()) {
    return required ? KeyError(key, "is missing") : absl::OkStatus();
  }
  if (!it->is_number_integer()) return KeyError(key, "must be an integer, got " + it->dump());
  int64_t value = it->get<int64_t>();
  if (value < std::numeric_limits<int>::min() || value > std::numeric_limits<int>::max()) {
    return KeyError(key, absl::StrCat("is out of range: ", value));
  }
  *out = static_cast<int>(value);
  return absl::OkStatus();
}

absl::Status ReadDouble(const json& config, absl::string_view key, double* out) {
  auto it = config.find(key);
  if (it == config.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_number()) return KeyError(key, "must be a number, got " + it->dump());
  *out = it->get<double>();
  return absl::OkStatus();
}

absl::Status ReadBool(const json& config, absl::string_view key, bool* out) {
  auto it = config.find(key);
  if (it == config.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_boolean()) return KeyError(key, "must be true or false, got " + it->dump());
  *out = it->get<bool>();
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadString(const json& config, absl::string_view key,
                                       std::string fallback) {
  auto it = config.find(key);
  if (it == config.end() || it->is_null()) return fallback;
  if (!it->is_string()) return KeyError(key, "must be a string, got " + it->dump());
  return it->get<std::string>();
}

absl::Status CheckRange(absl::string_view key, int64_t value, int64_t lo, int64_t hi) {
  if (value < lo || value > hi) {
    return KeyError(key, absl::StrCat("must be in [", lo, ", ", hi, "], got ", value));
  }
  return absl::OkStatus();
}

absl::StatusOr<LayerType> ParseLayerType(const json& value, size_t index) {
  if (value.is_string()) {
    std::string name = value.get<std::string>();
    if (name == "full_attention") return LayerType::kFullAttention;
    if (name == "sliding_attention") return LayerType::kSlidingAttention;
    if (name == "rattention") return LayerType::kRAttention;
  }
  return KeyError(
      absl::StrCat("layer_types[", index, "]"),
      "must be \"rattention\", \"sliding_attention\" or \"full_attention\", got " + value.dump());
}

// Keys that would change the computation in ways this engine does not implement are refused
// rather than ignored.
absl::Status RefuseUnsupportedKeys(const json& config) {
  if (auto it = config.find("hidden_act"); it != config.end() && !it->is_null()) {
    if (!it->is_string() || (it->get<std::string>() != "silu")) {
      return KeyError("hidden_act", "must be \"silu\", got " + it->dump());
    }
  }
  for (const char* key : {"attention_bias", "mlp_bias"}) {
    if (auto it = config.find(key); it != config.end() && !(it->is_boolean() && !it->get<bool>())) {
      return KeyError(key, "must be false (biases are not supported), got " + it->dump());
    }
  }
  if (auto it = config.find("rope_scaling"); it != config.end() && !it->is_null()) {
    return KeyError("rope_scaling", "is not supported (must be null), got " + it->dump());
  }
  return absl::OkStatus();
}

absl::Status ReadEosTokenIds(const json& config, std::vector<int>* out) {
  auto it = config.find("eos_token_id");
  if (it == config.end() || it->is_null()) return absl::OkStatus();
  std::vector<json> values = it->is_array() ? it->get<std::vector<json>>() : std::vector<json>{*it};
  for (const json& value : values) {
    if (!value.is_number_integer()) {
      return KeyError("eos_token_id",
                      "must be an integer or a list of integers, got " + it->dump());
    }
    int64_t id = value.get<int64_t>();
    if (id < 0 || id >= kMaxVocab) {
      return KeyError("eos_token_id", absl::StrCat("is out of range: ", id));
    }
    out->push_back(static_cast<int>(id));
  }
  return absl::OkStatus();
}

}  // namespace

absl::string_view LayerTypeName(LayerType type) {
  switch (type) {
    case LayerType::kFullAttention:
      return "full_attention";
    case LayerType::kSlidingAttention:
      return "sliding_attention";
    case LayerType::kRAttention:
      return "rattention";
  }
  return "unknown";
}

absl::string_view FeatureMapName(FeatureMap map) {
  return map == FeatureMap::kSoftmax ? "softmax" : "relu";
}

absl::StatusOr<ModelConfig> ModelConfig::FromJson(absl::string_view json_text) {
  RATTN_ASSIGN_OR_RETURN(json config, ParseJsonStrict(json_text, "config"));
  if (!config.is_object()) return absl::InvalidArgumentError("config must be a JSON object");

  ModelConfig c;
  RATTN_ASSIGN_OR_RETURN(c.model_type, ReadString(config, "model_type", ""));
  if (c.model_type != "rattention" && c.model_type != "llama" && c.model_type != "mistral") {
    return KeyError("model_type", "must be \"rattention\", \"llama\" or \"mistral\", got \"" +
                                      c.model_type + "\"");
  }
  RATTN_RETURN_IF_ERROR(RefuseUnsupportedKeys(config));

  RATTN_RETURN_IF_ERROR(ReadInt(config, "vocab_size", true, &c.vocab_size));
  RATTN_RETURN_IF_ERROR(ReadInt(config, "hidden_size", true, &c.hidden_size));
  RATTN_RETURN_IF_ERROR(ReadInt(config, "intermediate_size", true, &c.intermediate_size));
  RATTN_RETURN_IF_ERROR(ReadInt(config, "num_hidden_layers", true, &c.num_layers));
  RATTN_RETURN_IF_ERROR(ReadInt(config, "num_attention_heads", true, &c.num_heads));
  RATTN_RETURN_IF_ERROR(
      ReadInt(config, "max_position_embeddings", true, &c.max_position_embeddings));
  c.num_kv_heads = c.num_heads;
  RATTN_RETURN_IF_ERROR(ReadInt(config, "num_key_value_heads", false, &c.num_kv_heads));
  if (c.num_heads > 0 && c.hidden_size > 0) c.head_dim = c.hidden_size / c.num_heads;
  RATTN_RETURN_IF_ERROR(ReadInt(config, "head_dim", false, &c.head_dim));
  RATTN_RETURN_IF_ERROR(ReadInt(config, "sliding_window", false, &c.sliding_window));
  RATTN_RETURN_IF_ERROR(ReadDouble(config, "rope_theta", &c.rope_theta));
  RATTN_RETURN_IF_ERROR(ReadDouble(config, "rms_norm_eps", &c.rms_norm_eps));
  c.rla_norm_eps = c.rms_norm_eps;
  RATTN_RETURN_IF_ERROR(ReadDouble(config, "rla_norm_eps", &c.rla_norm_eps));
  RATTN_RETURN_IF_ERROR(ReadBool(config, "tie_word_embeddings", &c.tie_word_embeddings));
  RATTN_ASSIGN_OR_RETURN(std::string feature_map, ReadString(config, "rla_feature_map", "softmax"));
  if (feature_map == "softmax") {
    c.rla_feature_map = FeatureMap::kSoftmax;
  } else if (feature_map == "relu") {
    c.rla_feature_map = FeatureMap::kRelu;
  } else {
    return KeyError("rla_feature_map",
                    "must be \"softmax\" or \"relu\", got \"" + feature_map + "\"");
  }
  int bos = -1;
  RATTN_RETURN_IF_ERROR(ReadInt(config, "bos_token_id", false, &bos));
  if (config.contains("bos_token_id") && !config["bos_token_id"].is_null()) c.bos_token_id = bos;
  RATTN_RETURN_IF_ERROR(ReadEosTokenIds(config, &c.eos_token_ids));

  auto layer_types = config.find("layer_types");
  if (c.model_type == "rattention") {
    if (layer_types == config.end() || !layer_types->is_array()) {
      return KeyError("layer_types", "must be a list with one entry per layer");
    }
    if (layer_types->size() != static_cast<size_t>(std::max(c.num_layers, 0))) {
      return KeyError("layer_types",
                      absl::StrCat("has ", layer_types->size(),
                                   " entries but num_hidden_layers is ", c.num_layers));
    }
    for (size_t i = 0; i < layer_types->size(); ++i) {
      RATTN_ASSIGN_OR_RETURN(LayerType type, ParseLayerType((*layer_types)[i], i));
      c.layer_types.push_back(type);
    }
  } else {
    if (layer_types != config.end() && !layer_types->is_null()) {
      return KeyError("layer_types", "is only read for model_type \"rattention\"");
    }
    bool sliding = c.model_type == "mistral" && c.sliding_window > 0;
    if (c.model_type == "llama") c.sliding_window = 0;
    c.layer_types.assign(std::max(c.num_layers, 0),
                         sliding ? LayerType::kSlidingAttention : LayerType::kFullAttention);
  }

  if (c.NumLocalLayers() > 0 && c.sliding_window <= 0 &&
      (!config.contains("sliding_window") || config["sliding_window"].is_null())) {
    return KeyError("sliding_window", "is missing; layer_types has local layers, which need it");
  }
  RATTN_RETURN_IF_ERROR(c.Validate());
  return c;
}

absl::Status ModelConfig::Validate() const {
  RATTN_RETURN_IF_ERROR(CheckRange("vocab_size", vocab_size, 1, kMaxVocab));
  RATTN_RETURN_IF_ERROR(CheckRange("hidden_size", hidden_size, 1, kMaxHidden));
  RATTN_RETURN_IF_ERROR(CheckRange("intermediate_size", intermediate_size, 1, kMaxIntermediate));
  RATTN_RETURN_IF_ERROR(CheckRange("num_hidden_layers", num_layers, 1, kMaxLayers));
  RATTN_RETURN_IF_ERROR(CheckRange("num_attention_heads", num_heads, 1, kMaxHeads));
  RATTN_RETURN_IF_ERROR(CheckRange("num_key_value_heads", num_kv_heads, 1, num_heads));
  if (num_heads % num_kv_heads != 0) {
    return KeyError(
        "num_key_value_heads",
        absl::StrCat("(", num_kv_heads, ") must divide num_attention_heads (", num_heads, ")"));
  }
  RATTN_RETURN_IF_ERROR(CheckRange("head_dim", head_dim, 2, kMaxHeadDim));
  if (head_dim % 2 != 0) return KeyError("head_dim", absl::StrCat("must be even, got ", head_dim));
  RATTN_RETURN_IF_ERROR(
      CheckRange("max_position_embeddings", max_position_embeddings, 1, kMaxPositions));
  if (layer_types.size() != static_cast<size_t>(num_layers)) {
    return KeyError("layer_types", absl::StrCat("has ", layer_types.size(),
                                                " entries but num_hidden_layers is ", num_layers));
  }
  if (NumLocalLayers() > 0) {
    RATTN_RETURN_IF_ERROR(CheckRange("sliding_window", sliding_window, 1, kMaxPositions));
  }
  if (!std::isfinite(rope_theta) || rope_theta <= 1.0) {
    return KeyError("rope_theta", absl::StrCat("must be a finite number > 1, got ", rope_theta));
  }
  for (auto [key, eps] :
       {std::pair{"rms_norm_eps", rms_norm_eps}, {"rla_norm_eps", rla_norm_eps}}) {
    if (!std::isfinite(eps) || eps <= 0.0 || eps >= 1.0) {
      return KeyError(key, absl::StrCat("must be in (0, 1), got ", eps));
    }
  }
  if (bos_token_id.has_value()) {
    RATTN_RETURN_IF_ERROR(CheckRange("bos_token_id", *bos_token_id, 0, vocab_size - 1));
  }
  for (int eos : eos_token_ids) {
    RATTN_RETURN_IF_ERROR(CheckRange("eos_token_id", eos, 0, vocab_size - 1));
  }
  return absl::OkStatus();
}

std::string ModelConfig::ToJson() const {
  json config;
  config["model_type"] = "rattention";
  config["vocab_size"] = vocab_size;
  config["hidden_size"] = hidden_size;
  config["intermediate_size"] = intermediate_size;
  config["num_hidden_layers"] = num_layers;
  config["num_attention_heads"] = num_heads;
  config["num_key_value_heads"] = num_kv_heads;
  config["head_dim"] = head_dim;
  config["sliding_window"] = sliding_window;
  json types = json::array();
  for (LayerType type : layer_types) types.push_back(std::string(LayerTypeName(type)));
  config["layer_types"] = types;
  config["rope_theta"] = rope_theta;
  config["rms_norm_eps"] = rms_norm_eps;
  config["rla_feature_map"] = std::string(FeatureMapName(rla_feature_map));
  config["rla_norm_eps"] = rla_norm_eps;
  config["tie_word_embeddings"] = tie_word_embeddings;
  config["max_position_embeddings"] = max_position_embeddings;
  config["bos_token_id"] = bos_token_id.has_value() ? json(*bos_token_id) : json(nullptr);
  if (eos_token_ids.size() == 1) {
    config["eos_token_id"] = eos_token_ids[0];
  } else if (eos_token_ids.empty()) {
    config["eos_token_id"] = nullptr;
  } else {
    config["eos_token_id"] = eos_token_ids;
  }
  return config.dump(2) + "\n";
}

int ModelConfig::NumLocalLayers() const {
  int count = 0;
  for (int i = 0; i < num_layers && i < static_cast<int>(layer_types.size()); ++i) {
    count += IsLocal(i) ? 1 : 0;
  }
  return count;
}

int ModelConfig::NumGlobalLayers() const { return num_layers - NumLocalLayers(); }

int ModelConfig::NumRlaLayers() const {
  int count = 0;
  for (LayerType type : layer_types) count += type == LayerType::kRAttention ? 1 : 0;
  return count;
}

int64_t ModelConfig::NumParameters() const {
  int64_t h = hidden_size;
  int64_t attention = h * query_width() * 2 + h * kv_width() * 2;
  int64_t mlp = 3 * h * intermediate_size;
  int64_t total = static_cast<int64_t>(vocab_size) * h * (tie_word_embeddings ? 1 : 2) + h;
  for (int i = 0; i < num_layers; ++i) {
    total += attention + mlp + 2 * h;
    if (HasRla(i)) total += 2 * static_cast<int64_t>(query_width());
  }
  return total;
}

}  // namespace rattn::model
