// Weight loading for the CPU backend; see cpu_weights.h.
#include "engine/cpu/cpu_weights.h"

#include <span>
#include <string>

#include "engine/util/status_macros.h"

namespace rattn::cpu {
namespace {

using kernels::cpu::WeightType;
using model::DType;
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

// Reads a matrix stacked from the named tensors, in 16 bits when they all are and `precision`
// allows.
absl::Status ReadMatrix(const model::Checkpoint& checkpoint,
                        std::initializer_list<std::string> names, WeightPrecision precision,
                        HostMatrix* out) {
  const DType first = checkpoint.tensor(*names.begin()).dtype;
  bool same = true;
  for (const std::string& name : names) same = same && checkpoint.tensor(name).dtype == first;
  if (precision == WeightPrecision::kFloat32 || !same || first == DType::kF32) {
    out->type = WeightType::kF32;
    return ReadStacked(checkpoint, names, &out->f32);
  }
  out->type = first == DType::kBF16 ? WeightType::kBF16 : WeightType::kF16;
  size_t total = 0;
  for (const std::string& name : names) total += checkpoint.tensor(name).num_elements();
  out->bits16.resize(total);
  size_t offset = 0;
  for (const std::string& name : names) {
    size_t count = checkpoint.tensor(name).num_elements();
    RATTN_RETURN_IF_ERROR(
        checkpoint.ReadBits16(name, std::span<uint16_t>(out->bits16.data() + offset, count)));
    offset += count;
  }
  return absl::OkStatus();
}

}  // namespace

int64_t CpuWeights::StreamedBytes() const {
  int64_t bytes = output_projection().bytes();
  for (const CpuLayerWeights& layer : layers) {
    bytes += layer.qkv.bytes() + layer.o.bytes() + layer.gate_up.bytes() + layer.down.bytes();
  }
  return bytes;
}

int64_t CpuWeights::TotalBytes() const {
  return StreamedBytes() + (lm_head.bytes() > 0 ? embed.bytes() : 0);
}

absl::StatusOr<CpuWeights> CpuWeights::Load(const model::Checkpoint& checkpoint,
                                            WeightPrecision precision) {
  const model::ModelConfig& config = checkpoint.config();
  CpuWeights weights;
  RATTN_RETURN_IF_ERROR(
      ReadMatrix(checkpoint, {"model.embed_tokens.weight"}, precision, &weights.embed));
  weights.layers.resize(config.num_layers);
  for (int i = 0; i < config.num_layers; ++i) {
    CpuLayerWeights& layer = weights.layers[i];
    auto name = [i](absl::string_view suffix) { return LayerTensorName(i, suffix); };
    RATTN_RETURN_IF_ERROR(
        ReadStacked(checkpoint, {name("input_layernorm.weight")}, &layer.input_norm));
    RATTN_RETURN_IF_ERROR(
        ReadMatrix(checkpoint,
                   {name("self_attn.q_proj.weight"), name("self_attn.k_proj.weight"),
                    name("self_attn.v_proj.weight")},
                   precision, &layer.qkv));
    RATTN_RETURN_IF_ERROR(
        ReadMatrix(checkpoint, {name("self_attn.o_proj.weight")}, precision, &layer.o));
    if (config.HasRla(i)) {
      RATTN_RETURN_IF_ERROR(
          ReadStacked(checkpoint, {name("self_attn.swa_norm.weight")}, &layer.swa_norm));
      RATTN_RETURN_IF_ERROR(
          ReadStacked(checkpoint, {name("self_attn.rla_norm.weight")}, &layer.rla_norm));
    }
    RATTN_RETURN_IF_ERROR(
        ReadStacked(checkpoint, {name("post_attention_layernorm.weight")}, &layer.post_norm));
    RATTN_RETURN_IF_ERROR(ReadMatrix(checkpoint,
                                     {name("mlp.gate_proj.weight"), name("mlp.up_proj.weight")},
                                     precision, &layer.gate_up));
    RATTN_RETURN_IF_ERROR(
        ReadMatrix(checkpoint, {name("mlp.down_proj.weight")}, precision, &layer.down));
  }
  RATTN_RETURN_IF_ERROR(ReadStacked(checkpoint, {"model.norm.weight"}, &weights.final_norm));
  if (!config.tie_word_embeddings) {
    RATTN_RETURN_IF_ERROR(ReadMatrix(checkpoint, {"lm_head.weight"}, precision, &weights.lm_head));
  }
  return weights;
}

}  // namespace rattn::cpu
