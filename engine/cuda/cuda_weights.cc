// Weight upload for the CUDA backend; see cuda_weights.h.
#include "engine/cuda/cuda_weights.h"

#include <cuda_runtime_api.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "engine/util/float16.h"
#include "engine/util/status_macros.h"
#include "kernels/cuda/cuda_check.h"

namespace rattn::cuda {
namespace {

using kernels::cpu::WeightType;

int64_t Elements(const cpu::HostMatrix& m) {
  return static_cast<int64_t>(m.type == WeightType::kF32 ? m.f32.size() : m.bits16.size());
}

absl::StatusOr<DeviceMemory> UploadBytes(const void* data, int64_t bytes, const std::string& what) {
  RATTN_ASSIGN_OR_RETURN(DeviceMemory memory, DeviceMemory::Allocate(bytes, what));
  RATTN_CUDA_RETURN_IF_ERROR(
      cudaMemcpy(memory.get(), data, static_cast<size_t>(bytes), cudaMemcpyHostToDevice));
  return memory;
}

// A matrix in bf16: bf16 bit patterns as they are, fp32 and f16 rounded to nearest even.
absl::StatusOr<DeviceMemory> UploadMatrix(const cpu::HostMatrix& m, const std::string& what) {
  if (m.type == WeightType::kBF16) {
    return UploadBytes(m.bits16.data(), Elements(m) * 2, what);
  }
  std::vector<uint16_t> bits(Elements(m));
  for (size_t i = 0; i < bits.size(); ++i) {
    bits[i] = FloatToBf16(m.type == WeightType::kF32 ? m.f32[i] : F16ToFloat(m.bits16[i]));
  }
  return UploadBytes(bits.data(), static_cast<int64_t>(bits.size()) * 2, what);
}

absl::StatusOr<DeviceMemory> UploadVector(const std::vector<float>& v, const std::string& what) {
  return UploadBytes(v.data(), static_cast<int64_t>(v.size() * sizeof(float)), what);
}

}  // namespace

int64_t CudaWeights::BytesFor(const cpu::CpuWeights& host) {
  int64_t bytes = (Elements(host.embed) + Elements(host.lm_head)) * 2 +
                  static_cast<int64_t>(host.final_norm.size() * sizeof(float));
  for (const cpu::CpuLayerWeights& l : host.layers) {
    bytes += (Elements(l.qkv) + Elements(l.o) + Elements(l.gate_up) + Elements(l.down)) * 2;
    bytes += static_cast<int64_t>(
        (l.input_norm.size() + l.post_norm.size() + l.swa_norm.size() + l.rla_norm.size()) *
        sizeof(float));
  }
  return bytes;
}

int64_t CudaWeights::StreamedBytes() const {
  int64_t bytes = lm_head.get() != nullptr ? lm_head.bytes() : embed.bytes();
  for (const CudaLayerWeights& l : layers) {
    bytes += l.qkv.bytes() + l.o.bytes() + l.gate_up.bytes() + l.down.bytes();
  }
  return bytes;
}

int64_t CudaWeights::TotalBytes() const {
  int64_t bytes = embed.bytes() + lm_head.bytes() + final_norm.bytes();
  for (const CudaLayerWeights& l : layers) {
    bytes += l.input_norm.bytes() + l.qkv.bytes() + l.o.bytes() + l.swa_norm.bytes() +
             l.rla_norm.bytes() + l.post_norm.bytes() + l.gate_up.bytes() + l.down.bytes();
  }
  return bytes;
}

absl::StatusOr<CudaWeights> CudaWeights::Upload(const cpu::CpuWeights& host) {
  CudaWeights w;
  RATTN_ASSIGN_OR_RETURN(w.embed, UploadMatrix(host.embed, "model.embed_tokens.weight"));
  if (Elements(host.lm_head) > 0) {
    RATTN_ASSIGN_OR_RETURN(w.lm_head, UploadMatrix(host.lm_head, "lm_head.weight"));
  }
  RATTN_ASSIGN_OR_RETURN(w.final_norm, UploadVector(host.final_norm, "model.norm.weight"));
  w.layers.resize(host.layers.size());
  for (size_t i = 0; i < host.layers.size(); ++i) {
    const cpu::CpuLayerWeights& h = host.layers[i];
    CudaLayerWeights& d = w.layers[i];
    const std::string layer = absl::StrCat("layer ", i, " ");
    RATTN_ASSIGN_OR_RETURN(d.input_norm, UploadVector(h.input_norm, layer + "input norm"));
    RATTN_ASSIGN_OR_RETURN(d.qkv, UploadMatrix(h.qkv, layer + "qkv projection"));
    RATTN_ASSIGN_OR_RETURN(d.o, UploadMatrix(h.o, layer + "o projection"));
    if (!h.swa_norm.empty()) {
      RATTN_ASSIGN_OR_RETURN(d.swa_norm, UploadVector(h.swa_norm, layer + "swa norm"));
      RATTN_ASSIGN_OR_RETURN(d.rla_norm, UploadVector(h.rla_norm, layer + "rla norm"));
    }
    RATTN_ASSIGN_OR_RETURN(d.post_norm, UploadVector(h.post_norm, layer + "post norm"));
    RATTN_ASSIGN_OR_RETURN(d.gate_up, UploadMatrix(h.gate_up, layer + "gate/up projection"));
    RATTN_ASSIGN_OR_RETURN(d.down, UploadMatrix(h.down, layer + "down projection"));
  }
  return w;
}

}  // namespace rattn::cuda
