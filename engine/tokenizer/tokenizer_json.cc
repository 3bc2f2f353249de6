// tokenizer.json reading; see tokenizer_json.h. nlohmann::json accessors that could throw are
// only called after the value's type has been checked.
#include "engine/tokenizer/tokenizer_json.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/util/json_util.h"
#include "engine/util/status_macros.h"
#include "nlohmann/json.hpp"

namespace rattn::engine {
namespace {

using nlohmann::json;

// Errors name the file and the field, e.g. "tokenizer.json: model.type ...".
class Reader {
 public:
  explicit Reader(absl::string_view what) : what_(what) {}

  absl::Status Error(absl::string_view field, absl::string_view problem) const {
    return absl::InvalidArgumentError(absl::StrCat(what_, ": ", field, " ", problem));
  }

  // The member `key` of `object`, or nullptr when absent or null.
  static const json* Find(const json& object, const std::string& key) {
    if (!object.is_object()) return nullptr;
    auto it = object.find(key);
    if (it == object.end() || it->is_null()) return nullptr;
    return &*it;
  }

  absl::StatusOr<bool> Bool(const json& object, const std::string& key, absl::string_view field,
                            bool absent_value) const {
    const json* value = Find(object, key);
    if (value == nullptr) return absent_value;
    if (!value->is_boolean()) return Error(field, "must be true or false");
    return value->get<bool>();
  }

  absl::StatusOr<std::string> String(const json& object, const std::string& key,
                                     absl::string_view field) const {
    const json* value = Find(object, key);
    if (value == nullptr || !value->is_string()) return Error(field, "must be a string");
    return value->get_ref<const std::string&>();
  }

  // Refuses a setting rattn does not implement unless it is absent, null, false or "".
  absl::Status Unset(const json& object, const std::string& key, absl::string_view field) const {
    const json* value = Find(object, key);
    if (value == nullptr || (value->is_boolean() && !value->get<bool>()) ||
        (value->is_string() && value->get_ref<const std::string&>().empty())) {
      return absl::OkStatus();
    }
    return Error(field, absl::StrCat("is ", value->dump(), ", which rattn does not support"));
  }

