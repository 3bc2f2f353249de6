// DecodeAttention, RAttentionDecode and PrefillAttention (kernels/cuda/attention.h) against
// naive double-precision references on the host, over paged pools with released and poisoned
// blocks, several sequences per step, GQA groups that take several kernel passes, sliding
// windows and split-KV; and the launchers' parameter checks, which run without a GPU.
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <numeric>
#include <ostream>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "engine/util/float16.h"
#include "kernels/cuda/attention.h"
#include "kernels/cuda/step_view.h"
#include "kernels/feature_map.h"
#include "tests/kernels/cuda/cuda_test_util.h"
#include "tests/kernels/cuda/host_step.h"

namespace rattn::kernels::cuda {
namespace {

using namespace ::rattn::kernels::cuda::test;  // NOLINT: the shared host step

using ::rattn::testing::DeviceBuffer;
using ::rattn::testing::FromBf16;
using ::rattn::testing::RelativeError;
using ::rattn::testing::RoundToBf16;
using ::rattn::testing::ToBf16;

// Bounds on RelativeError, taken row by row (all heads of one step row against that row's
// largest value). A bf16 output is off by up to 2^-8 (3.9e-3) of itself from rounding alone;
// the rest is fp32 accumulation order.
constexpr double kBf16Tolerance = 1e-2;
// The rla state stays fp32 through a few fmaf per fold.
constexpr double kStateTolerance = 2e-3;
// PrefillAttention's fp32 output multiplies probabilities rounded to bf16 for the tensor cores
// (up to 2^-8 relative each) by the values, so it cannot reach fp32 accuracy: about 2e-3 is
// expected from that rounding alone.
constexpr double kPrefillF32Tolerance = 5e-3;

constexpr float kNormEps = 1e-6f;

// Softmax attention of one query head (q: head_dim) over positions [first, last] of sequence s.
std::vector<double> ReferenceAttention(const HostStep& host, int s, int kv_head, const float* q,
                                       int first, int last, double scale) {
  const int d = host.head_dim;
  std::vector<double> scores(last - first + 1);
  for (int p = first; p <= last; ++p) {
    const float* key = host.Key(s, p, kv_head);
    double dot = 0;
    for (int e = 0; e < d; ++e) dot += double(q[e]) * key[e];
    scores[p - first] = scale * dot;
  }
  const double max_score = *std::max_element(scores.begin(), scores.end());
  double sum = 0;
  std::vector<double> out(d, 0.0);
  for (int p = first; p <= last; ++p) {
    const double weight = std::exp(scores[p - first] - max_score);
    sum += weight;
    const float* value = host.Value(s, p, kv_head);
    for (int e = 0; e < d; ++e) out[e] += weight * value[e];
  }
  for (double& x : out) x /= sum;
  return out;
}

std::vector<double> RmsNormalized(const std::vector<double>& x, double eps) {
  double squares = 0;
  for (double v : x) squares += v * v;
  const double inverse = 1.0 / std::sqrt(squares / x.size() + eps);
  std::vector<double> out(x.size());
  for (size_t i = 0; i < x.size(); ++i) out[i] = x[i] * inverse;
  return out;
}

// Most keys a row of the listed sequences attends to, and most rows of a listed sequence.
std::pair<int, int> MaxKeysAndRows(const HostStep& host, const std::vector<int32_t>& listed,
                                   int window) {
  int max_keys = 0, max_rows = 0;
  for (int s : listed) {
    const SequenceSpec& spec = host.specs[s];
    const int last = spec.start + spec.num_rows - 1;
    max_keys = std::max(max_keys, window < 0 ? last + 1 : std::min(last, window) + 1);
    max_rows = std::max(max_rows, spec.num_rows);
  }
  return {max_keys, max_rows};
}

// ---------------------------------------------------------------------------------------------
// DecodeAttention.

struct DecodeCase {
  std::string name;
  int head_dim;
  int num_kv_heads;
  int group;  // query heads per kv head
  int window;
  int block_size;
  std::vector<SequenceSpec> sequences;
  std::vector<int32_t> listed;  // the sequences launched; rows of the others stay untouched
  bool splits;                  // some row's keys span more than one split
};

void PrintTo(const DecodeCase& c, std::ostream* os) { *os << c.name; }

class DecodeAttentionTest : public ::testing::TestWithParam<DecodeCase> {};

TEST_P(DecodeAttentionTest, MatchesReference) {
  RATTN_REQUIRE_CUDA_DEVICE();
  const DecodeCase& c = GetParam();
  std::mt19937 random(11);
  const HostStep host(c.sequences, c.num_kv_heads, c.head_dim, c.block_size, c.window, random);
  const int d = c.head_dim;
  const int num_heads = c.num_kv_heads * c.group;
  const size_t row_floats = static_cast<size_t>(num_heads) * d;
  const std::vector<float> q = RandomBf16(host.num_rows * row_floats, 1.5f, random);
  const double scale = 1.0 / std::sqrt(double(d));
  const auto [max_keys, max_rows] = MaxKeysAndRows(host, c.listed, c.window);

  const DeviceStep device(host);
  const DeviceBuffer<uint16_t> q_device(ToBf16(q));
  const DeviceBuffer<uint16_t> out_device(host.num_rows * row_floats);
  const DeviceBuffer<int32_t> listed_device(c.listed);
  const int64_t workspace_floats =
      DecodeAttentionWorkspaceFloats(host.num_rows, num_heads, d, max_keys);
  EXPECT_EQ(workspace_floats > 0, c.splits);
  const DeviceBuffer<float> workspace(workspace_floats);

  DecodeAttentionParams params;
  params.step = device.View(host, num_heads);
  params.kv = device.Kv(host);
  params.sequences = listed_device.get();
  params.num_sequences = static_cast<int32_t>(c.listed.size());
  params.max_rows_per_sequence = max_rows;
  params.max_keys = max_keys;
  params.q = AsBf16(q_device);
  params.window = c.window;
  params.scale = static_cast<float>(scale);
  params.out = reinterpret_cast<bf16*>(out_device.get());
  params.workspace = workspace.get();
  params.workspace_floats = workspace_floats;
  const absl::Status status = DecodeAttention(params, nullptr);
  ASSERT_TRUE(status.ok()) << status;
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);

