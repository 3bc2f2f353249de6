// rattn-make-checkpoint: writes a checkpoint with random weights of given dimensions and layer
// mix, deterministic in --seed, for tests and benchmarks.
//
//   rattn-make-checkpoint --out=/tmp/tiny --layers=r,r,r,f --hidden=64 --heads=4 --kv_heads=2
//       --window=7 --dtype=bf16 --seed=1
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "engine/model/random_checkpoint.h"
#include "engine/util/logging.h"

ABSL_FLAG(std::string, out, "", "Directory to write (created if missing)");
ABSL_FLAG(std::string, layers, "r,r,r,f",
          "Comma-separated layer types: r|rattention, s|sliding_attention, f|full_attention");
ABSL_FLAG(int, vocab, 256, "Vocabulary size");
ABSL_FLAG(int, hidden, 64, "Hidden size");
ABSL_FLAG(int, intermediate, 128, "MLP intermediate size");
ABSL_FLAG(int, heads, 4, "Query heads");
ABSL_FLAG(int, kv_heads, 2, "Key/value heads");
ABSL_FLAG(int, head_dim, 0, "Head dimension (0: hidden / heads)");
ABSL_FLAG(int, window, 16, "Sliding window w (a local query sees w + 1 positions)");
ABSL_FLAG(std::string, feature_map, "softmax", "Linear-attention feature map: softmax or relu");
ABSL_FLAG(bool, tie_embeddings, false, "Tie lm_head to the token embedding");
ABSL_FLAG(int, max_positions, 4096, "max_position_embeddings");
ABSL_FLAG(double, rope_theta, 10000.0, "RoPE base");
ABSL_FLAG(double, rms_norm_eps, 1e-5, "RMSNorm epsilon");
ABSL_FLAG(double, rla_norm_eps, 1e-5, "Per-head RMSNorm epsilon of the two attention branches");
ABSL_FLAG(std::string, dtype, "f32", "Weight dtype: f32, f16 or bf16");
ABSL_FLAG(int, shards, 1, "Number of safetensors files");
ABSL_FLAG(uint64_t, seed, 0, "Random seed");
ABSL_FLAG(bool, llama_config, false,
          "Write a Hugging Face Llama config.json (model_type llama; all layers full_attention)");

