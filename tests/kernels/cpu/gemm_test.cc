// The matrix products against a direct sum, over the shapes decode and prefill steps produce:
// few rows (the weight-streaming kernel) and many (OpenBLAS), awkward widths, beta 0 and 1, one
// thread and several.
#include "kernels/cpu/gemm.h"

#include <bit>
#include <random>
#include <vector>

#include "engine/util/float16.h"
#include "gtest/gtest.h"
#include "kernels/cpu/small_batch_gemm.h"

namespace rattn::kernels::cpu {
namespace {

TEST(GemmTest, MatchesADirectSumForEveryRowCount) {
  std::mt19937 random(3);
  std::normal_distribution<float> normal;
  UseCallerThreadsForBlas();
  for (int rows : {1, 2, 3, 7, kSmallBatchMaxRows, kSmallBatchMaxRows + 1, 40}) {
    for (auto [in, out] : {std::pair{8, 4}, {13, 7}, {64, 33}, {200, 129}}) {
      for (float beta : {0.0f, 1.0f}) {
        for (int threads : {1, 2}) {
          std::vector<float> x(rows * in), w(out * in), y(rows * out), want(rows * out);
          for (float& v : x) v = normal(random);
          for (float& v : w) v = normal(random);
          for (float& v : y) v = normal(random);
          for (int m = 0; m < rows; ++m) {
            for (int o = 0; o < out; ++o) {
              double sum = beta * y[m * out + o];
              for (int i = 0; i < in; ++i) sum += double{x[m * in + i]} * w[o * in + i];
              want[m * out + o] = static_cast<float>(sum);
            }
          }
          MatMulTransposedWeights(x.data(), WeightMatrix::Float(w.data()), rows, in, out, y.data(),
                                  beta, threads);
          for (int k = 0; k < rows * out; ++k) {
            ASSERT_NEAR(y[k], want[k], 1e-4 * (1 + std::abs(want[k])))
                << "rows " << rows << " in " << in << " out " << out << " beta " << beta
                << " threads " << threads << " element " << k;
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace rattn::kernels::cpu

namespace rattn::kernels::cpu {
namespace {

// 16-bit weights give the product of their fp32 values, on both paths (few rows and many).
TEST(GemmTest, SixteenBitWeightsMatchTheirFloatValues) {
  std::mt19937 random(8);
  std::normal_distribution<float> normal;
  const int in = 37, out = 45;
  for (WeightType type : {WeightType::kBF16, WeightType::kF16}) {
    std::vector<uint16_t> bits(in * out);
    for (uint16_t& b : bits) {
      float v = normal(random);
      b = type == WeightType::kBF16 ? FloatToBf16(v) : FloatToF16(v);
    }
    std::vector<float> as_float(in * out);
    WeightsToFloat({bits.data(), type}, 0, in * out, as_float.data());
    for (int rows : {1, 5, kSmallBatchMaxRows + 3}) {
      std::vector<float> x(rows * in), y(rows * out), want(rows * out);
      for (float& v : x) v = normal(random);
      MatMulTransposedWeights(x.data(), WeightMatrix::Float(as_float.data()), rows, in, out,
                              want.data());
      MatMulTransposedWeights(x.data(), {bits.data(), type}, rows, in, out, y.data(), 0.0f, 2);
      for (int k = 0; k < rows * out; ++k) {
        ASSERT_NEAR(y[k], want[k], 1e-5 * (1 + std::abs(want[k])))
            << "type " << static_cast<int>(type) << " rows " << rows << " element " << k;
      }
    }
  }
}

}  // namespace
}  // namespace rattn::kernels::cpu