  std::vector<float> expected(host.num_rows * row_floats, 0.0f);
  for (int s : c.listed) {
    const StepSequence& seq = host.sequences[s];
    for (int r = 0; r < seq.num_rows; ++r) {
      const int row = seq.first_row + r;
      const int position = seq.start + r;
      const int first = c.window < 0 ? 0 : std::max(0, position - c.window);
      for (int h = 0; h < num_heads; ++h) {
        const size_t offset = row * row_floats + static_cast<size_t>(h) * d;
        const std::vector<double> out =
            ReferenceAttention(host, s, h / c.group, &q[offset], first, position, scale);
        std::copy(out.begin(), out.end(), expected.begin() + offset);
      }
    }
  }
  ExpectRowsNear(FromBf16(out_device.Download()), expected, row_floats, kBf16Tolerance, host);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, DecodeAttentionTest,
    // clang-format off
    ::testing::ValuesIn(std::vector<DecodeCase>{
        // Sequence 1 is not listed: its rows must stay zero.
        {"Causal_D32_Group1_OneSplit", 32, 3, 1, -1, 16,
         {{0, 1}, {5, 3}, {40, 2}, {17, 1}}, {3, 0, 2}, false},
        // 512, 513 and 514 keys: one split, then two; 2001 keys: four.
        {"Causal_D64_Group2_SplitKv", 64, 2, 2, -1, 16,
         {{1300, 1}, {511, 3}, {2000, 1}, {3, 2}}, {0, 1, 2, 3}, true},
        // Six query heads per kv head: two passes of 4 and 2; a last split of one key.
        {"Causal_D128_Group6_SplitKv", 128, 2, 6, -1, 32,
         {{1100, 2}, {60, 3}, {1536, 1}}, {2, 1, 0}, true},
        {"Window7_D64_Group6_BlockSize5", 64, 1, 6, 7, 5,
         {{0, 3}, {4, 2}, {30, 3}, {123, 1}}, {0, 1, 2, 3}, false},
        {"Window7_D128_Group2", 128, 2, 2, 7, 16,
         {{2, 3}, {50, 1}, {9, 2}}, {0, 1, 2}, false},
        // 601 keys per row: the window itself splits.
        {"Window600_D32_Group1_SplitKv", 32, 4, 1, 600, 16,
         {{700, 2}, {1000, 1}, {100, 3}}, {1, 0, 2}, true},
        // Window 0: each query sees only its own key; five heads: passes of 4 and 1.
        {"Window0_D32_Group5", 32, 2, 5, 0, 8,
         {{0, 2}, {33, 3}}, {0, 1}, false},
    }),
    // clang-format on
    [](const ::testing::TestParamInfo<DecodeCase>& info) { return info.param.name; });

// ---------------------------------------------------------------------------------------------
// RAttentionDecode.

struct RAttentionCase {
  std::string name;
  int head_dim;
  int num_kv_heads;
  int group;
  int window;
  int block_size;
  FeatureMap feature_map;
  std::vector<SequenceSpec> sequences;
  std::vector<int32_t> listed;  // rows and rla_state slots of the others stay untouched
};

void PrintTo(const RAttentionCase& c, std::ostream* os) { *os << c.name; }

class RAttentionDecodeTest : public ::testing::TestWithParam<RAttentionCase> {};

TEST_P(RAttentionDecodeTest, MatchesReference) {
  RATTN_REQUIRE_CUDA_DEVICE();
  const RAttentionCase& c = GetParam();
  std::mt19937 random(23);
  const HostStep host(c.sequences, c.num_kv_heads, c.head_dim, c.block_size, c.window, random);
  const int d = c.head_dim;
  const int num_heads = c.num_kv_heads * c.group;
  const size_t row_floats = static_cast<size_t>(num_heads) * d;
  const std::vector<float> q = RandomBf16(host.num_rows * row_floats, 1.5f, random);
  const double scale = 1.0 / std::sqrt(double(d));

  // phi of a query before RoPE: not tied to q here, the kernel takes both as given.
  std::vector<float> phi_q(host.num_rows * row_floats * 2);
  std::normal_distribution<double> normal;
  for (size_t head_row = 0; head_row < host.num_rows * static_cast<size_t>(num_heads); ++head_row) {
    std::vector<double> x(d);
    for (double& v : x) v = normal(random);
    const std::vector<double> phi = Phi(x, c.feature_map);
    std::copy(phi.begin(), phi.end(), phi_q.begin() + head_row * 2 * d);
  }
  std::uniform_real_distribution<float> weight(0.5f, 1.5f);
  std::vector<float> swa_norm(row_floats), rla_norm(row_floats);
  for (float& w : swa_norm) w = weight(random);
  for (float& w : rla_norm) w = weight(random);
  // Slots padded past their kv heads, to check the stride is honored.
  const int64_t head_floats = 2 * static_cast<int64_t>(d) * d;
  const int64_t slot_stride = c.num_kv_heads * head_floats + 32;
  std::normal_distribution<float> state_normal(0.0f, 1.0f / d);
  std::vector<float> initial_states(host.NumSlots() * slot_stride);
  for (float& v : initial_states) v = state_normal(random);

  const DeviceStep device(host);
  const DeviceBuffer<uint16_t> q_device(ToBf16(q));
  const DeviceBuffer<uint16_t> out_device(host.num_rows * row_floats);
  const DeviceBuffer<int32_t> listed_device(c.listed);
  const DeviceBuffer<float> phi_q_device(phi_q), swa_device(swa_norm), rla_device(rla_norm);
  const DeviceBuffer<float> states_device(initial_states);

  RAttentionDecodeParams params;
  DecodeAttentionParams& attention = params.attention;
  attention.step = device.View(host, num_heads);
  attention.kv = device.Kv(host);
  attention.sequences = listed_device.get();
  attention.num_sequences = static_cast<int32_t>(c.listed.size());
  attention.max_rows_per_sequence = MaxKeysAndRows(host, c.listed, c.window).second;
  attention.max_keys = c.window + 1;
  attention.q = AsBf16(q_device);
  attention.window = c.window;
  attention.scale = static_cast<float>(scale);
  attention.out = reinterpret_cast<bf16*>(out_device.get());
  params.phi_q = phi_q_device.get();
  params.states = {states_device.get(), slot_stride};
  params.feature_map = c.feature_map;
  params.rope_theta = kRopeTheta;
  params.swa_norm = swa_device.get();
  params.rla_norm = rla_device.get();
  params.norm_eps = kNormEps;
  const absl::Status status = RAttentionDecode(params, nullptr);
  ASSERT_TRUE(status.ok()) << status;
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);

