// The matrix products against a direct sum, over the shapes decode and prefill steps produce:
// few rows (the weight-streaming kernel) and many (OpenBLAS), awkward widths, beta 0 and 1, one
// thread and several.
#include "kernels/cpu/gemm.h"

#include <random>
#include <vector>

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
          MatMulTransposedWeights(x.data(), w.data(), rows, in, out, y.data(), beta, threads);
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
