// Checkpoint loading: a valid checkpoint opens; each malformed one is refused with a message
// naming the file, the tensor (where there is one) and the problem.
#include "engine/model/checkpoint.h"

#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "engine/model/random_checkpoint.h"
#include "engine/model/safetensors.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/test_util.h"

namespace rattn::model {
namespace {

using nlohmann::json;

// A small valid checkpoint: layers r, f; tensors in one model.safetensors.
ModelConfig TinyConfig() { return testing::SmallConfig("rf", 4, 2, 1, 8); }

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

// A safetensors file split into its header JSON and data, for edits at the byte level.
struct RawFile {
  json header;
  std::string data;

  static RawFile Read(const std::string& path) {
    std::string bytes = ReadFile(path);
    uint64_t length = 0;
    for (int i = 7; i >= 0; --i) length = (length << 8) | static_cast<unsigned char>(bytes[i]);
    return {json::parse(bytes.substr(8, length)), bytes.substr(8 + length)};
  }
  std::string Bytes(const std::string& header_text) const {
    std::string out(8, '\0');
    for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((header_text.size() >> (8 * i)) & 0xff);
    return out + header_text + data;
  }
  void Write(const std::string& path) const { WriteFile(path, Bytes(header.dump())); }
};

struct BadCase {
  std::string name;
  // Damages the checkpoint in `dir` (a valid TinyConfig checkpoint with model.safetensors).
  std::function<void(const std::string& dir)> damage;
  // Substrings the error must contain; "FILE" stands for the damaged file's path.
  std::vector<std::string> expected;
};

std::string Weights(const std::string& dir) { return dir + "/model.safetensors"; }
std::string Config(const std::string& dir) { return dir + "/config.json"; }

// Edits the header JSON of model.safetensors.
std::function<void(const std::string&)> EditHeader(std::function<void(json&)> edit) {
  return [edit](const std::string& dir) {
    RawFile raw = RawFile::Read(Weights(dir));
    edit(raw.header);
    raw.Write(Weights(dir));
  };
}

// Edits config.json.
std::function<void(const std::string&)> EditConfig(std::function<void(json&)> edit) {
  return [edit](const std::string& dir) {
    json config = json::parse(ReadFile(Config(dir)));
    edit(config);
    WriteFile(Config(dir), config.dump());
  };
}

// Rewrites model.safetensors after `edit` changes its list of tensors.
std::function<void(const std::string&)> EditTensors(
    std::function<void(std::vector<TensorToWrite>&, std::vector<std::string>&)> edit) {
  return [edit](const std::string& dir) {
    std::vector<TensorToWrite> tensors;
    std::vector<std::string> storage;
    {
      auto file = SafetensorsFile::Open(Weights(dir));
      ASSERT_TRUE(file.ok());
      storage.reserve(1000);
      for (const TensorInfo& t : (*file)->tensors()) {
        storage.emplace_back(t.data);
        tensors.push_back({t.name, t.dtype, t.shape, storage.back()});
      }
      edit(tensors, storage);
    }
    ASSERT_TRUE(WriteSafetensors(Weights(dir), tensors).ok());
  };
}

const std::string kQ = "model.layers.0.self_attn.q_proj.weight";

std::vector<BadCase> BadCases() {
  return {
      {"truncated_file",
       [](const std::string& dir) {
         std::string bytes = ReadFile(Weights(dir));
         WriteFile(Weights(dir), bytes.substr(0, bytes.size() - 10));
       },
       {"FILE", "reach past", "truncated"}},
      {"shorter_than_length_prefix",
       [](const std::string& dir) { WriteFile(Weights(dir), "abc"); },
       {"FILE", "too short"}},
      {"header_longer_than_file",
       [](const std::string& dir) {
         RawFile raw = RawFile::Read(Weights(dir));
         std::string bytes = raw.Bytes(raw.header.dump());
         bytes[6] = 1;  // header length += 2^48
         WriteFile(Weights(dir), bytes);
       },
       {"FILE", "header length"}},
      {"header_longer_than_remaining_bytes",
       [](const std::string& dir) {
         RawFile raw = RawFile::Read(Weights(dir));
         raw.data.clear();
         std::string text = raw.header.dump();
         std::string bytes = raw.Bytes(text);
         uint64_t length = text.size() + 100;
         for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((length >> (8 * i)) & 0xff);
         WriteFile(Weights(dir), bytes);
       },
       {"FILE", "is longer than the"}},
      {"header_not_json",
       [](const std::string& dir) {
         RawFile raw = RawFile::Read(Weights(dir));
         WriteFile(Weights(dir), raw.Bytes("{\"a\": [1, 2"));
       },
       {"FILE", "header"}},
      {"header_not_object",
       [](const std::string& dir) {
         RawFile raw = RawFile::Read(Weights(dir));
         WriteFile(Weights(dir), raw.Bytes("[1, 2, 3]"));
       },
       {"FILE", "not a JSON object"}},
      {"duplicate_tensor_key",
       [](const std::string& dir) {
         RawFile raw = RawFile::Read(Weights(dir));
         std::string text = raw.header.dump();
         std::string entry = "\"" + kQ + "\":" + raw.header[kQ].dump();
         text.insert(1, entry + ",");
         WriteFile(Weights(dir), raw.Bytes(text));
       },
       {"FILE", kQ, "more than once"}},
      {"overlapping_offsets",
       EditHeader([](json& header) {
         // Start 4 bytes into the tensor stored before it (same size): the two overlap.
         auto& offsets = header[kQ]["data_offsets"];
         offsets = {offsets[0].get<uint64_t>() - 4, offsets[1].get<uint64_t>() - 4};
       }),
       {"FILE", kQ, "overlaps"}},
      {"hole_between_tensors",
       [](const std::string& dir) {
         // Eight unused bytes before the last tensor, which moves up to make room.
         RawFile raw = RawFile::Read(Weights(dir));
         std::string last;
         for (auto& [name, entry] : raw.header.items()) {
           if (name != "__metadata__" && entry["data_offsets"][1] == raw.data.size()) last = name;
         }
         auto& offsets = raw.header[last]["data_offsets"];
         uint64_t begin = offsets[0].get<uint64_t>();
         offsets = {begin + 8, offsets[1].get<uint64_t>() + 8};
         raw.data.insert(begin, 8, '\0');
         raw.Write(Weights(dir));
       },
       {"FILE", "leaves a hole of 8 unused bytes"}},
      {"trailing_bytes",
       [](const std::string& dir) { WriteFile(Weights(dir), ReadFile(Weights(dir)) + "junk"); },
       {"FILE", "4 trailing bytes"}},
      {"offsets_out_of_range",
       EditHeader([](json& header) {
         header[kQ]["data_offsets"] = {1ull << 40, (1ull << 40) + 1};
       }),
       {"FILE", kQ, "reach past"}},
      {"offsets_reversed",
       EditHeader([](json& header) {
         auto offsets = header[kQ]["data_offsets"];
         header[kQ]["data_offsets"] = {offsets[1], offsets[0]};
       }),
       {"FILE", kQ, "end before they begin"}},
      {"unknown_dtype",
       EditHeader([](json& header) { header[kQ]["dtype"] = "F8_E4M3"; }),
       {"FILE", kQ, "unknown dtype 'F8_E4M3'"}},
      {"shape_disagrees_with_offsets",
       EditHeader([](json& header) {
         header[kQ]["shape"] = {3, 3};
       }),
       {"FILE", kQ, "needs 36 bytes"}},
      {"negative_dimension",
       EditHeader([](json& header) {
         header[kQ]["shape"] = {-16, -48};
       }),
       {"FILE", kQ, "non-natural dimension"}},
      {"missing_offsets",
       EditHeader([](json& header) { header[kQ].erase("data_offsets"); }),
       {"FILE", kQ, "data_offsets"}},
      {"integer_weights",
       EditTensors([](auto& tensors, auto&) {
         for (auto& t : tensors) {
           if (t.name == kQ) t.dtype = DType::kI32;
         }
       }),
       {"FILE", kQ, "has dtype I32"}},
      {"wrong_shape",
       EditTensors([](auto& tensors, auto&) {
         for (auto& t : tensors) {
           if (t.name == kQ) std::swap(t.shape[0], t.shape[1]);
         }
       }),
       {"FILE", kQ, "has shape [48, 16]", "implies [16, 48]"}},
      {"missing_tensor",
       EditTensors([](auto& tensors, auto&) {
         std::erase_if(tensors, [](const auto& t) {
           return t.name == "model.layers.1.input_layernorm.weight";
         });
       }),
       {"model.layers.1.input_layernorm.weight", "is missing"}},
      {"missing_rla_norm",
       EditTensors([](auto& tensors, auto&) {
         std::erase_if(tensors, [](const auto& t) {
           return t.name == "model.layers.0.self_attn.rla_norm.weight";
         });
       }),
       {"model.layers.0.self_attn.rla_norm.weight", "is missing", "[2, 8]"}},
      {"unexpected_tensor",
       EditTensors([](auto& tensors, auto& storage) {
         storage.push_back(std::string(16, '\0'));
         tensors.push_back({"model.layers.7.extra.weight", DType::kF32, {4}, storage.back()});
       }),
       {"FILE", "unexpected tensor 'model.layers.7.extra.weight'"}},
      {"rla_norm_on_full_layer",
       EditTensors([](auto& tensors, auto& storage) {
         storage.push_back(std::string(2 * 8 * 4, '\0'));
         tensors.push_back(
             {"model.layers.1.self_attn.rla_norm.weight", DType::kF32, {2, 8}, storage.back()});
       }),
       {"FILE", "unexpected tensor 'model.layers.1.self_attn.rla_norm.weight'"}},
      {"lm_head_with_tied_embeddings",
       EditConfig([](json& c) { c["tie_word_embeddings"] = true; }),
       {"FILE", "lm_head.weight", "tie_word_embeddings"}},
      {"tensor_in_two_files",
       [](const std::string& dir) {
         auto file = SafetensorsFile::Open(Weights(dir));
         ASSERT_TRUE(file.ok());
         const TensorInfo* q = (*file)->Find(kQ);
         std::vector<TensorToWrite> one = {{q->name, q->dtype, q->shape, q->data}};
         ASSERT_TRUE(WriteSafetensors(dir + "/zz-extra.safetensors", one).ok());
       },
       {"zz-extra.safetensors", kQ, "is also in"}},
      {"nan_weight",
       EditTensors([](auto& tensors, auto& storage) {
         for (auto& t : tensors) {
           if (t.name == kQ) {
             storage.push_back(std::string(t.data));
             float nan = std::numeric_limits<float>::quiet_NaN();
             std::memcpy(storage.back().data() + 4 * 5, &nan, 4);
             t.data = storage.back();
           }
         }
       }),
       {"FILE", kQ, "nan at element 5"}},
      {"layer_types_wrong_length",
       EditConfig([](json& c) { c["layer_types"] = {"rattention"}; }),
       {"config.json", "layer_types", "has 1 entries but num_hidden_layers is 2"}},
      {"unknown_layer_type",
       EditConfig([](json& c) { c["layer_types"][1] = "global"; }),
       {"config.json", "layer_types[1]", "\"global\""}},
      {"kv_heads_do_not_divide",
       EditConfig([](json& c) {
         c["num_attention_heads"] = 3;
         c["num_key_value_heads"] = 2;
       }),
       {"config.json", "num_key_value_heads", "must divide"}},
      {"config_not_json",
       [](const std::string& dir) { WriteFile(Config(dir), "{\"vocab\": "); },
       {"config.json"}},
      {"config_missing_hidden_size",
       EditConfig([](json& c) { c.erase("hidden_size"); }),
       {"config.json", "hidden_size", "missing"}},
      {"config_negative_vocab",
       EditConfig([](json& c) { c["vocab_size"] = -5; }),
       {"config.json", "vocab_size", "-5"}},
      {"config_string_for_integer",
       EditConfig([](json& c) { c["hidden_size"] = "48"; }),
       {"config.json", "hidden_size", "must be an integer"}},
      {"config_zero_eps",
       EditConfig([](json& c) { c["rms_norm_eps"] = 0; }),
       {"config.json", "rms_norm_eps"}},
      {"config_rope_scaling",
       EditConfig([](json& c) {
         c["rope_scaling"] = {{"type", "linear"}, {"factor", 2.0}};
       }),
       {"config.json", "rope_scaling", "not supported"}},
      {"config_eos_outside_vocab",
       EditConfig([](json& c) { c["eos_token_id"] = 5000; }),
       {"config.json", "eos_token_id", "5000"}},
      {"config_missing_window",
       EditConfig([](json& c) { c.erase("sliding_window"); }),
       {"config.json", "sliding_window", "is missing"}},
      {"config_unknown_model_type",
       EditConfig([](json& c) { c["model_type"] = "gemma2"; }),
       {"config.json", "model_type", "gemma2"}},
      {"config_odd_head_dim",
       EditConfig([](json& c) { c["head_dim"] = 7; }),
       {"config.json", "head_dim", "even"}},
      {"no_weight_files",
       [](const std::string& dir) { std::filesystem::remove(Weights(dir)); },
       {"no *.safetensors files"}},
      {"no_config",
       [](const std::string& dir) { std::filesystem::remove(Config(dir)); },
       {"config.json", "cannot open"}},
  };
}

// Names the case instead of dumping its bytes in test listings.
void PrintTo(const BadCase& bad, std::ostream* out) { *out << bad.name; }

class BadCheckpointTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadCheckpointTest, IsRefusedWithAPreciseMessage) {
  const BadCase& bad = GetParam();
  testing::ScratchDir dir("checkpoint");
  ASSERT_TRUE(WriteRandomCheckpoint(TinyConfig(), {}, dir.path()).ok());
  ASSERT_TRUE(Checkpoint::Open(dir.path()).ok()) << "the undamaged checkpoint must open";
  bad.damage(dir.path());