  // Rows of a sequence in order, each folding its leaving key before it reads the state.
  std::vector<float> expected(host.num_rows * row_floats, 0.0f);
  std::vector<float> expected_states = initial_states;
  std::vector<bool> touched(initial_states.size(), false);
  for (int s : c.listed) {
    const StepSequence& seq = host.sequences[s];
    const int64_t slot_offset = seq.rla_slot * slot_stride;
    std::vector<std::vector<double>> state(c.num_kv_heads);
    for (int g = 0; g < c.num_kv_heads; ++g) {
      const auto begin = initial_states.begin() + slot_offset + g * head_floats;
      state[g].assign(begin, begin + head_floats);
    }
    for (int r = 0; r < seq.num_rows; ++r) {
      const int row = seq.first_row + r;
      const int position = seq.start + r;
      const int leaving = position - c.window - 1;
      for (int g = 0; g < c.num_kv_heads; ++g) {
        if (leaving >= 0) {
          const std::vector<double> phi_k =
              Phi(InverseRope(host.Key(s, leaving, g), leaving, d), c.feature_map);
          const float* value = host.Value(s, leaving, g);
          for (int k = 0; k < 2 * d; ++k) {
            for (int e = 0; e < d; ++e) state[g][k * d + e] += phi_k[k] * value[e];
          }
        }
        for (int h = g * c.group; h < (g + 1) * c.group; ++h) {
          const size_t offset = row * row_floats + static_cast<size_t>(h) * d;
          const std::vector<double> softmax_branch =
              RmsNormalized(ReferenceAttention(host, s, g, &q[offset],
                                               std::max(0, position - c.window), position, scale),
                            kNormEps);
          std::vector<double> linear(d, 0.0);
          for (int k = 0; k < 2 * d; ++k) {
            const double phi = phi_q[offset * 2 + k];
            for (int e = 0; e < d; ++e) linear[e] += phi * state[g][k * d + e];
          }
          const std::vector<double> linear_branch = RmsNormalized(linear, kNormEps);
          for (int e = 0; e < d; ++e) {
            expected[offset + e] =
                softmax_branch[e] * swa_norm[h * d + e] + linear_branch[e] * rla_norm[h * d + e];
          }
        }
      }
    }
    for (int g = 0; g < c.num_kv_heads; ++g) {
      const int64_t begin = slot_offset + g * head_floats;
      std::copy(state[g].begin(), state[g].end(), expected_states.begin() + begin);
      std::fill(touched.begin() + begin, touched.begin() + begin + head_floats, true);
    }
  }

