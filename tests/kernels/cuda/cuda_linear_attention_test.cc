// LinearAttentionPrefill (kernels/cuda/linear_attention.h) against a naive double-precision
// reference on the host: chunks of awkward lengths across the kernel's 32-row chunks, windows,
// sequences that start with a carried rla state and earlier keys in a paged window pool (with
// released and poisoned blocks), GQA groups, both feature maps, several sequences per launch;
// and the launcher's parameter checks, which run without a GPU.
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
#include "kernels/cuda/linear_attention.h"
#include "kernels/cuda/step_view.h"
#include "kernels/feature_map.h"
#include "tests/kernels/cuda/cuda_test_util.h"
#include "tests/kernels/cuda/host_step.h"

namespace rattn::kernels::cuda {
namespace {

using namespace ::rattn::kernels::cuda::test;  // NOLINT: the shared host step

using ::rattn::testing::DeviceBuffer;
using ::rattn::testing::RelativeError;
using ::rattn::testing::RoundToBf16;

// Bound on RelativeError of the output (row by row: all heads of one step row against that
// row's largest value) and of each kv head's rla state: every product runs on tensor cores in
// TF32 (inputs rounded to 2^-11 relative, fp32 accumulation), phi and the state stay fp32.
constexpr double kTf32Tolerance = 5e-3;

// ---------------------------------------------------------------------------------------------
// LinearAttentionPrefill.

struct LinearCase {
  std::string name;
  int head_dim;
  int num_kv_heads;
  int group;  // query heads per kv head
  int window;
  int block_size;
  FeatureMap feature_map;
  std::vector<SequenceSpec> sequences;
  std::vector<int32_t> listed;  // rows and rla_state slots of the others stay untouched
};

void PrintTo(const LinearCase& c, std::ostream* os) { *os << c.name; }

class LinearAttentionPrefillTest : public ::testing::TestWithParam<LinearCase> {};

TEST_P(LinearAttentionPrefillTest, MatchesReference) {
  RATTN_REQUIRE_CUDA_DEVICE();
  const LinearCase& c = GetParam();
  std::mt19937 random(53);
  const HostStep host(c.sequences, c.num_kv_heads, c.head_dim, c.block_size, c.window, random);
  const int d = c.head_dim;
  const int num_heads = c.num_kv_heads * c.group;
  const size_t row_floats = static_cast<size_t>(num_heads) * d;

  std::vector<float> phi_q(host.num_rows * row_floats * 2);
  std::normal_distribution<double> normal;
  for (size_t head_row = 0; head_row < host.num_rows * static_cast<size_t>(num_heads); ++head_row) {
    std::vector<double> x(d);
    for (double& v : x) v = normal(random);
    const std::vector<double> phi = Phi(x, c.feature_map);
    std::copy(phi.begin(), phi.end(), phi_q.begin() + head_row * 2 * d);
  }
  // A sequence's carried state is nonzero once some key has left its window before the step
  // (start - w - 1 > 0); the slot no sequence owns and the padding past each slot's kv heads
  // are random too, and must come back unchanged.
  const int64_t head_floats = 2 * static_cast<int64_t>(d) * d;
  const int64_t slot_stride = c.num_kv_heads * head_floats + 32;
  std::normal_distribution<float> state_normal(0.0f, 0.05f);
  std::vector<float> initial_states(host.NumSlots() * slot_stride);
  for (float& v : initial_states) v = state_normal(random);
  for (const StepSequence& seq : host.sequences) {
    if (seq.start - c.window - 1 > 0) continue;
    const auto begin = initial_states.begin() + seq.rla_slot * slot_stride;
    std::fill(begin, begin + c.num_kv_heads * head_floats, 0.0f);
  }

  const DeviceStep device(host);
  const DeviceBuffer<int32_t> listed_device(c.listed);
  const DeviceBuffer<float> phi_q_device(phi_q);
  const DeviceBuffer<float> states_device(initial_states);
  const DeviceBuffer<float> out_device(host.num_rows * row_floats);

  LinearAttentionPrefillParams params;
  params.step = device.View(host, num_heads);
  params.kv = device.Kv(host);
  params.sequences = listed_device.get();
  params.num_sequences = static_cast<int32_t>(c.listed.size());
  params.phi_q = phi_q_device.get();
  params.states = {states_device.get(), slot_stride};
  params.feature_map = c.feature_map;
  params.rope_theta = kRopeTheta;
  params.window = c.window;
  params.out = out_device.get();
  const absl::Status status = LinearAttentionPrefill(params, nullptr);
  ASSERT_TRUE(status.ok()) << status;
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);

