// config.json parsing: the three accepted model types, defaults, and the canonical round trip.
#include "engine/model/model_config.h"

#include "gtest/gtest.h"

namespace rattn::model {
namespace {

TEST(ModelConfigTest, ReadsHuggingFaceLlamaConfigAsAllFullAttention) {
  auto config = ModelConfig::FromJson(R"({
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_act": "silu",
    "attention_bias": false, "rope_scaling": null, "torch_dtype": "bfloat16",
    "vocab_size": 32000, "hidden_size": 2048, "intermediate_size": 5632,
    "num_hidden_layers": 22, "num_attention_heads": 32, "num_key_value_heads": 4,
    "max_position_embeddings": 2048, "rms_norm_eps": 1e-05, "rope_theta": 10000.0,
    "bos_token_id": 1, "eos_token_id": 2, "tie_word_embeddings": false})");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->num_layers, 22);
  EXPECT_EQ(config->head_dim, 64);  // hidden_size / num_attention_heads when absent
  EXPECT_EQ(config->NumGlobalLayers(), 22);
  EXPECT_EQ(config->NumRlaLayers(), 0);
  EXPECT_EQ(config->group_size(), 8);
  EXPECT_EQ(config->eos_token_ids, std::vector<int>{2});
  EXPECT_EQ(config->bos_token_id, 1);
  EXPECT_EQ(config->NumParameters(), 1100048384);  // TinyLlama-1.1B's published count
}

TEST(ModelConfigTest, ReadsMistralConfigAsSlidingAttention) {
  auto config = ModelConfig::FromJson(R"({
    "model_type": "mistral", "vocab_size": 100, "hidden_size": 64, "intermediate_size": 128,
    "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
    "max_position_embeddings": 512, "sliding_window": 32, "eos_token_id": [2, 7]})");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->NumLocalLayers(), 2);
  EXPECT_EQ(config->sliding_window, 32);
  EXPECT_EQ(config->eos_token_ids, (std::vector<int>{2, 7}));
  EXPECT_EQ(config->rla_norm_eps, config->rms_norm_eps);
}

TEST(ModelConfigTest, MistralWithoutWindowIsFullAttention) {
  auto config = ModelConfig::FromJson(R"({
    "model_type": "mistral", "vocab_size": 100, "hidden_size": 64, "intermediate_size": 128,
    "num_hidden_layers": 2, "num_attention_heads": 4, "max_position_embeddings": 512,
    "sliding_window": null})");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->NumGlobalLayers(), 2);
}

TEST(ModelConfigTest, CanonicalJsonRoundTrips) {
  ModelConfig config;
  config.vocab_size = 300;
  config.hidden_size = 96;
  config.intermediate_size = 200;
  config.num_layers = 4;
  config.num_heads = 6;
  config.num_kv_heads = 3;
  config.head_dim = 32;
  config.sliding_window = 17;
  config.layer_types = {LayerType::kRAttention, LayerType::kSlidingAttention,
                        LayerType::kRAttention, LayerType::kFullAttention};
  config.rope_theta = 500000.0;
  config.rms_norm_eps = 1e-5;
  config.rla_feature_map = FeatureMap::kRelu;
  config.rla_norm_eps = 1e-4;
  config.tie_word_embeddings = true;
  config.max_position_embeddings = 8192;
  config.bos_token_id = 0;
  config.eos_token_ids = {1, 2};
  ASSERT_TRUE(config.Validate().ok());

  auto parsed = ModelConfig::FromJson(config.ToJson());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->ToJson(), config.ToJson());
  EXPECT_EQ(parsed->layer_types, config.layer_types);
  EXPECT_EQ(parsed->rla_feature_map, FeatureMap::kRelu);
  EXPECT_EQ(parsed->NumRlaLayers(), 2);
  EXPECT_EQ(parsed->rla_state_floats(), 3 * 64 * 32);
}

TEST(ModelConfigTest, RefusesDuplicateKeys) {
  auto config = ModelConfig::FromJson(R"({"model_type": "llama", "vocab_size": 10,
                                          "vocab_size": 20})");
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.status().message().find("'vocab_size' appears more than once"),
            absl::string_view::npos)
      << config.status();
}

// Found by checkpoint_fuzzer: a number past double's range once escaped as an exception.
TEST(ModelConfigTest, RefusesNumbersPastDoubleRange) {
  auto config = ModelConfig::FromJson(R"({"model_type": "llama", "rope_theta": 1e505})");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(config.status().message().find("number overflow"), absl::string_view::npos)
      << config.status();
}

TEST(ModelConfigTest, RefusesBiasesAndOtherActivations) {
  const char* base = R"({"model_type": "llama", "vocab_size": 10, "hidden_size": 8,
    "intermediate_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2,
    "max_position_embeddings": 16, )";
  for (const char* extra :
       {R"("attention_bias": true})", R"("mlp_bias": true})", R"("hidden_act": "gelu"})"}) {
    auto config = ModelConfig::FromJson(std::string(base) + extra);
    EXPECT_FALSE(config.ok()) << extra;
  }
  EXPECT_TRUE(ModelConfig::FromJson(std::string(base) + R"("attention_bias": false})").ok());
}

}  // namespace
}  // namespace rattn::model