  ExpectRowsNear(FromBf16(out_device.Download()), expected, row_floats, kBf16Tolerance, host);
  const std::vector<float> states = states_device.Download();
  ASSERT_EQ(states.size(), initial_states.size());
  for (int s : c.listed) {
    for (int g = 0; g < c.num_kv_heads; ++g) {
      const int64_t begin = host.sequences[s].rla_slot * slot_stride + g * head_floats;
      std::vector<float> actual(states.begin() + begin, states.begin() + begin + head_floats);
      std::vector<float> want(expected_states.begin() + begin,
                              expected_states.begin() + begin + head_floats);
      EXPECT_LT(RelativeError(actual, want), kStateTolerance) << "sequence " << s << " kv " << g;
      // The folds alone, which the initial state could otherwise hide.
      for (int64_t i = 0; i < head_floats; ++i) {
        actual[i] -= initial_states[begin + i];
        want[i] -= initial_states[begin + i];
      }
      EXPECT_LT(RelativeError(actual, want), kStateTolerance)
          << "folds of sequence " << s << " kv " << g;
    }
  }
  int64_t changed = 0;
  for (size_t i = 0; i < states.size(); ++i) {
    if (!touched[i] && states[i] != initial_states[i]) ++changed;
  }
  EXPECT_EQ(changed, 0) << "floats changed outside the listed sequences' kv heads";
}

