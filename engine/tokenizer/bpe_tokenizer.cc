// The byte-level BPE tokenizer; see bpe_tokenizer.h.
#include "engine/tokenizer/bpe_tokenizer.h"

#include <algorithm>
#include <queue>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/util/status_macros.h"

namespace rattn::engine {
namespace {

// Ids at or above this are refused: no released vocabulary comes near it, and TokenBytes keeps a
// table entry per id.
constexpr int64_t kMaxTokens = int64_t{1} << 22;

// A possible merge of the symbol at `left` with the one after it, queued by rank then position.
// It is stale, and skipped, when either symbol has changed since it was queued.
struct Candidate {
  int32_t rank;
  int32_t left;  // index of the left symbol (its first byte's offset in the piece)
  int32_t left_token;
  int32_t right_token;
  int32_t merged;

  bool operator>(const Candidate& other) const {
    return rank != other.rank ? rank > other.rank : left > other.left;
  }
};

// One symbol of a piece being merged, in a doubly linked list over the piece's bytes.
struct Symbol {
  int32_t token;  // -1 once merged into the symbol before it
  int32_t prev;
  int32_t next;  // -1 at either end
};

}  // namespace

absl::StatusOr<std::unique_ptr<BpeTokenizer>> BpeTokenizer::FromJson(absl::string_view json_text,
                                                                     absl::string_view what,
                                                                     const Options& options) {
  RATTN_ASSIGN_OR_RETURN(TokenizerJson spec, ParseTokenizerJson(json_text, what));
  auto tokenizer = std::unique_ptr<BpeTokenizer>(new BpeTokenizer());
  RATTN_RETURN_IF_ERROR(tokenizer->Build(std::move(spec), what));

  auto resolve = [&](const std::string& content, absl::string_view name,
                     std::optional<int32_t>* token) -> absl::Status {
    if (content.empty()) return absl::OkStatus();
    *token = tokenizer->TokenId(content);
    if (!token->has_value()) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": the ", name, " '", content,
                                                     "' is neither an added token nor in "
                                                     "model.vocab"));
    }
    return absl::OkStatus();
  };
  RATTN_RETURN_IF_ERROR(resolve(options.bos_token, "bos_token", &tokenizer->bos_token_));
  RATTN_RETURN_IF_ERROR(resolve(options.eos_token, "eos_token", &tokenizer->eos_token_));
  return tokenizer;
}

absl::Status BpeTokenizer::Build(TokenizerJson spec, absl::string_view what) {
  auto error = [&](absl::string_view problem) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": ", problem));
  };
  splits_ = std::move(spec.splits);
  ignore_merges_ = spec.ignore_merges;

  int64_t max_id = -1;
  for (const auto& [symbols, id] : spec.vocab) max_id = std::max(max_id, id);
  for (const AddedTokenSpec& added : spec.added_tokens) max_id = std::max(max_id, added.id);
  if (max_id < 0) return error("model.vocab is empty");
  if (max_id >= kMaxTokens) {
    return error(absl::StrCat("token id ", max_id, " is beyond the largest supported (",
                              kMaxTokens - 1, ")"));
  }
  token_bytes_.assign(max_id + 1, "");

  // The vocabulary text of each id, to report collisions.
  std::vector<const std::string*> vocab_text(max_id + 1, nullptr);
  vocab_.reserve(spec.vocab.size());
  for (const auto& [symbols, id] : spec.vocab) {
    if (vocab_text[id] != nullptr) {
      return error(absl::StrCat("model.vocab gives id ", id, " to both \"", *vocab_text[id],
                                "\" and \"", symbols, "\""));
    }
    vocab_text[id] = &symbols;
    vocab_.emplace(symbols, static_cast<int32_t>(id));
    token_bytes_[id] = alphabet_.ToBytes(symbols).value_or(symbols);
  }

  for (int byte = 0; byte < 256; ++byte) {
    auto it = vocab_.find(alphabet_.Symbol(byte));
    if (it == vocab_.end()) {
      return error(absl::StrFormat(
          "model.vocab has no token for byte 0x%02X (\"%s\"); byte-level BPE needs all 256", byte,
          alphabet_.Symbol(byte)));
    }
    byte_tokens_[byte] = it->second;
  }

  merges_.reserve(spec.merges.size());
  for (size_t rank = 0; rank < spec.merges.size(); ++rank) {
    const auto& [left, right] = spec.merges[rank];
    const std::string field = absl::StrCat("model.merges[", rank, "] (\"", left, " ", right, "\")");
    auto left_it = vocab_.find(left);
    auto right_it = vocab_.find(right);
    auto merged_it = vocab_.find(absl::StrCat(left, right));
    if (left_it == vocab_.end() || right_it == vocab_.end()) {
      return error(absl::StrCat(field, " names a token that is not in model.vocab"));
    }
    if (merged_it == vocab_.end()) {
      return error(absl::StrCat(field, " makes a token that is not in model.vocab"));
    }
    const MergeRule rule{static_cast<int32_t>(rank), merged_it->second};
    if (!merges_.emplace(PairKey(left_it->second, right_it->second), rule).second) {
      return error(absl::StrCat(field, " repeats an earlier merge"));
    }
  }

  for (size_t i = 0; i < spec.added_tokens.size(); ++i) {
    AddedTokenSpec& added = spec.added_tokens[i];
    const std::string field = absl::StrCat("added_tokens[", i, "] (\"", added.content, "\")");
    if (vocab_text[added.id] != nullptr &&
        *vocab_text[added.id] != alphabet_.ToSymbols(added.content)) {
      return error(absl::StrCat(field, " has id ", added.id, ", which model.vocab gives to \"",
                                *vocab_text[added.id], "\""));
    }
    for (const AddedToken& earlier : added_tokens_) {
      if (earlier.id == added.id || earlier.content == added.content) {
        return error(absl::StrCat(field, " repeats the id or content of an earlier added token"));
      }
    }
    token_bytes_[added.id] = added.special ? "" : added.content;
    added_tokens_.push_back({std::move(added.content), static_cast<int32_t>(added.id)});
  }
  for (size_t i = 0; i < added_tokens_.size(); ++i) {
    added_by_first_byte_[static_cast<uint8_t>(added_tokens_[i].content[0])].push_back(
        static_cast<int32_t>(i));
  }
  for (std::vector<int32_t>& candidates : added_by_first_byte_) {
    std::stable_sort(candidates.begin(), candidates.end(), [&](int32_t a, int32_t b) {
      return added_tokens_[a].content.size() > added_tokens_[b].content.size();
    });
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<int32_t>> BpeTokenizer::Encode(absl::string_view text,
                                                          bool add_bos) const {
  RATTN_RETURN_IF_ERROR(CheckUtf8(text));
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 2);
  if (add_bos && bos_token_.has_value()) ids.push_back(*bos_token_);

  size_t segment_start = 0;
  size_t offset = 0;
  while (offset < text.size()) {
    const AddedToken* added = MatchAddedToken(text.substr(offset));
    if (added == nullptr) {
      ++offset;
      continue;
    }
    EncodeSegment(text.substr(segment_start, offset - segment_start), &ids);
    ids.push_back(added->id);
    offset += added->content.size();
    segment_start = offset;
  }
  EncodeSegment(text.substr(segment_start), &ids);
  return ids;
}

