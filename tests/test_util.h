// Helpers shared by the engine tests: scratch directories, small model configs, and running a
// token sequence through a backend.
#ifndef RATTN_TESTS_TEST_UTIL_H_
#define RATTN_TESTS_TEST_UTIL_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "engine/cache/cache_manager.h"
#include "engine/cpu/cpu_backend.h"
#include "engine/model/model_config.h"
#include "engine/model/random_checkpoint.h"

namespace rattn::testing {

// A fresh directory under the test's temporary directory, removed when destroyed.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& name);
  ~ScratchDir();
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A small config: `layers` as letters (r = rattention, s = sliding, f = full).
model::ModelConfig SmallConfig(const std::string& layers, int window, int heads = 4,
                               int kv_heads = 2, int head_dim = 16);

// Writes a random checkpoint of `config` into `dir` and opens a CPU backend on it.
std::unique_ptr<cpu::CpuBackend> MakeCpuBackend(const model::ModelConfig& config,
                                                const std::string& dir,
                                                const model::RandomCheckpointOptions& options = {});

// Cache pools with room for `sequences` sequences of up to `max_length` positions each, in
// `storage` (host fp32 when null).
std::unique_ptr<engine::CacheManager> MakeCacheManager(
    const model::ModelConfig& config, int block_size = 16, int sequences = 16,
    int64_t max_length = 4096, std::unique_ptr<engine::CacheStorage> storage = nullptr);

// The same in the storage `backend` computes on.
std::unique_ptr<engine::CacheManager> MakeCacheManagerFor(engine::Backend& backend,
                                                          int block_size = 16, int sequences = 16,
                                                          int64_t max_length = 4096);

// A new sequence of `manager`, failing the test when it cannot be made.
std::unique_ptr<engine::PagedSequenceCache> NewSequence(engine::CacheManager& manager,
                                                        int64_t max_length);

// Random token ids in [0, vocab).
std::vector<int32_t> RandomTokens(int count, int vocab, uint64_t seed);

// Logits of every position of `tokens`, from one whole-sequence prefill on a fresh cache.
std::vector<float> WholeSequenceLogits(engine::Backend& backend, std::span<const int32_t> tokens);

// max |a - b| / max |b| over one row of `width` values.
double RowRelativeError(const float* a, const float* b, int width);

}  // namespace rattn::testing

#endif  // RATTN_TESTS_TEST_UTIL_H_