INSTANTIATE_TEST_SUITE_P(
    Cases, RAttentionDecodeTest,
    // clang-format off
    ::testing::ValuesIn(std::vector<RAttentionCase>{
        // Sequence 3 is not listed. Position 8 of sequence 1 is the first to fold a key.
        {"Softmax_D32_Group1_Window7", 32, 2, 1, 7, 4, FeatureMap::kSoftmax,
         {{0, 3}, {6, 3}, {7, 1}, {20, 2}, {100, 1}}, {4, 1, 2, 0}},
        // Window 1 with three rows: later rows fold keys of the step's own rows.
        {"Relu_D64_Group6_Window1", 64, 2, 6, 1, 8, FeatureMap::kRelu,
         {{0, 3}, {5, 3}, {33, 2}}, {0, 1, 2}},
        {"Softmax_D128_Group2_Window40", 128, 2, 2, 40, 16, FeatureMap::kSoftmax,
         {{200, 2}, {41, 3}, {10, 1}}, {1, 2, 0}},
        {"Relu_D128_Group3_Window0", 128, 1, 3, 0, 16, FeatureMap::kRelu,
         {{1, 3}, {64, 2}}, {0, 1}},
        {"Softmax_D64_Group5_Window7", 64, 3, 5, 7, 5, FeatureMap::kSoftmax,
         {{300, 3}, {8, 1}}, {0, 1}},
    }),
    // clang-format on
    [](const ::testing::TestParamInfo<RAttentionCase>& info) { return info.param.name; });

// ---------------------------------------------------------------------------------------------
// PrefillAttention.

struct PrefillCase {
  std::string name;
  int head_dim;
  int num_kv_heads;
  int group;
  int window;
  int block_size;
  std::vector<SequenceSpec> sequences;
  std::vector<int> tile_rows;  // each sequence's rows cut in tiles of these sizes, in turn
  bool f32_out;
};

void PrintTo(const PrefillCase& c, std::ostream* os) { *os << c.name; }

class PrefillAttentionTest : public ::testing::TestWithParam<PrefillCase> {};

