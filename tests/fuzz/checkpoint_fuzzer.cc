// Fuzzes the checkpoint loader: config.json and a safetensors file from one input (split at its
// first NUL byte, which well-formed JSON never holds), opened as a model directory and, when
// the loader accepts it, loaded onto the CPU backend, which reads every tensor.
#include <cstring>
#include <fstream>
#include <string>

#include "engine/cpu/cpu_backend.h"
#include "engine/model/checkpoint.h"
#include "tests/fuzz/fuzz_target.h"

namespace {

void WriteFile(const std::string& path, const uint8_t* data, size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  RATTN_FUZZ_CHECK(out.good());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const uint8_t* nul = static_cast<const uint8_t*>(std::memchr(data, 0, size));
  const size_t config_size = nul == nullptr ? size : static_cast<size_t>(nul - data);
  const size_t tensors_offset = nul == nullptr ? size : config_size + 1;
  WriteFile(rattn::fuzz::ScratchDir() + "/config.json", data, config_size);
  WriteFile(rattn::fuzz::ScratchDir() + "/model.safetensors", data + tensors_offset,
            size - tensors_offset);

  auto checkpoint = rattn::model::Checkpoint::Open(rattn::fuzz::ScratchDir());
  if (!checkpoint.ok()) {
    // Refusals name what they refuse.
    RATTN_FUZZ_CHECK(!checkpoint.status().message().empty());
    return 0;
  }
  auto backend = rattn::cpu::CpuBackend::Create(**checkpoint, {.num_threads = 1});
  if (backend.ok()) {
    RATTN_FUZZ_CHECK((*backend)->config().num_layers == (*checkpoint)->config().num_layers);
  }
  return 0;
}