 private:
  absl::string_view what_;
};

absl::Status ReadByteLevel(const Reader& reader, const json& byte_level, absl::string_view field,
                           TokenizerJson* out) {
  RATTN_RETURN_IF_ERROR(
      reader.Unset(byte_level, "add_prefix_space", absl::StrCat(field, ".add_prefix_space")));
  RATTN_ASSIGN_OR_RETURN(bool use_regex, reader.Bool(byte_level, "use_regex",
                                                     absl::StrCat(field, ".use_regex"), true));
  if (use_regex) out->splits.push_back(SplitPattern::kGpt2);
  return absl::OkStatus();
}

absl::Status ReadSplit(const Reader& reader, const json& split, absl::string_view field,
                       TokenizerJson* out) {
  const json* pattern = Reader::Find(split, "pattern");
  const json* regex = pattern == nullptr ? nullptr : Reader::Find(*pattern, "Regex");
  if (regex == nullptr || !regex->is_string()) {
    return reader.Error(absl::StrCat(field, ".pattern"), "must be {\"Regex\": ...}");
  }
  std::optional<SplitPattern> known = SplitPatternFromRegex(regex->get_ref<const std::string&>());
  if (!known.has_value()) {
    return reader.Error(absl::StrCat(field, ".pattern.Regex"),
                        "is not a pattern rattn implements (GPT-2, Llama 3 or Qwen2)");
  }
  RATTN_ASSIGN_OR_RETURN(std::string behavior,
                         reader.String(split, "behavior", absl::StrCat(field, ".behavior")));
  if (behavior != "Isolated") {
    return reader.Error(absl::StrCat(field, ".behavior"),
                        absl::StrCat("is \"", behavior, "\"; only \"Isolated\" is supported"));
  }
  RATTN_RETURN_IF_ERROR(reader.Unset(split, "invert", absl::StrCat(field, ".invert")));
  out->splits.push_back(*known);
  return absl::OkStatus();
}

absl::Status ReadPreTokenizer(const Reader& reader, const json& root, TokenizerJson* out) {
  const json* pre = Reader::Find(root, "pre_tokenizer");
  if (pre == nullptr) {
    return reader.Error("pre_tokenizer", "is missing; a byte-level BPE tokenizer needs ByteLevel");
  }
  RATTN_ASSIGN_OR_RETURN(std::string type, reader.String(*pre, "type", "pre_tokenizer.type"));
  if (type == "ByteLevel") return ReadByteLevel(reader, *pre, "pre_tokenizer", out);
  if (type != "Sequence") {
    return reader.Error("pre_tokenizer.type",
                        absl::StrCat("is \"", type, "\"; only ByteLevel or Sequence is supported"));
  }
  const json* steps = Reader::Find(*pre, "pretokenizers");
  if (steps == nullptr || !steps->is_array() || steps->empty()) {
    return reader.Error("pre_tokenizer.pretokenizers", "must be a non-empty array");
  }
  for (size_t i = 0; i < steps->size(); ++i) {
    const std::string field = absl::StrCat("pre_tokenizer.pretokenizers[", i, "]");
    RATTN_ASSIGN_OR_RETURN(std::string step_type,
                           reader.String((*steps)[i], "type", absl::StrCat(field, ".type")));
    const bool last = i + 1 == steps->size();
    if (step_type == "Split" && !last) {
      RATTN_RETURN_IF_ERROR(ReadSplit(reader, (*steps)[i], field, out));
    } else if (step_type == "ByteLevel" && last) {
      RATTN_RETURN_IF_ERROR(ReadByteLevel(reader, (*steps)[i], field, out));
    } else {
      return reader.Error(absl::StrCat(field, ".type"),
                          absl::StrCat("is \"", step_type,
                                       "\"; a Sequence must be Split steps then one ByteLevel"));
    }
  }
  return absl::OkStatus();
}

// Text must reach the model unchanged: no normalizer, or an empty Sequence of them.
absl::Status CheckNormalizer(const Reader& reader, const json& root) {
  const json* normalizer = Reader::Find(root, "normalizer");
  if (normalizer == nullptr) return absl::OkStatus();
  const json* steps = Reader::Find(*normalizer, "normalizers");
  const json* type = Reader::Find(*normalizer, "type");
  if (type != nullptr && *type == "Sequence" && steps != nullptr && steps->is_array() &&
      steps->empty()) {
    return absl::OkStatus();
  }
  return reader.Error("normalizer", absl::StrCat("is ", normalizer->dump().substr(0, 200),
                                                 "; rattn supports only null (text unchanged)"));
}

absl::Status CheckDecoder(const Reader& reader, const json& root) {
  const json* decoder = Reader::Find(root, "decoder");
  if (decoder == nullptr) return absl::OkStatus();
  RATTN_ASSIGN_OR_RETURN(std::string type, reader.String(*decoder, "type", "decoder.type"));
  if (type != "ByteLevel") {
    return reader.Error("decoder.type",
                        absl::StrCat("is \"", type, "\"; only ByteLevel (or null) is supported"));
  }
  return absl::OkStatus();
}

absl::Status ReadModel(const Reader& reader, const json& root, TokenizerJson* out) {
  const json* model = Reader::Find(root, "model");
  if (model == nullptr || !model->is_object()) return reader.Error("model", "must be an object");
  RATTN_ASSIGN_OR_RETURN(std::string type, reader.String(*model, "type", "model.type"));
  if (type != "BPE") {
    return reader.Error("model.type", absl::StrCat("is \"", type, "\"; only \"BPE\" is supported"));
  }
  for (const char* key :
       {"dropout", "continuing_subword_prefix", "end_of_word_suffix", "byte_fallback"}) {
    RATTN_RETURN_IF_ERROR(reader.Unset(*model, key, absl::StrCat("model.", key)));
  }
  RATTN_ASSIGN_OR_RETURN(out->ignore_merges,
                         reader.Bool(*model, "ignore_merges", "model.ignore_merges", false));

  const json* vocab = Reader::Find(*model, "vocab");
  if (vocab == nullptr || !vocab->is_object()) {
    return reader.Error("model.vocab", "must be an object mapping tokens to ids");
  }
  out->vocab.reserve(vocab->size());
  for (const auto& [symbols, id] : vocab->items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0) {
      return reader.Error(absl::StrCat("model.vocab[\"", symbols, "\"]"),
                          "must be a non-negative integer id");
    }
    out->vocab.emplace_back(symbols, id.get<int64_t>());
  }