TEST_P(PrefillAttentionTest, MatchesReference) {
  RATTN_REQUIRE_CUDA_DEVICE();
  const PrefillCase& c = GetParam();
  std::mt19937 random(37);
  const HostStep host(c.sequences, c.num_kv_heads, c.head_dim, c.block_size, c.window, random);
  const int d = c.head_dim;
  const int num_heads = c.num_kv_heads * c.group;
  const size_t row_floats = static_cast<size_t>(num_heads) * d;
  const std::vector<float> q = RandomBf16(host.num_rows * row_floats, 1.5f, random);
  const double scale = 1.0 / std::sqrt(double(d));

  std::vector<PrefillTile> tiles;
  for (int s = 0; s < static_cast<int>(host.sequences.size()); ++s) {
    const StepSequence& seq = host.sequences[s];
    for (int r = 0, t = 0; r < seq.num_rows; ++t) {
      const int rows = std::min(c.tile_rows[t % c.tile_rows.size()], seq.num_rows - r);
      ASSERT_LE(rows, kPrefillTileRows);
      tiles.push_back({s, seq.first_row + r, rows});
      r += rows;
    }
  }
  std::shuffle(tiles.begin(), tiles.end(), random);

  const DeviceStep device(host);
  const DeviceBuffer<uint16_t> q_device(ToBf16(q));
  const DeviceBuffer<PrefillTile> tiles_device(tiles);
  const DeviceBuffer<uint16_t> out_bf16(c.f32_out ? 0 : host.num_rows * row_floats);
  const DeviceBuffer<float> out_f32(c.f32_out ? host.num_rows * row_floats : 0);

  PrefillAttentionParams params;
  params.step = device.View(host, num_heads);
  params.kv = device.Kv(host);
  params.tiles = tiles_device.get();
  params.num_tiles = static_cast<int32_t>(tiles.size());
  params.q = AsBf16(q_device);
  params.window = c.window;
  params.scale = static_cast<float>(scale);
  params.out_bf16 = reinterpret_cast<bf16*>(out_bf16.get());
  params.out_f32 = out_f32.get();
  const absl::Status status = PrefillAttention(params, nullptr);
  ASSERT_TRUE(status.ok()) << status;
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);

  std::vector<float> expected(host.num_rows * row_floats);
  for (int row = 0; row < host.num_rows; ++row) {
    const int s = host.row_sequence[row];
    const int position = host.row_position[row];
    const int first = c.window < 0 ? 0 : std::max(0, position - c.window);
    for (int h = 0; h < num_heads; ++h) {
      const size_t offset = row * row_floats + static_cast<size_t>(h) * d;
      const std::vector<double> out =
          ReferenceAttention(host, s, h / c.group, &q[offset], first, position, scale);
      std::copy(out.begin(), out.end(), expected.begin() + offset);
    }
  }
  if (c.f32_out) {
    ExpectRowsNear(out_f32.Download(), expected, row_floats, kPrefillF32Tolerance, host);
  } else {
    ExpectRowsNear(FromBf16(out_bf16.Download()), expected, row_floats, kBf16Tolerance, host);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, PrefillAttentionTest,
    // clang-format off
    ::testing::ValuesIn(std::vector<PrefillCase>{
        {"Causal_D32_Group1_Bf16", 32, 2, 1, -1, 16,
         {{0, 1}, {0, 64}, {0, 65}, {37, 100}}, {64}, false},
        // Tiles of 17, 64 and 40 rows: tiles start anywhere in a sequence's chunk.
        {"Causal_D64_Group2_F32", 64, 2, 2, -1, 16,
         {{0, 130}, {200, 63}, {5, 3}}, {17, 64, 40}, true},
        {"Causal_D128_Group6_Bf16", 128, 1, 6, -1, 32,
         {{0, 150}, {70, 90}}, {64}, false},
        {"Window5_D64_Group3_BlockSize4_F32", 64, 2, 3, 5, 4,
         {{0, 70}, {30, 129}, {3, 10}}, {64, 33}, true},
        {"Window100_D128_Group2_Bf16", 128, 2, 2, 100, 16,
         {{37, 200}, {300, 64}, {0, 1}}, {64}, false},
        {"Window7_D32_Group4_Bf16", 32, 3, 4, 7, 8,
         {{500, 77}, {0, 20}}, {23, 64}, false},
        {"Window64_D128_Group1_F32", 128, 2, 1, 64, 16,
         {{65, 128}, {0, 64}}, {64}, true},
    }),
    // clang-format on
    [](const ::testing::TestParamInfo<PrefillCase>& info) { return info.param.name; });

// ---------------------------------------------------------------------------------------------
// Parameter checks: each launcher refuses a bad field with INVALID_ARGUMENT naming it, before
// any CUDA call, so these need no GPU. The pointers are never dereferenced.

template <typename T>
T* FakePointer(uintptr_t address = 4096) {
  return reinterpret_cast<T*>(address);
}

void ExpectRefused(const absl::Status& status, const std::string& field) {
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_NE(status.message().find(field), absl::string_view::npos)
      << "the message does not name " << field << ": " << status;
}

