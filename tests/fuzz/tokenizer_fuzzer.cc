// Fuzzes the tokenizers. The first byte picks what the rest of the input is:
//   0  text for a fixed byte-level BPE tokenizer: encoding, then decoding, gives the text back
//   1  a tokenizer.json: loaded, and when accepted, encodes text to ids inside its vocabulary
//   2  text for the byte tokenizer: encoding, then decoding, gives the text back
//   3  token ids (two bytes each, some beyond the vocabulary) streamed through the incremental
//      detokenizer of the BPE tokenizer: the pieces are always well-formed UTF-8
//   4  the same with the byte tokenizer
#include <memory>
#include <string>
#include <vector>

#include "engine/tokenizer/bpe_tokenizer.h"
#include "engine/tokenizer/byte_level.h"
#include "engine/tokenizer/byte_tokenizer.h"
#include "engine/tokenizer/incremental_detokenizer.h"
#include "engine/tokenizer/tokenizer.h"
#include "nlohmann/json.hpp"
#include "tests/fuzz/fuzz_target.h"

namespace {

using rattn::engine::Tokenizer;

// GPT-2's byte alphabet with a few merges and a non-special added token, so that every text
// encodes and decodes back exactly.
const Tokenizer& Bpe() {
  static const Tokenizer* tokenizer = [] {
    const rattn::engine::ByteLevelAlphabet alphabet;
    nlohmann::json vocab = nlohmann::json::object();
    for (int b = 0; b < 256; ++b) vocab[alphabet.Symbol(static_cast<uint8_t>(b))] = b;
    const std::vector<std::pair<std::string, std::string>> merges = {
        {"\xC4\xA0", "t"}, {"h", "e"}, {"\xC4\xA0t", "he"}, {"a", "t"}, {"1", "2"}, {"12", "3"}};
    nlohmann::json merge_list = nlohmann::json::array();
    int next = 256;
    for (const auto& [left, right] : merges) {
      vocab[left + right] = next++;
      merge_list.push_back(left + " " + right);
    }
    const nlohmann::json json = {
        {"added_tokens", {{{"id", next}, {"content", "<tool>"}, {"special", false}}}},
        {"pre_tokenizer",
         {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}},
        {"decoder", {{"type", "ByteLevel"}}},
        {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", merge_list}}},
    };
    auto made = rattn::engine::BpeTokenizer::FromJson(json.dump(), "fuzz tokenizer.json", {});
    if (!made.ok()) std::abort();
    return made->release();
  }();
  return *tokenizer;
}

const Tokenizer& Bytes() {
  static const Tokenizer* tokenizer = [] {
    auto made = rattn::engine::ByteTokenizer::Create(259);
    if (!made.ok()) std::abort();
    return made->release();
  }();
  return *tokenizer;
}

// Encodes `text`; when it is accepted (well-formed UTF-8), the ids lie in the vocabulary and
// their bytes are the text again.
void RoundTrip(const Tokenizer& tokenizer, const std::string& text) {
  auto ids = tokenizer.Encode(text, /*add_bos=*/false);
  RATTN_FUZZ_CHECK(ids.ok() == rattn::engine::CheckUtf8(text).ok());
  if (!ids.ok()) return;
  std::string decoded;
  for (int32_t id : *ids) {
    RATTN_FUZZ_CHECK(id >= 0 && id < tokenizer.vocab_size());
    decoded += tokenizer.TokenBytes(id);
  }
  RATTN_FUZZ_CHECK(decoded == text);
}

void Stream(const Tokenizer& tokenizer, const uint8_t* data, size_t size) {
  rattn::engine::IncrementalDetokenizer detokenizer(tokenizer);
  std::string text;
  for (size_t i = 0; i + 1 < size; i += 2) {
    const int32_t id =
        static_cast<int32_t>((data[i] << 8 | data[i + 1]) % (tokenizer.vocab_size() + 16)) - 8;
    const std::string piece = detokenizer.Append(id);
    RATTN_FUZZ_CHECK(rattn::engine::CheckUtf8(piece).ok());
    text += piece;
  }
  text += detokenizer.Flush();
  RATTN_FUZZ_CHECK(rattn::engine::CheckUtf8(text).ok());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 5) {
    case 0:
      RoundTrip(Bpe(), rest);
      break;
    case 1: {
      auto tokenizer = rattn::engine::BpeTokenizer::FromJson(rest, "tokenizer.json", {});
      if (!tokenizer.ok()) {
        RATTN_FUZZ_CHECK(!tokenizer.status().message().empty());
        break;
      }
      for (const char* text : {"", "hello world", "caf\xC3\xA9 123 <tool>!", "\xF0\x9F\x98\x80"}) {
        auto ids = (*tokenizer)->Encode(text, /*add_bos=*/true);
        RATTN_FUZZ_CHECK(ids.ok());
        for (int32_t id : *ids) RATTN_FUZZ_CHECK(id >= 0 && id < (*tokenizer)->vocab_size());
      }
      break;
    }
    case 2:
      RoundTrip(Bytes(), rest);
      break;
    case 3:
      Stream(Bpe(), data + 1, size - 1);
      break;
    case 4:
      Stream(Bytes(), data + 1, size - 1);
      break;
  }
  return 0;
}