  // Row at position p: fold the key leaving there (p - w - 1, when >= 0), then read the state.
  std::vector<float> expected(host.num_rows * row_floats, 0.0f);
  std::vector<float> expected_states = initial_states;
  std::vector<bool> touched(initial_states.size(), false);
  for (int s : c.listed) {
    const StepSequence& seq = host.sequences[s];
    const int64_t slot_offset = seq.rla_slot * slot_stride;
    for (int g = 0; g < c.num_kv_heads; ++g) {
      const int64_t begin = slot_offset + g * head_floats;
      std::vector<double> state(initial_states.begin() + begin,
                                initial_states.begin() + begin + head_floats);
      for (int r = 0; r < seq.num_rows; ++r) {
        const int row = seq.first_row + r;
        const int leaving = seq.start + r - c.window - 1;
        if (leaving >= 0) {
          const std::vector<double> phi_k =
              Phi(InverseRope(host.Key(s, leaving, g), leaving, d), c.feature_map);
          const float* value = host.Value(s, leaving, g);
          for (int k = 0; k < 2 * d; ++k) {
            for (int e = 0; e < d; ++e) state[k * d + e] += phi_k[k] * value[e];
          }
        }
        for (int h = g * c.group; h < (g + 1) * c.group; ++h) {
          const size_t offset = row * row_floats + static_cast<size_t>(h) * d;
          std::vector<double> out(d, 0.0);
          for (int k = 0; k < 2 * d; ++k) {
            const double phi = phi_q[offset * 2 + k];
            for (int e = 0; e < d; ++e) out[e] += phi * state[k * d + e];
          }
          std::copy(out.begin(), out.end(), expected.begin() + offset);
        }
      }
      std::copy(state.begin(), state.end(), expected_states.begin() + begin);
      std::fill(touched.begin() + begin, touched.begin() + begin + head_floats, true);
    }
  }

