// UTF-8 checking for Encode, and choosing a model directory's tokenizer; see tokenizer.h.
#include "engine/tokenizer/tokenizer.h"

#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "engine/tokenizer/bpe_tokenizer.h"
#include "engine/tokenizer/byte_tokenizer.h"
#include "engine/tokenizer/sentencepiece_tokenizer.h"
#include "engine/tokenizer/utf8.h"
#include "engine/util/file_util.h"
#include "engine/util/json_util.h"
#include "engine/util/logging.h"
#include "engine/util/status_macros.h"
#include "nlohmann/json.hpp"

namespace rattn::engine {
namespace {

namespace fs = std::filesystem;

// Llama 3's tokenizer.json is about 9 MiB; a file this large is not a tokenizer.
constexpr int64_t kMaxJsonBytes = 256 << 20;

// The content of a special token as tokenizer_config.json names it: a string, or an object
// with "content" (a serialized AddedToken); "" when absent or null.
absl::StatusOr<std::string> SpecialTokenContent(const nlohmann::json& config, const char* key,
                                                const std::string& path) {
  auto it = config.find(key);
  if (it == config.end() || it->is_null()) return std::string();
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object()) {
    auto content = it->find("content");
    if (content != it->end() && content->is_string()) return content->get<std::string>();
  }
  return absl::InvalidArgumentError(
      absl::StrCat(path, ": ", key, " must be a string or an object with a \"content\" string"));
}

absl::StatusOr<std::unique_ptr<Tokenizer>> LoadBpe(const fs::path& json_path,
                                                   const fs::path& config_path) {
  BpeTokenizer::Options options;
  if (fs::exists(config_path)) {
    RATTN_ASSIGN_OR_RETURN(std::string config_text,
                           ReadSmallFile(config_path.string(), kMaxJsonBytes));
    RATTN_ASSIGN_OR_RETURN(nlohmann::json config,
                           ParseJsonStrict(config_text, config_path.string()));
    if (!config.is_object()) {
      return absl::InvalidArgumentError(absl::StrCat(config_path.string(), ": not an object"));
    }
    RATTN_ASSIGN_OR_RETURN(options.bos_token,
                           SpecialTokenContent(config, "bos_token", config_path.string()));
    RATTN_ASSIGN_OR_RETURN(options.eos_token,
                           SpecialTokenContent(config, "eos_token", config_path.string()));
  }
  RATTN_ASSIGN_OR_RETURN(std::string json_text, ReadSmallFile(json_path.string(), kMaxJsonBytes));
  RATTN_ASSIGN_OR_RETURN(std::unique_ptr<BpeTokenizer> tokenizer,
                         BpeTokenizer::FromJson(json_text, json_path.string(), options));
  return tokenizer;
}

}  // namespace

absl::Status CheckUtf8(absl::string_view text) {
  const std::optional<size_t> offset = FindInvalidUtf8(text);
  if (!offset.has_value()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("text is not valid UTF-8: byte ", *offset, " (0x",
                   absl::Hex(static_cast<unsigned char>(text[*offset]), absl::kZeroPad2),
                   ") does not begin a well-formed character"));
}

absl::StatusOr<std::unique_ptr<Tokenizer>> LoadTokenizer(const std::string& model_dir,
                                                         int vocab_size) {
  const fs::path dir(model_dir);
  const fs::path json_path = dir / "tokenizer.json";
  const fs::path model_path = dir / "tokenizer.model";

  std::unique_ptr<Tokenizer> tokenizer;
  std::string source;
  if (fs::exists(json_path)) {
    RATTN_ASSIGN_OR_RETURN(tokenizer, LoadBpe(json_path, dir / "tokenizer_config.json"));
    source = json_path.string();
  } else if (fs::exists(model_path)) {
    RATTN_ASSIGN_OR_RETURN(tokenizer, SentencePieceTokenizer::Load(model_path.string()));
    source = model_path.string();
  } else if (vocab_size >= 256) {
    RATTN_ASSIGN_OR_RETURN(tokenizer, ByteTokenizer::Create(vocab_size));
    source = "bytes (no tokenizer.json or tokenizer.model)";
  } else {
    return absl::NotFoundError(absl::StrCat(
        model_dir, ": has neither tokenizer.json nor tokenizer.model, and the model's vocab_size ",
        vocab_size, " is too small for the byte tokenizer (256)"));
  }

  if (tokenizer->vocab_size() > vocab_size) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": the tokenizer has ids up to ",
                                                   tokenizer->vocab_size() - 1,
                                                   " but the model's vocab_size is ", vocab_size));
  }
  RATTN_LOG(INFO) << "tokenizer: " << tokenizer->kind() << " from " << source << ", "
                  << tokenizer->vocab_size() << " ids";
  return tokenizer;
}

}  // namespace rattn::engine