  auto checkpoint = Checkpoint::Open(dir.path());
  absl::Status status = checkpoint.ok() ? absl::OkStatus() : checkpoint.status();
  if (checkpoint.ok()) {
    // Values are checked when they are converted.
    const ModelConfig& config = (*checkpoint)->config();
    for (const ExpectedTensor& t : ExpectedTensors(config)) {
      std::vector<float> values((*checkpoint)->tensor(t.name).num_elements());
      status = (*checkpoint)->ReadFloat(t.name, values);
      if (!status.ok()) break;
    }
  }
  ASSERT_FALSE(status.ok()) << "damaged checkpoint was accepted";
  RecordProperty("message", std::string(status.message()));
  for (std::string expected : bad.expected) {
    if (expected == "FILE") expected = Weights(dir.path());
    EXPECT_NE(status.message().find(expected), absl::string_view::npos)
        << "message: " << status.message() << "\nlacks: " << expected;
  }
}

INSTANTIATE_TEST_SUITE_P(Malformed, BadCheckpointTest, ::testing::ValuesIn(BadCases()),
                         [](const auto& info) { return info.param.name; });

TEST(CheckpointTest, OpensEveryDtypeAndShardCount) {
  for (DType dtype : {DType::kF32, DType::kF16, DType::kBF16}) {
    for (int shards : {1, 2, 5}) {
      testing::ScratchDir dir("checkpoint");
      ASSERT_TRUE(WriteRandomCheckpoint(
                      TinyConfig(),
                      {.seed = 1, .dtype = dtype, .num_shards = shards, .config_json = ""},
                      dir.path())
                      .ok());
      auto checkpoint = Checkpoint::Open(dir.path());
      ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
      EXPECT_EQ((*checkpoint)->storage_dtype(), dtype);
      EXPECT_EQ((*checkpoint)->config().NumRlaLayers(), 1);
    }
  }
}

TEST(CheckpointTest, IgnoresRotaryBuffersOfOlderExports) {
  testing::ScratchDir dir("checkpoint");
  ASSERT_TRUE(WriteRandomCheckpoint(TinyConfig(), {}, dir.path()).ok());
  std::string zeros(4 * 4, '\0');
  std::vector<TensorToWrite> extra = {
      {"model.layers.0.self_attn.rotary_emb.inv_freq", DType::kF32, {4}, zeros}};
  ASSERT_TRUE(WriteSafetensors(dir.File("rotary.safetensors"), extra).ok());
  EXPECT_TRUE(Checkpoint::Open(dir.path()).ok());
}

}  // namespace
}  // namespace rattn::model