DecodeAttentionParams ValidDecodeParams() {
  DecodeAttentionParams p;
  p.step.sequences = FakePointer<const StepSequence>();
  p.step.row_sequence = FakePointer<const int32_t>();
  p.step.row_position = FakePointer<const int32_t>();
  p.step.block_tables = FakePointer<const int32_t>();
  p.step.num_sequences = 2;
  p.step.num_rows = 4;
  p.step.block_size = 16;
  p.step.num_heads = 8;
  p.step.num_kv_heads = 2;
  p.step.head_dim = 64;
  p.kv = {FakePointer<const bf16>(), FakePointer<const bf16>(), FakePointer<const bf16>(),
          FakePointer<const bf16>(), false};
  p.sequences = FakePointer<const int32_t>();
  p.num_sequences = 2;
  p.max_rows_per_sequence = 2;
  p.max_keys = 100;
  p.q = FakePointer<const bf16>();
  p.window = -1;
  p.scale = 0.125f;
  p.out = FakePointer<bf16>();
  return p;
}

template <typename Params>
struct BadField {
  std::string field;  // what the message must name
  std::function<void(Params&)> spoil;
};

TEST(DecodeAttentionParams, RefusesEachBadFieldBeforeLaunching) {
  const std::vector<BadField<DecodeAttentionParams>> cases = {
      {"step.head_dim 48", [](auto& p) { p.step.head_dim = 48; }},
      {"step.num_heads (6) is not a multiple of step.num_kv_heads (4)",
       [](auto& p) {
         p.step.num_heads = 6;
         p.step.num_kv_heads = 4;
       }},
      {"step.num_sequences", [](auto& p) { p.step.num_sequences = 0; }},
      {"step.block_size", [](auto& p) { p.step.block_size = 0; }},
      {"step.row_position", [](auto& p) { p.step.row_position = nullptr; }},
      {"kv.keys is null", [](auto& p) { p.kv.keys = nullptr; }},
      {"kv.step_values is not 16-byte aligned",
       [](auto& p) { p.kv.step_values = FakePointer<const bf16>(4098); }},
      {": sequences is null", [](auto& p) { p.sequences = nullptr; }},
      {"num_sequences 0", [](auto& p) { p.num_sequences = 0; }},
      {"num_sequences 3", [](auto& p) { p.num_sequences = 3; }},
      {"max_rows_per_sequence 0", [](auto& p) { p.max_rows_per_sequence = 0; }},
      {": q is null", [](auto& p) { p.q = nullptr; }},
      {"q is not 16-byte aligned", [](auto& p) { p.q = FakePointer<const bf16>(2); }},
      {"out is null", [](auto& p) { p.out = nullptr; }},
      {"window -2", [](auto& p) { p.window = -2; }},
      {"scale", [](auto& p) { p.scale = NAN; }},
      {"max_keys", [](auto& p) { p.max_keys = 0; }},
      {"workspace is null", [](auto& p) { p.max_keys = 1000; }},
      {"workspace_floats 10",
       [](auto& p) {
         p.max_keys = 1000;
         p.workspace = FakePointer<float>();
         p.workspace_floats = 10;
       }},
  };
  for (const auto& bad : cases) {
    SCOPED_TRACE(bad.field);
    DecodeAttentionParams params = ValidDecodeParams();
    bad.spoil(params);
    ExpectRefused(DecodeAttention(params, nullptr), bad.field);
  }
}

TEST(DecodeAttentionParams, WorkspaceOnlyForKeysPastOneSplit) {
  EXPECT_EQ(DecodeAttentionWorkspaceFloats(4, 8, 64, 512), 0);
  // 513 keys: two splits of (head_dim + 2) floats per (row, head).
  EXPECT_EQ(DecodeAttentionWorkspaceFloats(4, 8, 64, 513), 4 * 8 * 2 * 66);
  EXPECT_EQ(DecodeAttentionWorkspaceFloats(3, 2, 128, 1537), 3 * 2 * 4 * 130);
}

