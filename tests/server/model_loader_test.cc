// LoadModel's choice of backend: --backend=cpu always serves on the CPU; auto takes the GPU
// only when this build has the CUDA backend and a device is visible; --backend=cuda without
// one (or without the CUDA backend in the build) is refused at start with a message saying so.
#include "server/model_loader.h"

#include <gtest/gtest.h>

#include <string>

#include "engine/model/random_checkpoint.h"
#include "tests/test_util.h"

#if RATTN_HAVE_CUDA
#include "engine/cuda/cuda_backend.h"
#endif

namespace rattn::server {
namespace {

bool GpuUsable() {
#if RATTN_HAVE_CUDA
  return cuda::CudaDeviceAvailable();
#else
  return false;
#endif
}

class ModelLoaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    model::ModelConfig config = testing::SmallConfig("rf", 8, 4, 2, 32);
    config.vocab_size = 300;  // room for the byte tokenizer
    ASSERT_TRUE(model::WriteRandomCheckpoint(config, {.seed = 2}, dir_.path()).ok());
    options_.model_dir = dir_.path();
    options_.max_tokens_per_step = 256;
  }

  testing::ScratchDir dir_{"model"};
  ServerOptions options_;
};

TEST_F(ModelLoaderTest, CpuIsAlwaysTheCpu) {
  options_.backend = BackendKind::kCpu;
  auto loaded = LoadModel(options_);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->backend->name(), "cpu");
  EXPECT_GT(loaded->weight_bytes, 0);
}

TEST_F(ModelLoaderTest, AutoTakesTheGpuOnlyWhenThereIsOne) {
  options_.backend = BackendKind::kAuto;
  auto loaded = LoadModel(options_);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->backend->name(), GpuUsable() ? "cuda" : "cpu");
}

TEST_F(ModelLoaderTest, CudaWithoutAGpuIsRefusedAtStart) {
  options_.backend = BackendKind::kCuda;
  auto loaded = LoadModel(options_);
  if (GpuUsable()) {
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    EXPECT_EQ(loaded->backend->name(), "cuda");
    return;
  }
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(loaded.status().message().find("--backend=cuda"), std::string::npos) << loaded.status();
  EXPECT_NE(loaded.status().message().find("--backend=cpu"), std::string::npos) << loaded.status();
}

}  // namespace
}  // namespace rattn::server