  ExpectRowsNear(out_device.Download(), expected, row_floats, kTf32Tolerance, host);
  const std::vector<float> states = states_device.Download();
  ASSERT_EQ(states.size(), initial_states.size());
  for (int s : c.listed) {
    for (int g = 0; g < c.num_kv_heads; ++g) {
      const int64_t begin = host.sequences[s].rla_slot * slot_stride + g * head_floats;
      std::vector<float> actual(states.begin() + begin, states.begin() + begin + head_floats);
      std::vector<float> want(expected_states.begin() + begin,
                              expected_states.begin() + begin + head_floats);
      EXPECT_LT(RelativeError(actual, want), kTf32Tolerance) << "sequence " << s << " kv " << g;
      // The folds alone, which the carried state could otherwise hide.
      for (int64_t i = 0; i < head_floats; ++i) {
        actual[i] -= initial_states[begin + i];
        want[i] -= initial_states[begin + i];
      }
      EXPECT_LT(RelativeError(actual, want), kTf32Tolerance)
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
    Cases, LinearAttentionPrefillTest,
    // clang-format off
    ::testing::ValuesIn(std::vector<LinearCase>{
        // A chunk of 1 row, whose key has not left yet, and one just under a kernel chunk.
        {"Softmax_D32_Group1_Window5_FromStart", 32, 2, 1, 5, 16, FeatureMap::kSoftmax,
         {{0, 1}, {0, 31}}, {0, 1}},
        {"Relu_D64_Group3_Window40_FromStart", 64, 1, 3, 40, 16, FeatureMap::kRelu,
         {{0, 33}, {0, 100}}, {1, 0}},
        // 257 rows: nine kernel chunks, the last of one row; the second sequence's only row
        // folds position 0, from the pool.
        {"Softmax_D128_Group1_Window40_Cached", 128, 2, 1, 40, 16, FeatureMap::kSoftmax,
         {{90, 257}, {41, 1}}, {0, 1}},
        // Start 300 with window 5: blocks wholly before position 294 are released (-1).
        {"Relu_D128_Group3_Window5_ReleasedBlocks", 128, 1, 3, 5, 16, FeatureMap::kRelu,
         {{300, 33}, {7, 100}}, {0, 1}},
        {"Softmax_D64_Group3_Window5_BlockSize5", 64, 2, 3, 5, 5, FeatureMap::kSoftmax,
         {{12, 257}, {1000, 31}}, {1, 0}},
        // Sequence 1 is not listed.
        {"Relu_D32_Group1_Window40_Unlisted", 32, 3, 1, 40, 8, FeatureMap::kRelu,
         {{45, 100}, {60, 10}, {3, 257}}, {2, 0}},
    }),
    // clang-format on
    [](const ::testing::TestParamInfo<LinearCase>& info) { return info.param.name; });

// ---------------------------------------------------------------------------------------------
// Parameter checks: the launcher refuses a bad field with INVALID_ARGUMENT naming it, before any
// CUDA call, so these need no GPU. The pointers are never dereferenced.

template <typename T>
T* FakePointer(uintptr_t address = 4096) {
  return reinterpret_cast<T*>(address);
}

LinearAttentionPrefillParams ValidParams() {
  LinearAttentionPrefillParams p;
  p.step.sequences = FakePointer<const StepSequence>();
  p.step.row_sequence = FakePointer<const int32_t>();
  p.step.row_position = FakePointer<const int32_t>();
  p.step.block_tables = FakePointer<const int32_t>();
  p.step.num_sequences = 2;
  p.step.num_rows = 40;
  p.step.block_size = 16;
  p.step.num_heads = 8;
  p.step.num_kv_heads = 2;
  p.step.head_dim = 64;
  p.kv = {FakePointer<const bf16>(), FakePointer<const bf16>(), FakePointer<const bf16>(),
          FakePointer<const bf16>(), true};
  p.sequences = FakePointer<const int32_t>();
  p.num_sequences = 2;
  p.phi_q = FakePointer<const float>();
  p.states = {FakePointer<float>(), 2 * 2 * 64 * 64};
  p.window = 5;
  p.out = FakePointer<float>();
  return p;
}

TEST(LinearAttentionPrefillParams, RefusesEachBadFieldBeforeLaunching) {
  struct BadField {
    std::string field;  // what the message must name
    std::function<void(LinearAttentionPrefillParams&)> spoil;
  };
  const std::vector<BadField> cases = {
      {"kv.local", [](auto& p) { p.kv.local = false; }},
      {"step.head_dim 48", [](auto& p) { p.step.head_dim = 48; }},
      {"step.sequences is null", [](auto& p) { p.step.sequences = nullptr; }},
      {"step.block_tables is null", [](auto& p) { p.step.block_tables = nullptr; }},
      {"kv.keys is null", [](auto& p) { p.kv.keys = nullptr; }},
      {"kv.step_values is null", [](auto& p) { p.kv.step_values = nullptr; }},
      {": sequences is null", [](auto& p) { p.sequences = nullptr; }},
      {"phi_q is null", [](auto& p) { p.phi_q = nullptr; }},
      {"states.states is null", [](auto& p) { p.states.states = nullptr; }},
      {": out is null", [](auto& p) { p.out = nullptr; }},
      {"step.block_size", [](auto& p) { p.step.block_size = 0; }},
      {"step.num_kv_heads", [](auto& p) { p.step.num_kv_heads = 0; }},
      {"step.num_heads is not a multiple of step.num_kv_heads",
       [](auto& p) { p.step.num_kv_heads = 3; }},
      {"num_sequences 0", [](auto& p) { p.num_sequences = 0; }},
      {"num_sequences 3", [](auto& p) { p.num_sequences = 3; }},
      {"window", [](auto& p) { p.window = -1; }},
      {"rope_theta", [](auto& p) { p.rope_theta = NAN; }},
      {"feature_map", [](auto& p) { p.feature_map = static_cast<FeatureMap>(7); }},
      {"states.slot_stride 100", [](auto& p) { p.states.slot_stride = 100; }},
  };
  for (const auto& bad : cases) {
    SCOPED_TRACE(bad.field);
    LinearAttentionPrefillParams params = ValidParams();
    bad.spoil(params);
    const absl::Status status = LinearAttentionPrefill(params, nullptr);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
    EXPECT_NE(status.message().find(bad.field), absl::string_view::npos)
        << "the message does not name " << bad.field << ": " << status;
  }
}

}  // namespace
}  // namespace rattn::kernels::cuda
