// fp32 weight loading for the CPU backend; see cpu_weights.h.
#include "engine/cpu/cpu_weights.h"

#include <span>
#include <string>

#include "engine/util/status_macros.h"

namespace rattn::cpu {
namespace {

using model::LayerTensorName;

// Reads the named tensors one after another into `out`, which must hold exactly their sum.
absl::Status ReadStacked(const model::Checkpoint& checkpoint,
                         std::initializer_list<std::string> names, std::vector<float>* out) {
  size_t total = 0;
  for (const std::string& name : names) total += checkpoint.tensor(name).num_elements();
  out->resize(total);
  size_t offset = 0;
  for (const std::string& name : names) {
    size_t count = checkpoint.tensor(name).num_elements();
    RATTN_RETURN_IF_ERROR(
        checkpoint.ReadFloat(name, std::span<float>(out->data() + offset, count)));
    offset += count;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<CpuWeights> CpuWeights::Load(const model::Checkpoint& checkpoint) {
  const model::ModelConfig& config = checkpoint.config();
  CpuWeights weights;
  RATTN_RETURN_IF_ERROR(ReadStacked(checkpoint, {"model.embed_tokens.weight"}, &weights.embed));
  weights.layers.resize(config.num_layers);
  for (int i = 0; i < config.num_layers; ++i) {
    CpuLayerWeights& layer = weights.layers[i];
    auto name = [i](absl::string_view suffix) { return LayerTensorName(i, suffix); };
    RATTN_RETURN_IF_ERROR(
        ReadStacked(checkpoint, {name("input_layernorm.weight")}, &layer.input_norm));
    RATTN_RETURN_IF_ERROR(
        ReadStacked(checkpoint,
                    {name("self_attn.q_proj.weight"), name("self_attn.k_proj.weight"),
                     name("self_attn.v_proj.weight")},
                    &layer.qkv));
    RATTN_RETURN_IF_ERROR(ReadStacked(checkpoint, {name("self_attn.o_proj.weight")}, &layer.o));
    if (config.HasRla(i)) {
      RATTN_RETURN_IF_ERROR(
          ReadStacked(checkpoint, {name("self_attn.swa_norm.weight")}, &layer.swa_norm));
      RATTN_RETURN_IF_ERROR(
          ReadStacked(checkpoint, {name("self_attn.rla_norm.weight")}, &layer.rla_norm));
    }
    RATTN_RETURN_IF_ERROR(
        ReadStacked(checkpoint, {name("post_attention_layernorm.weight")}, &layer.post_norm));
    RATTN_RETURN_IF_ERROR(ReadStacked(
        checkpoint, {name("mlp.gate_proj.weight"), name("mlp.up_proj.weight")}, &layer.gate_up));
    RATTN_RETURN_IF_ERROR(ReadStacked(checkpoint, {name("mlp.down_proj.weight")}, &layer.down));
  }
  RATTN_RETURN_IF_ERROR(ReadStacked(checkpoint, {"model.norm.weight"}, &weights.final_norm));
  if (!config.tie_word_embeddings) {
    RATTN_RETURN_IF_ERROR(ReadStacked(checkpoint, {"lm_head.weight"}, &weights.lm_head));
  }
  return weights;
}

}  // namespace rattn::cpu
