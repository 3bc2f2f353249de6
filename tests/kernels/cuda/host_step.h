// A step of the attention kernels built on the host for the CUDA kernel tests, with its device
// copy, and the double-precision pieces their references share (RoPE undone, phi, row-wise
// comparison). Shared by cuda_attention_test and cuda_linear_attention_test.
#ifndef RATTN_TESTS_KERNELS_CUDA_HOST_STEP_H_
#define RATTN_TESTS_KERNELS_CUDA_HOST_STEP_H_

#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <numeric>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "engine/util/float16.h"
#include "kernels/cuda/step_view.h"
#include "kernels/feature_map.h"
#include "tests/kernels/cuda/cuda_test_util.h"

namespace rattn::kernels::cuda::test {

using ::rattn::testing::DeviceBuffer;
using ::rattn::testing::RelativeError;
using ::rattn::testing::RoundToBf16;

constexpr uint16_t kBf16NaN = 0x7fc0;
constexpr double kRopeTheta = 10000.0;

inline std::vector<float> RandomBf16(size_t count, float stddev, std::mt19937& random) {
  std::normal_distribution<float> normal(0.0f, stddev);
  std::vector<float> values(count);
  for (float& x : values) x = normal(random);
  return RoundToBf16(values);
}

struct SequenceSpec {
  int start = 0;     // positions already in the cache
  int num_rows = 0;  // this step's rows: positions start .. start + num_rows - 1
};

// A step built on the host. Each sequence's keys and values at all its positions are kept dense
// (bf16-exact floats) for the reference, and laid out as the kernels read them: positions below
// start in shuffled pool blocks through block tables, later ones in the step's rows (sequences'
// rows in reverse order, so first_row matters). Pool rows no table may reach hold NaN, so that a
// read outside the contract shows in the output: positions a local layer has let go of (blocks
// wholly outside the window are -1 in its table), slots past start in a last block, and the one
// block that every entry of the table kind the layer must not read points to.
struct HostStep {
  HostStep(std::vector<SequenceSpec> specs_in, int kv_heads, int dim, int block, int window,
           std::mt19937& random)
      : specs(std::move(specs_in)),
        num_kv_heads(kv_heads),
        head_dim(dim),
        block_size(block),
        local(window >= 0) {
    const int n = static_cast<int>(specs.size());
    const size_t width = RowWidth();
    for (const SequenceSpec& spec : specs) {
      const size_t count = static_cast<size_t>(spec.start + spec.num_rows) * width;
      keys.push_back(RandomBf16(count, 1.0f, random));
      values.push_back(RandomBf16(count, 1.0f, random));
    }
    sequences.resize(n);
    for (int s = n - 1; s >= 0; --s) {
      sequences[s].first_row = num_rows;
      sequences[s].num_rows = specs[s].num_rows;
      sequences[s].start = specs[s].start;
      num_rows += specs[s].num_rows;
    }

    int total_blocks = 1;  // the poisoned block
    for (const SequenceSpec& spec : specs) total_blocks += (spec.start + block - 1) / block;
    std::vector<int32_t> physical(total_blocks);
    std::iota(physical.begin(), physical.end(), 0);
    std::shuffle(physical.begin(), physical.end(), random);
    const int32_t poisoned_block = physical.back();
    pool_keys.assign(static_cast<size_t>(total_blocks) * block * width, kBf16NaN);
    pool_values = pool_keys;
    int next_block = 0;
    for (int s = 0; s < n; ++s) {
      const int start = specs[s].start;
      const int kept_from = local ? std::max(0, start - window - 1) : 0;
      std::vector<int32_t> table, unread_table;
      for (int b = 0; b * block < start; ++b) {
        const int32_t physical_block = physical[next_block++];
        unread_table.push_back(poisoned_block);
        if ((b + 1) * block <= kept_from) {
          table.push_back(-1);
          continue;
        }
        table.push_back(physical_block);
        const int end = std::min((b + 1) * block, start);
        for (int p = std::max(b * block, kept_from); p < end; ++p) {
          const size_t pool_row = static_cast<size_t>(physical_block) * block + p % block;
          CopyRow(keys[s], p, pool_keys, pool_row);
          CopyRow(values[s], p, pool_values, pool_row);
        }
      }
      const int32_t table_offset = static_cast<int32_t>(block_tables.size());
      block_tables.insert(block_tables.end(), table.begin(), table.end());
      const int32_t unread_offset = static_cast<int32_t>(block_tables.size());
      block_tables.insert(block_tables.end(), unread_table.begin(), unread_table.end());
      sequences[s].window_table = local ? table_offset : unread_offset;
      sequences[s].global_table = local ? unread_offset : table_offset;
    }
    block_tables.push_back(poisoned_block);  // never empty, so never a null device copy

    step_keys.resize(static_cast<size_t>(num_rows) * width);
    step_values.resize(step_keys.size());
    row_sequence.resize(num_rows);
    row_position.resize(num_rows);
    for (int s = 0; s < n; ++s) {
      for (int r = 0; r < specs[s].num_rows; ++r) {
        const int row = sequences[s].first_row + r;
        CopyRow(keys[s], specs[s].start + r, step_keys, row);
        CopyRow(values[s], specs[s].start + r, step_values, row);
        row_sequence[row] = s;
        row_position[row] = specs[s].start + r;
      }
    }

    // rla_state slots 1 .. n in shuffled order; slot 0 belongs to no sequence.
    std::vector<int32_t> slots(n);
    std::iota(slots.begin(), slots.end(), 1);
    std::shuffle(slots.begin(), slots.end(), random);
    for (int s = 0; s < n; ++s) sequences[s].rla_slot = slots[s];
  }