std::string BpeTokenizer::TokenBytes(int32_t token) const {
  if (token < 0 || token >= vocab_size()) return "";
  return token_bytes_[token];
}

std::optional<int32_t> BpeTokenizer::TokenId(absl::string_view content) const {
  for (const AddedToken& added : added_tokens_) {
    if (added.content == content) return added.id;
  }
  auto it = vocab_.find(alphabet_.ToSymbols(content));
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const BpeTokenizer::AddedToken* BpeTokenizer::MatchAddedToken(absl::string_view text) const {
  for (int32_t index : added_by_first_byte_[static_cast<uint8_t>(text[0])]) {
    if (absl::StartsWith(text, added_tokens_[index].content)) return &added_tokens_[index];
  }
  return nullptr;
}

void BpeTokenizer::EncodeSegment(absl::string_view text, std::vector<int32_t>* ids) const {
  if (text.empty()) return;
  std::vector<absl::string_view> pieces = {text};
  for (SplitPattern pattern : splits_) {
    std::vector<absl::string_view> finer;
    for (absl::string_view piece : pieces) {
      std::vector<absl::string_view> parts = SplitWithPattern(piece, pattern);
      finer.insert(finer.end(), parts.begin(), parts.end());
    }
    pieces = std::move(finer);
  }
  for (absl::string_view piece : pieces) EncodePiece(piece, ids);
}

const BpeTokenizer::MergeRule* BpeTokenizer::FindMerge(int32_t left, int32_t right) const {
  auto it = merges_.find(PairKey(left, right));
  return it == merges_.end() ? nullptr : &it->second;
}

void BpeTokenizer::EncodePiece(absl::string_view bytes, std::vector<int32_t>* ids) const {
  if (bytes.empty()) return;
  if (ignore_merges_) {
    auto it = vocab_.find(alphabet_.ToSymbols(bytes));
    if (it != vocab_.end()) {
      ids->push_back(it->second);
      return;
    }
  }

  const auto size = static_cast<int32_t>(bytes.size());
  std::vector<Symbol> symbols(size);
  for (int32_t i = 0; i < size; ++i) {
    symbols[i] = {byte_tokens_[static_cast<uint8_t>(bytes[i])], i - 1, i + 1 < size ? i + 1 : -1};
  }
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> queue;
  auto consider = [&](int32_t left) {
    const int32_t right = symbols[left].next;
    if (right < 0) return;
    if (const MergeRule* rule = FindMerge(symbols[left].token, symbols[right].token)) {
      queue.push({rule->rank, left, symbols[left].token, symbols[right].token, rule->merged});
    }
  };
  for (int32_t i = 0; i + 1 < size; ++i) consider(i);

  while (!queue.empty()) {
    const Candidate candidate = queue.top();
    queue.pop();
    Symbol& left = symbols[candidate.left];
    if (left.token != candidate.left_token || left.next < 0 ||
        symbols[left.next].token != candidate.right_token) {
      continue;
    }
    // A symbol's text only grows, so its id never returns to an earlier value: matching ids
    // mean the pair is the one that was queued.
    Symbol& right = symbols[left.next];
    left.token = candidate.merged;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = candidate.left;
    right.token = -1;
    if (left.prev >= 0) consider(left.prev);
    consider(candidate.left);
  }
  for (int32_t i = 0; i >= 0; i = symbols[i].next) ids->push_back(symbols[i].token);
}

}  // namespace rattn::engine