  const json* merges = Reader::Find(*model, "merges");
  if (merges == nullptr || !merges->is_array()) {
    return reader.Error("model.merges", "must be an array");
  }
  out->merges.reserve(merges->size());
  for (size_t i = 0; i < merges->size(); ++i) {
    const json& merge = (*merges)[i];
    if (merge.is_string()) {
      const std::string& line = merge.get_ref<const std::string&>();
      const size_t space = line.find(' ');
      if (space == std::string::npos || line.find(' ', space + 1) != std::string::npos) {
        return reader.Error(absl::StrCat("model.merges[", i, "]"),
                            absl::StrCat("\"", line, "\" is not two tokens joined by a space"));
      }
      out->merges.emplace_back(line.substr(0, space), line.substr(space + 1));
    } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() &&
               merge[1].is_string()) {
      out->merges.emplace_back(merge[0].get<std::string>(), merge[1].get<std::string>());
    } else {
      return reader.Error(absl::StrCat("model.merges[", i, "]"),
                          "must be \"a b\" or [\"a\", \"b\"]");
    }
  }
  return absl::OkStatus();
}

absl::Status ReadAddedTokens(const Reader& reader, const json& root, TokenizerJson* out) {
  const json* added = Reader::Find(root, "added_tokens");
  if (added == nullptr) return absl::OkStatus();
  if (!added->is_array()) return reader.Error("added_tokens", "must be an array");
  for (size_t i = 0; i < added->size(); ++i) {
    const json& token = (*added)[i];
    const std::string field = absl::StrCat("added_tokens[", i, "]");
    AddedTokenSpec spec;
    const json* id = Reader::Find(token, "id");
    if (id == nullptr || !id->is_number_integer() || id->get<int64_t>() < 0) {
      return reader.Error(absl::StrCat(field, ".id"), "must be a non-negative integer");
    }
    spec.id = id->get<int64_t>();
    RATTN_ASSIGN_OR_RETURN(spec.content,
                           reader.String(token, "content", absl::StrCat(field, ".content")));
    if (spec.content.empty()) return reader.Error(absl::StrCat(field, ".content"), "is empty");
    RATTN_ASSIGN_OR_RETURN(spec.special,
                           reader.Bool(token, "special", absl::StrCat(field, ".special"), false));
    for (const char* key : {"single_word", "lstrip", "rstrip"}) {
      RATTN_RETURN_IF_ERROR(reader.Unset(token, key, absl::StrCat(field, ".", key)));
    }
    out->added_tokens.push_back(std::move(spec));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<TokenizerJson> ParseTokenizerJson(absl::string_view text, absl::string_view what) {
  RATTN_ASSIGN_OR_RETURN(json root, ParseJsonStrict(text, what));
  const Reader reader(what);
  if (!root.is_object()) return reader.Error("the top level", "must be an object");

  TokenizerJson out;
  RATTN_RETURN_IF_ERROR(CheckNormalizer(reader, root));
  RATTN_RETURN_IF_ERROR(ReadPreTokenizer(reader, root, &out));
  RATTN_RETURN_IF_ERROR(CheckDecoder(reader, root));
  RATTN_RETURN_IF_ERROR(ReadModel(reader, root, &out));
  RATTN_RETURN_IF_ERROR(ReadAddedTokens(reader, root, &out));
  return out;
}

}  // namespace rattn::engine
