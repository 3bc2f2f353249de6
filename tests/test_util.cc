// Shared test helpers; see test_util.h.
#include "tests/test_util.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <random>

#include "engine/model/checkpoint.h"
#include "gtest/gtest.h"

namespace rattn::testing {

ScratchDir::ScratchDir(const std::string& name) {
  const char* base = std::getenv("TEST_TMPDIR");
  std::filesystem::path root = base != nullptr ? base : std::filesystem::temp_directory_path();
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string test =
      info != nullptr ? std::string(info->test_suite_name()) + "." + info->name() : "global";
  std::replace(test.begin(), test.end(), '/', '_');
  path_ = (root / ("rattn_" + test + "_" + name + "_" + std::to_string(::getpid()))).string();
  std::filesystem::remove_all(path_);
  std::filesystem::create_directories(path_);
}

ScratchDir::~ScratchDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

model::ModelConfig SmallConfig(const std::string& layers, int window, int heads, int kv_heads,
                               int head_dim) {
  model::ModelConfig config;
  config.vocab_size = 101;
  config.hidden_size = 48;
  config.intermediate_size = 80;
  config.num_heads = heads;
  config.num_kv_heads = kv_heads;
  config.head_dim = head_dim;
  config.sliding_window = window;
  for (char c : layers) {
    config.layer_types.push_back(c == 'r'   ? model::LayerType::kRAttention
                                 : c == 's' ? model::LayerType::kSlidingAttention
                                            : model::LayerType::kFullAttention);
  }
  config.num_layers = static_cast<int>(config.layer_types.size());
  config.max_position_embeddings = 4096;
  config.rms_norm_eps = 1e-5;
  config.rla_norm_eps = 1e-5;
  return config;
}

std::unique_ptr<cpu::CpuBackend> MakeCpuBackend(const model::ModelConfig& config,
                                                const std::string& dir,
                                                const model::RandomCheckpointOptions& options) {
  absl::Status written = model::WriteRandomCheckpoint(config, options, dir);
  EXPECT_TRUE(written.ok()) << written;
  auto checkpoint = model::Checkpoint::Open(dir);
  EXPECT_TRUE(checkpoint.ok()) << checkpoint.status();
  if (!checkpoint.ok()) return nullptr;
  auto backend = cpu::CpuBackend::Create(**checkpoint);
  EXPECT_TRUE(backend.ok()) << backend.status();
  return backend.ok() ? std::move(*backend) : nullptr;
}

std::unique_ptr<engine::CacheManager> MakeCacheManager(
    const model::ModelConfig& config, int block_size, int sequences, int64_t max_length,
    std::unique_ptr<engine::CacheStorage> storage) {
  auto manager = engine::CacheManager::Create(
      config, engine::PoolsFor(config, block_size, sequences, max_length), std::move(storage));
  EXPECT_TRUE(manager.ok()) << manager.status();
  return manager.ok() ? std::move(*manager) : nullptr;
}

std::unique_ptr<engine::CacheManager> MakeCacheManagerFor(engine::Backend& backend, int block_size,
                                                          int sequences, int64_t max_length) {
  auto storage = backend.NewCacheStorage();
  EXPECT_TRUE(storage.ok()) << storage.status();
  if (!storage.ok()) return nullptr;
  return MakeCacheManager(backend.config(), block_size, sequences, max_length, std::move(*storage));
}

std::unique_ptr<engine::PagedSequenceCache> NewSequence(engine::CacheManager& manager,
                                                        int64_t max_length) {
  auto sequence = manager.NewSequence(max_length);
  EXPECT_TRUE(sequence.ok()) << sequence.status();
  return sequence.ok() ? std::move(*sequence) : nullptr;
}

std::vector<int32_t> RandomTokens(int count, int vocab, uint64_t seed) {
  std::mt19937_64 random(seed);
  std::uniform_int_distribution<int32_t> pick(0, vocab - 1);
  std::vector<int32_t> tokens(count);
  for (int32_t& token : tokens) token = pick(random);
  return tokens;
}

std::vector<float> WholeSequenceLogits(engine::Backend& backend, std::span<const int32_t> tokens) {
  const int64_t length = static_cast<int64_t>(tokens.size());
  auto manager = MakeCacheManagerFor(backend, 16, 1, length);
  auto cache = NewSequence(*manager, length);
  EXPECT_TRUE(cache->Reserve(length).ok());
  engine::SequenceChunk chunk{cache.get(), tokens, engine::LogitsMode::kAll};
  std::vector<float> logits;
  absl::Status status = backend.Forward({&chunk, 1}, &logits);
  EXPECT_TRUE(status.ok()) << status;
  return logits;
}

double RowRelativeError(const float* a, const float* b, int width) {
  double max_diff = 0.0;
  double max_ref = 0.0;
  for (int i = 0; i < width; ++i) {
    max_diff = std::max(max_diff, std::abs(static_cast<double>(a[i]) - b[i]));
    max_ref = std::max(max_ref, std::abs(static_cast<double>(b[i])));
  }
  return max_ref > 0.0 ? max_diff / max_ref : max_diff;
}

}  // namespace rattn::testing
