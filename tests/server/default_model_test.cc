// The default model (models/rattn-fortunes, trained by tools/train/train.py) served end to end
// against the PyTorch model: for each held-out prompt of its reference.json (written by
// tools/train/reference.py in float64), the server's greedy continuation equals PyTorch's and
// its prompt logprobs agree within 1e-3. The prompts go in together, so the check also covers
// batched decode and chunked prefill with the real weights.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <future>
#include <sstream>
#include <string>
#include <vector>

#include "engine/util/json_util.h"
#include "gtest/gtest.h"
#include "server/model_loader.h"
#include "tests/server/server_test_util.h"

namespace rattn::testing {
namespace {

constexpr double kLogprobTolerance = 1e-3;

struct Case {
  std::vector<int32_t> prompt;
  std::vector<int32_t> greedy;
  std::vector<double> prompt_logprobs;
  std::vector<double> margins;
};

std::vector<Case> ReadReference(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  auto json = ParseJsonStrict(text.str(), path);
  EXPECT_TRUE(json.ok()) << json.status();
  std::vector<Case> cases;
  if (!json.ok()) return cases;
  for (const auto& entry : (*json)["cases"]) {
    cases.push_back({entry["prompt"].get<std::vector<int32_t>>(),
                     entry["greedy"].get<std::vector<int32_t>>(),
                     entry["prompt_logprobs"].get<std::vector<double>>(),
                     entry["margins"].get<std::vector<double>>()});
  }
  return cases;
}

TEST(DefaultModelTest, ServerMatchesThePyTorchModel) {
  const std::string dir = RATTN_DEFAULT_MODEL_DIR;
  const std::vector<Case> cases = ReadReference(dir + "/reference.json");
  ASSERT_GE(cases.size(), 10u);

  server::ServerOptions options = LocalServerOptions();
  options.model_dir = dir;
  options.backend = server::BackendKind::kCpu;
  options.max_tokens_per_step = 256;  // the ten prompts (97 tokens each) prefill in chunks
  auto model = server::LoadModel(options);
  ASSERT_TRUE(model.ok()) << model.status();
  auto server = server::Server::Start(options, std::move(*model));
  ASSERT_TRUE(server.ok()) << server.status();
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string((*server)->port()),
                                     grpc::InsecureChannelCredentials());
  auto stub = pb::RattnService::NewStub(channel);

  std::vector<std::future<StreamResult>> results;
  for (const Case& c : cases) {
    pb::GenerateRequest request = GreedyRequest(c.prompt, c.greedy.size());
    request.mutable_logprobs()->set_prompt_logprobs(true);
    results.push_back(
        std::async(std::launch::async, [&stub, request] { return RunStream(*stub, request); }));
  }
  double worst_logprob_error = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    const StreamResult result = results[i].get();
    ASSERT_TRUE(result.status.ok()) << "prompt " << i << ": " << result.status.error_message();
    ASSERT_EQ(result.tokens.size(), 1u);
    const std::vector<int32_t>& tokens = result.tokens[0];
    ASSERT_GE(c.greedy.size(), 64u);
    size_t same = 0;
    while (same < tokens.size() && same < c.greedy.size() && tokens[same] == c.greedy[same]) {
      ++same;
    }
    EXPECT_EQ(same, c.greedy.size())
        << "prompt " << i << ": the server's greedy tokens leave PyTorch's at token " << same
        << " (PyTorch's margin there between its two best logits: "
        << (same < c.margins.size() ? c.margins[same] : NAN) << ")";
    ASSERT_EQ(result.prompt_logprobs.size(), c.prompt_logprobs.size()) << "prompt " << i;
    for (size_t j = 0; j < c.prompt_logprobs.size(); ++j) {
      EXPECT_EQ(result.prompt_logprobs[j].token_id(), c.prompt[j + 1]);
      const double error = std::abs(result.prompt_logprobs[j].logprob() - c.prompt_logprobs[j]);
      worst_logprob_error = std::max(worst_logprob_error, error);
      EXPECT_LE(error, kLogprobTolerance) << "prompt " << i << ", token " << j + 1;
    }
  }
  std::printf("%zu prompts: greedy tokens equal; worst prompt-logprob difference %.2e\n",
              cases.size(), worst_logprob_error);
}

}  // namespace
}  // namespace rattn::testing
