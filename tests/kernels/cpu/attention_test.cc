// CPU attention kernels against direct formulas: paged softmax attention (row and tile paths)
// over scattered blocks, the feature maps, and the fold/readout of the linear-attention state.
#include "kernels/cpu/attention.h"

#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/cpu/elementwise.h"

namespace rattn::kernels::cpu {
namespace {

constexpr double kTolerance = 1e-5;

std::vector<float> Random(size_t n, std::mt19937& random) {
  std::normal_distribution<float> normal;
  std::vector<float> v(n);
  for (float& x : v) x = normal(random);
  return v;
}

// Keys and values of `positions` rows: those below `split` in shuffled physical blocks of a
// paged cache, the rest in dense step rows. `keys` and `values` hold every row densely, for the
// reference.
struct ScatteredKv {
  ScatteredKv(int positions, int split, int block_size, int row_width, std::mt19937& random)
      : split(split), block_size(block_size), row_width(row_width) {
    keys = Random(static_cast<size_t>(positions) * row_width, random);
    values = Random(keys.size(), random);
    int blocks = (split + block_size - 1) / block_size;
    table.resize(blocks);
    std::iota(table.begin(), table.end(), 0);
    std::shuffle(table.begin(), table.end(), random);
    paged_keys.assign(static_cast<size_t>(blocks) * block_size * row_width, 0.0f);
    paged_values = paged_keys;
    PagedKv<float> paged = Paged();
    for (int p = 0; p < split; ++p) {
      std::copy_n(&keys[p * row_width], row_width, paged.KeyRow(p));
      std::copy_n(&values[p * row_width], row_width, paged.ValueRow(p));
    }
  }
  PagedKv<float> Paged() {
    return {paged_keys.data(), paged_values.data(), table.data(), block_size, row_width};
  }
  SplitKv<float> View() {
    return {Paged(), split, keys.data() + split * row_width, values.data() + split * row_width};
  }
  int split;
  int block_size;
  int row_width;
  std::vector<int32_t> table;
  std::vector<float> keys, values;  // (positions, row_width), dense
  std::vector<float> paged_keys, paged_values;
};

// out (d) for query head h, straight from the definition in double, over dense rows.
std::vector<double> Reference(const float* q, const ScatteredKv& kv, int kv_head, int d,
                              int64_t first, int64_t last, double scale) {
  std::vector<double> scores;
  for (int64_t j = first; j <= last; ++j) {
    double s = 0;
    for (int i = 0; i < d; ++i) s += q[i] * kv.keys[j * kv.row_width + kv_head * d + i];
    scores.push_back(s * scale);
  }
  double max = *std::max_element(scores.begin(), scores.end());
  double sum = 0;
  for (double& s : scores) sum += (s = std::exp(s - max));
  std::vector<double> out(d, 0.0);
  for (int64_t j = first; j <= last; ++j) {
    for (int i = 0; i < d; ++i) {
      out[i] += scores[j - first] / sum * kv.values[j * kv.row_width + kv_head * d + i];
    }
  }
  return out;
}

struct Shape {
  int heads, kv_heads, head_dim, block_size, positions, window, split;
};

class AttentionKernelTest : public ::testing::TestWithParam<Shape> {};

TEST_P(AttentionKernelTest, RowAndTilePathsMatchTheDefinition) {
  const Shape s = GetParam();
  std::mt19937 random(s.heads * 131 + s.positions);
  const int group = s.heads / s.kv_heads;
  const int width = s.heads * s.head_dim;
  ScatteredKv kv(s.positions, s.split, s.block_size, s.kv_heads * s.head_dim, random);
  std::vector<float> queries = Random(static_cast<size_t>(s.positions) * width, random);
  const float scale = 1.0f / std::sqrt(static_cast<float>(s.head_dim));

  // Tile path over every position at once.
  std::vector<float> tile_out(queries.size(), 0.0f);
  for (int g = 0; g < s.kv_heads; ++g) {
    QueryTileParams p;
    p.queries = queries.data();
    p.query_stride = width;
    p.out = tile_out.data();
    p.out_stride = width;
    p.num_rows = s.positions;
    p.kv_head = g;
    p.group_size = group;
    p.head_dim = s.head_dim;
    p.window = s.window;
    p.scale = scale;
    std::vector<float> workspace(QueryTileWorkspaceFloats(p));
    AttendQueryTile(p, kv.View(), workspace.data());
  }

  for (int t = 0; t < s.positions; ++t) {
    const int64_t first = s.window < 0 ? 0 : std::max(0, t - s.window);
    std::vector<float> row_out(width);
    std::vector<float> scores(static_cast<size_t>(s.heads) * (t - first + 1));
    AttendKvHeads(queries.data() + t * width, kv.View(), 0, s.kv_heads, group, s.head_dim, first, t,
                  scale, scores.data(), row_out.data());
    for (int h = 0; h < s.heads; ++h) {
      std::vector<double> want = Reference(queries.data() + t * width + h * s.head_dim, kv,
                                           h / group, s.head_dim, first, t, scale);
      for (int i = 0; i < s.head_dim; ++i) {
        ASSERT_NEAR(row_out[h * s.head_dim + i], want[i], kTolerance * 10)
            << "row path, position " << t << " head " << h;
        ASSERT_NEAR(tile_out[t * width + h * s.head_dim + i], want[i], kTolerance * 10)
            << "tile path, position " << t << " head " << h;
      }
    }
  }
}

// heads, kv heads, head dim, block size, positions, window (-1: full), cache/step split.
INSTANTIATE_TEST_SUITE_P(
    AwkwardSizes, AttentionKernelTest,
    ::testing::Values(Shape{1, 1, 2, 1, 1, -1, 0}, Shape{4, 1, 8, 3, 19, -1, 19},
                      Shape{6, 3, 16, 5, 33, 7, 11}, Shape{8, 2, 64, 16, 99, 1, 50},
                      Shape{3, 3, 10, 7, 40, 0, 40}, Shape{4, 4, 32, 16, 70, 64, 0},
                      Shape{4, 2, 16, 4, 37, -1, 36}, Shape{10, 1, 128, 16, 45, -1, 20},
                      Shape{18, 2, 64, 16, 300, 100, 150}));

TEST(FeatureMapTest, SoftmaxHalvesEachSumToOneAndReluSplitsSigns) {
  std::vector<float> x = {0.5f, -1.0f, 2.0f, 0.0f};
  std::vector<float> phi(8);
  ApplyFeatureMap(x.data(), 4, FeatureMap::kSoftmax, phi.data());
  EXPECT_NEAR(std::accumulate(phi.begin(), phi.begin() + 4, 0.0), 1.0, 1e-6);
  EXPECT_NEAR(std::accumulate(phi.begin() + 4, phi.end(), 0.0), 1.0, 1e-6);
  EXPECT_GT(phi[2], phi[0]);  // softmax(x) favours the largest x
  EXPECT_GT(phi[5], phi[4]);  // softmax(-x) favours the smallest x
  ApplyFeatureMap(x.data(), 4, FeatureMap::kRelu, phi.data());
  EXPECT_EQ(phi, (std::vector<float>{0.5f, 0.0f, 2.0f, 0.0f, 0.0f, 1.0f, 0.0f, 0.0f}));
}

TEST(LinearAttentionTest, FoldThenReadEqualsSumOfOuterProducts) {
  std::mt19937 random(5);
  const int d = 12;
  std::vector<float> state(2 * d * d, 0.0f);
  std::vector<std::vector<float>> phis, values;
  for (int j = 0; j < 6; ++j) {
    std::vector<float> k = Random(d, random);
    phis.emplace_back(2 * d);
    ApplyFeatureMap(k.data(), d, FeatureMap::kSoftmax, phis.back().data());
    values.push_back(Random(d, random));
    FoldIntoState(phis.back().data(), values.back().data(), d, state.data());
  }
  std::vector<float> q = Random(d, random), phi_q(2 * d), out(d);
  ApplyFeatureMap(q.data(), d, FeatureMap::kSoftmax, phi_q.data());
  ReadState(phi_q.data(), state.data(), d, out.data());
  for (int i = 0; i < d; ++i) {
    double want = 0;
    for (size_t j = 0; j < phis.size(); ++j) {
      double dot = 0;
      for (int f = 0; f < 2 * d; ++f) dot += phi_q[f] * phis[j][f];
      want += dot * values[j][i];
    }
    EXPECT_NEAR(out[i], want, kTolerance);
  }
}

TEST(RopeTest, InverseUndoesRotationAndPositionZeroIsIdentity) {
  std::mt19937 random(9);
  const int d = 16;
  std::vector<float> x = Random(2 * d, random), y = x;
  std::vector<float> cos(d / 2), sin(d / 2);
  RopeCosSin(0, 10000.0, d, cos.data(), sin.data());
  ApplyRope(y.data(), 2, d, cos.data(), sin.data());
  EXPECT_EQ(x, y);
  RopeCosSin(123457, 10000.0, d, cos.data(), sin.data());
  ApplyRope(y.data(), 2, d, cos.data(), sin.data());
  EXPECT_GT(std::abs(y[0] - x[0]), 1e-3);
  ApplyInverseRope(y.data(), 2, d, cos.data(), sin.data());
  for (int i = 0; i < 2 * d; ++i) EXPECT_NEAR(y[i], x[i], 1e-5);
}

}  // namespace
}  // namespace rattn::kernels::cpu