namespace {

using rattn::model::DType;
using rattn::model::LayerType;
using rattn::model::ModelConfig;

absl::StatusOr<LayerType> ParseLayer(absl::string_view name) {
  if (name == "r" || name == "rattention") return LayerType::kRAttention;
  if (name == "s" || name == "sliding_attention") return LayerType::kSlidingAttention;
  if (name == "f" || name == "full_attention") return LayerType::kFullAttention;
  return absl::InvalidArgumentError(absl::StrCat("--layers: unknown layer type '", name, "'"));
}

absl::StatusOr<DType> ParseDType(absl::string_view name) {
  if (name == "f32") return DType::kF32;
  if (name == "f16") return DType::kF16;
  if (name == "bf16") return DType::kBF16;
  return absl::InvalidArgumentError(absl::StrCat("--dtype must be f32, f16 or bf16, got ", name));
}

std::string LlamaConfigJson(const ModelConfig& c) {
  return absl::StrCat(
      "{\n  \"architectures\": [\"LlamaForCausalLM\"],\n  \"model_type\": \"llama\",\n",
      "  \"hidden_act\": \"silu\",\n  \"attention_bias\": false,\n  \"rope_scaling\": null,\n",
      "  \"vocab_size\": ", c.vocab_size, ",\n  \"hidden_size\": ", c.hidden_size,
      ",\n  \"intermediate_size\": ", c.intermediate_size,
      ",\n  \"num_hidden_layers\": ", c.num_layers, ",\n  \"num_attention_heads\": ", c.num_heads,
      ",\n  \"num_key_value_heads\": ", c.num_kv_heads, ",\n  \"head_dim\": ", c.head_dim,
      ",\n  \"rope_theta\": ", c.rope_theta, ",\n  \"rms_norm_eps\": ", c.rms_norm_eps,
      ",\n  \"tie_word_embeddings\": ", c.tie_word_embeddings ? "true" : "false",
      ",\n  \"max_position_embeddings\": ", c.max_position_embeddings,
      ",\n  \"bos_token_id\": 1,\n  \"eos_token_id\": 2,\n  \"torch_dtype\": \"float32\"\n}\n");
}

absl::Status Run() {
  ModelConfig config;
  config.vocab_size = absl::GetFlag(FLAGS_vocab);
  config.hidden_size = absl::GetFlag(FLAGS_hidden);
  config.intermediate_size = absl::GetFlag(FLAGS_intermediate);
  config.num_heads = absl::GetFlag(FLAGS_heads);
  config.num_kv_heads = absl::GetFlag(FLAGS_kv_heads);
  config.head_dim = absl::GetFlag(FLAGS_head_dim);
  if (config.head_dim == 0 && config.num_heads > 0) {
    config.head_dim = config.hidden_size / config.num_heads;
  }
  config.sliding_window = absl::GetFlag(FLAGS_window);
  for (absl::string_view name : absl::StrSplit(absl::GetFlag(FLAGS_layers), ',')) {
    absl::StatusOr<LayerType> type = ParseLayer(name);
    if (!type.ok()) return type.status();
    config.layer_types.push_back(*type);
  }
  config.num_layers = static_cast<int>(config.layer_types.size());
  std::string feature_map = absl::GetFlag(FLAGS_feature_map);
  if (feature_map != "softmax" && feature_map != "relu") {
    return absl::InvalidArgumentError("--feature_map must be softmax or relu");
  }
  config.rla_feature_map =
      feature_map == "relu" ? rattn::model::FeatureMap::kRelu : rattn::model::FeatureMap::kSoftmax;
  config.tie_word_embeddings = absl::GetFlag(FLAGS_tie_embeddings);
  config.max_position_embeddings = absl::GetFlag(FLAGS_max_positions);
  config.rope_theta = absl::GetFlag(FLAGS_rope_theta);
  config.rms_norm_eps = absl::GetFlag(FLAGS_rms_norm_eps);
  config.rla_norm_eps = absl::GetFlag(FLAGS_rla_norm_eps);
  config.bos_token_id = std::min(1, config.vocab_size - 1);
  config.eos_token_ids = {std::min(2, config.vocab_size - 1)};

  rattn::model::RandomCheckpointOptions options;
  options.seed = absl::GetFlag(FLAGS_seed);
  absl::StatusOr<DType> dtype = ParseDType(absl::GetFlag(FLAGS_dtype));
  if (!dtype.ok()) return dtype.status();
  options.dtype = *dtype;
  options.num_shards = absl::GetFlag(FLAGS_shards);
  if (absl::GetFlag(FLAGS_llama_config)) {
    if (config.NumGlobalLayers() != config.num_layers) {
      return absl::InvalidArgumentError("--llama_config needs every layer full_attention (f)");
    }
    options.config_json = LlamaConfigJson(config);
  }
  std::string out = absl::GetFlag(FLAGS_out);
  if (out.empty()) return absl::InvalidArgumentError("--out is required");
  absl::Status written = rattn::model::WriteRandomCheckpoint(config, options, out);
  if (!written.ok()) return written;
  RATTN_LOG(INFO) << "wrote " << out << ": " << config.NumParameters() << " parameters, layers "
                  << absl::GetFlag(FLAGS_layers);
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("Writes a random RAttention checkpoint. See --help.");
  absl::ParseCommandLine(argc, argv);
  absl::Status status = Run();
  if (!status.ok()) {
    std::fprintf(stderr, "rattn-make-checkpoint: %s\n", std::string(status.message()).c_str());
    return 1;
  }
  return 0;
}