  int RowWidth() const { return num_kv_heads * head_dim; }
  int NumSlots() const { return static_cast<int>(specs.size()) + 1; }
  // (head_dim) key after RoPE / value of kv head `kv_head` at `position` of sequence s.
  const float* Key(int s, int position, int kv_head) const {
    return &keys[s][(static_cast<size_t>(position) * num_kv_heads + kv_head) * head_dim];
  }
  const float* Value(int s, int position, int kv_head) const {
    return &values[s][(static_cast<size_t>(position) * num_kv_heads + kv_head) * head_dim];
  }

  void CopyRow(const std::vector<float>& dense, int position, std::vector<uint16_t>& rows,
               size_t row) const {
    const size_t width = RowWidth();
    for (size_t e = 0; e < width; ++e) {
      rows[row * width + e] = FloatToBf16(dense[position * width + e]);
    }
  }

  std::vector<SequenceSpec> specs;
  int num_kv_heads;
  int head_dim;
  int block_size;
  bool local;
  int num_rows = 0;
  std::vector<std::vector<float>> keys, values;  // per sequence: (positions, kv heads, head_dim)
  std::vector<StepSequence> sequences;
  std::vector<int32_t> row_sequence, row_position, block_tables;
  std::vector<uint16_t> pool_keys, pool_values;  // (pool blocks, block_size, kv heads, head_dim)
  std::vector<uint16_t> step_keys, step_values;  // (step rows, kv heads, head_dim)
};

inline const bf16* AsBf16(const DeviceBuffer<uint16_t>& buffer) {
  return reinterpret_cast<const bf16*>(buffer.get());
}

// The device copy of a HostStep.
struct DeviceStep {
  explicit DeviceStep(const HostStep& host)
      : sequences(host.sequences),
        row_sequence(host.row_sequence),
        row_position(host.row_position),
        block_tables(host.block_tables),
        pool_keys(host.pool_keys),
        pool_values(host.pool_values),
        step_keys(host.step_keys),
        step_values(host.step_values) {}

  StepView View(const HostStep& host, int num_heads) const {
    StepView view;
    view.sequences = sequences.get();
    view.row_sequence = row_sequence.get();
    view.row_position = row_position.get();
    view.block_tables = block_tables.get();
    view.num_sequences = static_cast<int32_t>(host.sequences.size());
    view.num_rows = host.num_rows;
    view.block_size = host.block_size;
    view.num_heads = num_heads;
    view.num_kv_heads = host.num_kv_heads;
    view.head_dim = host.head_dim;
    return view;
  }
  LayerKv Kv(const HostStep& host) const {
    return {AsBf16(pool_keys), AsBf16(pool_values), AsBf16(step_keys), AsBf16(step_values),
            host.local};
  }

  DeviceBuffer<StepSequence> sequences;
  DeviceBuffer<int32_t> row_sequence, row_position, block_tables;
  DeviceBuffer<uint16_t> pool_keys, pool_values, step_keys, step_values;
};

// The key (after RoPE at `position`) turned back: pairs (i, i + d/2) by angle
// position * theta^(-2i/d).
inline std::vector<double> InverseRope(const float* key, int position, int d) {
  std::vector<double> out(d);
  for (int i = 0; i < d / 2; ++i) {
    const double angle = position * std::pow(kRopeTheta, -2.0 * i / d);
    const double c = std::cos(angle), s = std::sin(angle);
    const double a = key[i], b = key[i + d / 2];
    out[i] = a * c + b * s;
    out[i + d / 2] = b * c - a * s;
  }
  return out;
}

// phi (2d) of x (d): [softmax(x), softmax(-x)] or [relu(x), relu(-x)].
inline std::vector<double> Phi(const std::vector<double>& x, FeatureMap map) {
  const size_t d = x.size();
  std::vector<double> phi(2 * d);
  for (size_t i = 0; i < d; ++i) {
    phi[i] = x[i];
    phi[d + i] = -x[i];
  }
  if (map == FeatureMap::kRelu) {
    for (double& v : phi) v = std::max(v, 0.0);
    return phi;
  }
  for (int half = 0; half < 2; ++half) {
    double* part = phi.data() + half * d;
    const double max_value = *std::max_element(part, part + d);
    double sum = 0;
    for (size_t i = 0; i < d; ++i) sum += part[i] = std::exp(part[i] - max_value);
    for (size_t i = 0; i < d; ++i) part[i] /= sum;
  }
  return phi;
}

// Compares each step row (row_floats values: all heads) against its own scale.
inline void ExpectRowsNear(const std::vector<float>& actual, const std::vector<float>& expected,
                           size_t row_floats, double tolerance, const HostStep& host) {
  ASSERT_EQ(actual.size(), expected.size());
  for (int row = 0; row < host.num_rows; ++row) {
    const auto begin = row * row_floats, end = begin + row_floats;
    const std::vector<float> a(actual.begin() + begin, actual.begin() + end);
    const std::vector<float> e(expected.begin() + begin, expected.begin() + end);
    EXPECT_LT(RelativeError(a, e), tolerance)
        << "row " << row << " (sequence " << host.row_sequence[row] << ", position "
        << host.row_position[row] << ")";
  }
}

}  // namespace rattn::kernels::cuda::test

#endif  // RATTN_TESTS_KERNELS_CUDA_HOST_STEP_H_
