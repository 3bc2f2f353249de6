// The row-wise CUDA kernels (kernels/cuda/elementwise.h) against the CPU kernels on random rows
// of awkward widths: embedding, RMSNorm, q/k/v preparation (RoPE and the feature map), SwiGLU,
// the norm and sum of rattention's branches, and the write of a step's rows into the pools.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/attention.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cuda/elementwise.h"
#include "tests/kernels/cuda/cuda_test_util.h"

namespace rattn::kernels::cuda {
namespace {

using testing::DeviceBuffer;
using testing::FromBf16;
using testing::RelativeError;
using testing::RoundToBf16;

// Outputs written in bf16 carry its rounding (2^-9 relative); fp32 outputs only the order of
// the sums.
constexpr double kBf16Bound = 1e-2;
constexpr double kF32Bound = 1e-5;

std::vector<float> Random(size_t count, uint64_t seed, float scale = 1.0f) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> values(count);
  for (float& v : values) v = normal(rng);
  return values;
}

std::vector<float> DownloadBf16(const DeviceBuffer<uint16_t>& buffer) {
  return FromBf16(buffer.Download());
}

bf16* AsBf16(const DeviceBuffer<uint16_t>& buffer) { return reinterpret_cast<bf16*>(buffer.get()); }

TEST(CudaElementwiseTest, EmbedRowsGathersTheTable) {
  RATTN_REQUIRE_CUDA_DEVICE();
  const int vocab = 37, hidden = 200, rows = 9;
  const std::vector<float> table = RoundToBf16(Random(vocab * hidden, 1));
  const std::vector<int32_t> tokens = {0, 36, 5, 5, 17, 1, 30, 2, 36};
  DeviceBuffer<uint16_t> table_device(testing::ToBf16(table));
  DeviceBuffer<int32_t> tokens_device(tokens);
  DeviceBuffer<float> x(rows * hidden);
  ASSERT_TRUE(
      EmbedRows(AsBf16(table_device), tokens_device.get(), rows, hidden, x.get(), nullptr).ok());
  const std::vector<float> got = x.Download();
  for (int r = 0; r < rows; ++r) {
    for (int i = 0; i < hidden; ++i) {
      ASSERT_EQ(got[r * hidden + i], table[tokens[r] * hidden + i]) << "row " << r << " " << i;
    }
  }
}

TEST(CudaElementwiseTest, RmsNormRowsMatchesTheCpu) {
  RATTN_REQUIRE_CUDA_DEVICE();
  for (int width : {64, 333, 4096}) {
    const int rows = 13;
    const std::vector<float> x = Random(rows * width, width, 2.0f);
    const std::vector<float> weight = Random(width, width + 1);
    // Normalize a subset of the rows, in another order (as for the logit rows).
    const std::vector<int32_t> index = {12, 0, 5, 5, 7};
    std::vector<float> expected(index.size() * width);
    for (size_t i = 0; i < index.size(); ++i) {
      cpu::RmsNormRows(x.data() + index[i] * width, weight.data(), 1, width, 1e-6f,
                       expected.data() + i * width);
    }
    DeviceBuffer<float> x_device(x), weight_device(weight);
    DeviceBuffer<int32_t> index_device(index);
    DeviceBuffer<uint16_t> out(index.size() * width);
    ASSERT_TRUE(RmsNormRows(x_device.get(), index_device.get(), weight_device.get(),
                            static_cast<int32_t>(index.size()), width, 1e-6f, AsBf16(out), nullptr)
                    .ok());
    EXPECT_LT(RelativeError(DownloadBf16(out), expected), kBf16Bound) << "width " << width;
  }
}

struct QkvCase {
  int heads, kv_heads, head_dim;
  FeatureMap map;
};

class PrepareQkvTest : public ::testing::TestWithParam<QkvCase> {};

TEST_P(PrepareQkvTest, RopeAndFeatureMapMatchTheCpu) {
  RATTN_REQUIRE_CUDA_DEVICE();
  const QkvCase c = GetParam();
  const int d = c.head_dim;
  const int rows = 11;
  const int width = (c.heads + 2 * c.kv_heads) * d;
  const double theta = 10000.0;
  const std::vector<float> qkv = Random(rows * width, d * 7 + c.heads, 1.5f);
  // Positions far apart, large ones included (the angle is computed in double on both sides).
  const std::vector<int32_t> positions = {0, 1, 2, 17, 511, 512, 513, 4095, 70000, 3, 9};

  std::vector<float> q(rows * c.heads * d), k(rows * c.kv_heads * d), v(rows * c.kv_heads * d);
  std::vector<float> phi(rows * c.heads * 2 * d);
  std::vector<float> cos(d / 2), sin(d / 2);
  for (int r = 0; r < rows; ++r) {
    const float* in = qkv.data() + r * width;
    std::copy(in, in + c.heads * d, q.begin() + r * c.heads * d);
    std::copy(in + c.heads * d, in + (c.heads + c.kv_heads) * d, k.begin() + r * c.kv_heads * d);
    std::copy(in + (c.heads + c.kv_heads) * d, in + width, v.begin() + r * c.kv_heads * d);
    for (int h = 0; h < c.heads; ++h) {
      cpu::ApplyFeatureMap(in + h * d, d, c.map, phi.data() + (r * c.heads + h) * 2 * d);
    }
    cpu::RopeCosSin(positions[r], theta, d, cos.data(), sin.data());
    cpu::ApplyRope(q.data() + r * c.heads * d, c.heads, d, cos.data(), sin.data());
    cpu::ApplyRope(k.data() + r * c.kv_heads * d, c.kv_heads, d, cos.data(), sin.data());
  }

  std::vector<StepSequence> sequences(1);
  sequences[0].num_rows = rows;
  DeviceBuffer<uint8_t> sequences_device(
      std::vector<uint8_t>(reinterpret_cast<uint8_t*>(sequences.data()),
                           reinterpret_cast<uint8_t*>(sequences.data() + sequences.size())));
  DeviceBuffer<int32_t> positions_device(positions);
  DeviceBuffer<float> qkv_device(qkv);
  DeviceBuffer<uint16_t> q_out(q.size()), k_out(k.size()), v_out(v.size());
  DeviceBuffer<float> phi_out(phi.size());
  PrepareQkvParams p;
  p.step.sequences = reinterpret_cast<const StepSequence*>(sequences_device.get());
  p.step.row_position = positions_device.get();
  p.step.num_sequences = 1;
  p.step.num_rows = rows;
  p.step.block_size = 16;
  p.step.num_heads = c.heads;
  p.step.num_kv_heads = c.kv_heads;
  p.step.head_dim = d;
  p.qkv = qkv_device.get();
  p.rope_theta = theta;
  p.q = AsBf16(q_out);
  p.step_keys = AsBf16(k_out);
  p.step_values = AsBf16(v_out);
  p.phi_q = phi_out.get();
  p.feature_map = c.map;
  ASSERT_TRUE(PrepareQkv(p, nullptr).ok());
  EXPECT_LT(RelativeError(DownloadBf16(q_out), q), kBf16Bound);
  EXPECT_LT(RelativeError(DownloadBf16(k_out), k), kBf16Bound);
  EXPECT_LT(RelativeError(DownloadBf16(v_out), v), kBf16Bound);
  EXPECT_LT(RelativeError(phi_out.Download(), phi), 1e-4);  // expf against std::exp
}

INSTANTIATE_TEST_SUITE_P(Shapes, PrepareQkvTest,
                         ::testing::Values(QkvCase{4, 2, 32, FeatureMap::kSoftmax},
                                           QkvCase{6, 1, 64, FeatureMap::kRelu},
                                           QkvCase{12, 4, 128, FeatureMap::kSoftmax}));

TEST(CudaElementwiseTest, SiluMulMatchesTheCpu) {
  RATTN_REQUIRE_CUDA_DEVICE();
  for (int inter : {1, 250, 11008}) {
    const int rows = 5;
    const std::vector<float> gate_up = Random(rows * 2 * inter, inter, 3.0f);
    std::vector<float> expected(rows * inter);
    cpu::SiluMulRows(gate_up.data(), rows, inter, expected.data());
    DeviceBuffer<float> in(gate_up);
    DeviceBuffer<uint16_t> out(rows * inter);
    ASSERT_TRUE(SiluMul(in.get(), rows, inter, AsBf16(out), nullptr).ok());
    EXPECT_LT(RelativeError(DownloadBf16(out), expected), kBf16Bound) << "inter " << inter;
  }
}

TEST(CudaElementwiseTest, NormAndSumHeadsMatchesTheCpu) {
  RATTN_REQUIRE_CUDA_DEVICE();
  const int rows = 7, heads = 6, d = 64;
  const std::vector<float> softmax_out = Random(rows * heads * d, 3);
  const std::vector<float> linear_out = Random(rows * heads * d, 4, 0.01f);  // small, as S reads
  const std::vector<float> swa = Random(heads * d, 5), rla = Random(heads * d, 6);
  const std::vector<int32_t> listed = {1, 2, 6};
  std::vector<float> expected(rows * heads * d, 0.0f);
  for (int32_t r : listed) {
    std::vector<float> a(softmax_out.begin() + r * heads * d,
                         softmax_out.begin() + (r + 1) * heads * d);
    std::vector<float> b(linear_out.begin() + r * heads * d,
                         linear_out.begin() + (r + 1) * heads * d);
    cpu::RmsNormHeads(a.data(), swa.data(), heads, d, 1e-6f);
    cpu::RmsNormHeads(b.data(), rla.data(), heads, d, 1e-6f);
    for (int i = 0; i < heads * d; ++i) expected[r * heads * d + i] = a[i] + b[i];
  }
  DeviceBuffer<float> a(softmax_out), b(linear_out), swa_device(swa), rla_device(rla);
  DeviceBuffer<int32_t> rows_device(listed);
  DeviceBuffer<uint16_t> out(rows * heads * d);  // zeroed: unlisted rows must stay zero
  ASSERT_TRUE(NormAndSumHeads(a.get(), b.get(), rows_device.get(), 3, swa_device.get(),
                              rla_device.get(), heads, d, 1e-6f, AsBf16(out), nullptr)
                  .ok());
  EXPECT_LT(RelativeError(DownloadBf16(out), expected), kBf16Bound);
}

TEST(CudaElementwiseTest, WriteCacheRowsPlacesRowsByLayerKind) {
  RATTN_REQUIRE_CUDA_DEVICE();
  const int layers = 3, step_rows = 6, kv_width = 2 * 32, pool_rows = 40;
  const std::vector<uint8_t> local = {1, 0, 1};
  std::vector<float> keys = RoundToBf16(Random(layers * step_rows * kv_width, 8));
  std::vector<float> values = RoundToBf16(Random(layers * step_rows * kv_width, 9));
  DeviceBuffer<uint16_t> step_keys(testing::ToBf16(keys)), step_values(testing::ToBf16(values));
  std::vector<DeviceBuffer<uint16_t>> key_pools, value_pools;
  std::vector<bf16*> key_bases, value_bases;
  for (int l = 0; l < layers; ++l) {
    key_pools.emplace_back(pool_rows * kv_width);
    value_pools.emplace_back(pool_rows * kv_width);
    key_bases.push_back(AsBf16(key_pools.back()));
    value_bases.push_back(AsBf16(value_pools.back()));
  }
  auto pointers = [](const std::vector<bf16*>& bases) {
    std::vector<uint8_t> bytes(bases.size() * sizeof(bf16*));
    std::memcpy(bytes.data(), bases.data(), bytes.size());
    return bytes;
  };
  DeviceBuffer<uint8_t> key_bases_device(pointers(key_bases));
  DeviceBuffer<uint8_t> value_bases_device(pointers(value_bases));
  DeviceBuffer<uint8_t> local_device(local);
  // Row 0 to both kinds, row 3 to global only, row 5 to the window only.
  const std::vector<CacheWrite> writes = {{0, 17, 3}, {3, 39, -1}, {5, -1, 0}};
  std::vector<uint8_t> write_bytes(writes.size() * sizeof(CacheWrite));
  std::memcpy(write_bytes.data(), writes.data(), write_bytes.size());
  DeviceBuffer<uint8_t> writes_device(write_bytes);

  CacheWriteParams p;
  p.writes = reinterpret_cast<const CacheWrite*>(writes_device.get());
  p.num_writes = static_cast<int32_t>(writes.size());
  p.layer_keys = reinterpret_cast<bf16* const*>(key_bases_device.get());
  p.layer_values = reinterpret_cast<bf16* const*>(value_bases_device.get());
  p.layer_local = local_device.get();
  p.num_layers = layers;
  p.step_keys = AsBf16(step_keys);
  p.step_values = AsBf16(step_values);
  p.step_layer_stride = step_rows * kv_width;
  p.kv_width = kv_width;
  ASSERT_TRUE(WriteCacheRows(p, nullptr).ok());

  for (int l = 0; l < layers; ++l) {
    std::vector<float> want_keys(pool_rows * kv_width, 0.0f), want_values = want_keys;
    for (const CacheWrite& w : writes) {
      const int target = local[l] ? w.window_row : w.global_row;
      if (target < 0) continue;
      for (int e = 0; e < kv_width; ++e) {
        want_keys[target * kv_width + e] = keys[(l * step_rows + w.step_row) * kv_width + e];
        want_values[target * kv_width + e] = values[(l * step_rows + w.step_row) * kv_width + e];
      }
    }
    EXPECT_EQ(DownloadBf16(key_pools[l]), want_keys) << "layer " << l;
    EXPECT_EQ(DownloadBf16(value_pools[l]), want_values) << "layer " << l;
  }
}

// Parameter checks run before any CUDA call, so these need no GPU.
TEST(CudaElementwiseValidation, LaunchersRefuseBadParameters) {
  float f = 0;
  int32_t i = 0;
  bf16* out = reinterpret_cast<bf16*>(&f);
  auto expect_invalid = [](const absl::Status& status, const std::string& field) {
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << field;
    EXPECT_NE(status.message().find(field), std::string::npos) << status.message();
  };
  expect_invalid(EmbedRows(nullptr, &i, 1, 8, &f, nullptr), "table");
  expect_invalid(EmbedRows(out, &i, 0, 8, &f, nullptr), "rows");
  expect_invalid(RmsNormRows(&f, nullptr, &f, 1, -3, 1e-6f, out, nullptr), "width");
  expect_invalid(RmsNormRows(&f, nullptr, &f, 1, 8, 0.0f, out, nullptr), "eps");
  expect_invalid(SiluMul(&f, 1, 8, nullptr, nullptr), "out");
  expect_invalid(SiluMul(&f, 70000, 8, out, nullptr), "rows");
  expect_invalid(NormAndSumHeads(&f, &f, &i, 1, &f, nullptr, 1, 32, 1e-6f, out, nullptr),
                 "rla_norm");

  PrepareQkvParams prepare;
  prepare.qkv = &f;
  prepare.q = out;
  prepare.step_keys = out;
  prepare.step_values = out;
  prepare.step.row_position = &i;
  prepare.step.num_rows = 1;
  prepare.step.num_heads = 2;
  prepare.step.num_kv_heads = 1;
  prepare.step.head_dim = 48;
  expect_invalid(PrepareQkv(prepare, nullptr), "head_dim");
  prepare.step.head_dim = 64;
  prepare.rope_theta = 0.5;
  expect_invalid(PrepareQkv(prepare, nullptr), "rope_theta");

  CacheWrite write;
  CacheWriteParams cache;
  cache.writes = &write;
  cache.num_writes = 1;
  cache.layer_keys = &out;
  cache.layer_values = &out;
  uint8_t local = 1;
  cache.layer_local = &local;
  cache.num_layers = 1;
  cache.step_keys = out;
  cache.step_values = out;
  cache.kv_width = 64;
  cache.step_layer_stride = 32;
  expect_invalid(WriteCacheRows(cache, nullptr), "step_layer_stride");
}

}  // namespace
}  // namespace rattn::kernels::cuda