TEST(RAttentionDecodeParams, RefusesEachBadFieldBeforeLaunching) {
  const auto valid = [] {
    RAttentionDecodeParams p;
    p.attention = ValidDecodeParams();
    p.attention.kv.local = true;
    p.attention.window = 7;
    p.phi_q = FakePointer<const float>();
    p.states = {FakePointer<float>(), 2 * 2 * 64 * 64};
    p.swa_norm = FakePointer<const float>();
    p.rla_norm = FakePointer<const float>();
    return p;
  };
  const std::vector<BadField<RAttentionDecodeParams>> cases = {
      {"step.head_dim 48", [](auto& p) { p.attention.step.head_dim = 48; }},
      {"step.num_heads", [](auto& p) { p.attention.step.num_kv_heads = 3; }},
      {"q is not 16-byte aligned", [](auto& p) { p.attention.q = FakePointer<const bf16>(2); }},
      {"num_sequences 0", [](auto& p) { p.attention.num_sequences = 0; }},
      {"attention.window", [](auto& p) { p.attention.window = -1; }},
      {"window -5", [](auto& p) { p.attention.window = -5; }},
      {"phi_q is null", [](auto& p) { p.phi_q = nullptr; }},
      {"states.states is null", [](auto& p) { p.states.states = nullptr; }},
      {"states.slot_stride 100", [](auto& p) { p.states.slot_stride = 100; }},
      {"feature_map", [](auto& p) { p.feature_map = static_cast<FeatureMap>(7); }},
      {"rope_theta", [](auto& p) { p.rope_theta = 1.0; }},
      {"swa_norm is null", [](auto& p) { p.swa_norm = nullptr; }},
      {"rla_norm is null", [](auto& p) { p.rla_norm = nullptr; }},
      {"norm_eps", [](auto& p) { p.norm_eps = 0.0f; }},
  };
  for (const auto& bad : cases) {
    SCOPED_TRACE(bad.field);
    RAttentionDecodeParams params = valid();
    bad.spoil(params);
    ExpectRefused(RAttentionDecode(params, nullptr), bad.field);
  }
}

TEST(PrefillAttentionParams, RefusesEachBadFieldBeforeLaunching) {
  const auto valid = [] {
    PrefillAttentionParams p;
    const DecodeAttentionParams decode = ValidDecodeParams();
    p.step = decode.step;
    p.kv = decode.kv;
    p.tiles = FakePointer<const PrefillTile>();
    p.num_tiles = 3;
    p.q = FakePointer<const bf16>();
    p.out_bf16 = FakePointer<bf16>();
    return p;
  };
  const std::vector<BadField<PrefillAttentionParams>> cases = {
      {"step.head_dim 48", [](auto& p) { p.step.head_dim = 48; }},
      {"step.num_heads (8) is not a multiple of step.num_kv_heads (3)",
       [](auto& p) { p.step.num_kv_heads = 3; }},
      {"step.num_rows", [](auto& p) { p.step.num_rows = 0; }},
      {"kv.values is not 16-byte aligned",
       [](auto& p) { p.kv.values = FakePointer<const bf16>(4104); }},
      {"tiles is null", [](auto& p) { p.tiles = nullptr; }},
      {"num_tiles", [](auto& p) { p.num_tiles = 0; }},
      {": q is null", [](auto& p) { p.q = nullptr; }},
      {"q is not 16-byte aligned", [](auto& p) { p.q = FakePointer<const bf16>(2); }},
      {"exactly one of out_bf16 and out_f32", [](auto& p) { p.out_bf16 = nullptr; }},
      {"exactly one of out_bf16 and out_f32", [](auto& p) { p.out_f32 = FakePointer<float>(); }},
      {"window -3", [](auto& p) { p.window = -3; }},
      {"scale", [](auto& p) { p.scale = INFINITY; }},
  };
  for (const auto& bad : cases) {
    SCOPED_TRACE(bad.field);
    PrefillAttentionParams params = valid();
    bad.spoil(params);
    ExpectRefused(PrefillAttention(params, nullptr), bad.field);
  }
}

}  // namespace
}  // namespace rattn::kernels::cuda
