// The SentencePiece tokenizer; see sentencepiece_tokenizer.h.
#include "engine/tokenizer/sentencepiece_tokenizer.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "engine/util/status_macros.h"

namespace rattn::engine {
namespace {

// U+2581 LOWER ONE EIGHTH BLOCK, which SentencePiece writes for a space.
constexpr absl::string_view kWordBoundary = "\xE2\x96\x81";
// What SentencePiece's decoder writes for the unknown piece: U+2047 between two spaces.
constexpr absl::string_view kUnknownText = " \xE2\x81\x87 ";

// The byte a byte-fallback piece such as "<0x0A>" stands for.
absl::StatusOr<char> ParseBytePiece(absl::string_view piece) {
  int value = 0;
  if (piece.size() != 6 || !absl::StartsWith(piece, "<0x") || piece.back() != '>' ||
      !absl::SimpleHexAtoi(piece.substr(3, 2), &value)) {
    return absl::InvalidArgumentError(
        absl::StrCat("byte piece '", piece, "' is not of the form <0xAB>"));
  }
  return static_cast<char>(value);
}

}  // namespace

absl::StatusOr<std::unique_ptr<SentencePieceTokenizer>> SentencePieceTokenizer::Load(
    const std::string& path) {
  std::string error;
  std::unique_ptr<internal::SentencePieceModel> model =
      internal::SentencePieceModel::Load(path, &error);
  if (model == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": not a SentencePiece model (", error, ")"));
  }

  std::vector<std::string> token_bytes(model->piece_count());
  std::vector<bool> drops_leading_space(model->piece_count(), false);
  for (int id = 0; id < model->piece_count(); ++id) {
    const std::string& piece = model->Piece(id);
    if (model->IsControl(id)) continue;
    if (model->IsUnknown(id)) {
      token_bytes[id] = std::string(kUnknownText);
    } else if (model->IsByte(id)) {
      absl::StatusOr<char> byte = ParseBytePiece(piece);
      if (!byte.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(path, ": ", byte.status().message()));
      }
      token_bytes[id] = std::string(1, *byte);
    } else {
      token_bytes[id] = absl::StrReplaceAll(piece, {{kWordBoundary, " "}});
      drops_leading_space[id] = absl::StartsWith(piece, kWordBoundary);
    }
  }
  return std::unique_ptr<SentencePieceTokenizer>(new SentencePieceTokenizer(
      std::move(model), std::move(token_bytes), std::move(drops_leading_space)));
}

SentencePieceTokenizer::SentencePieceTokenizer(std::unique_ptr<internal::SentencePieceModel> model,
                                               std::vector<std::string> token_bytes,
                                               std::vector<bool> drops_leading_space)
    : model_(std::move(model)),
      token_bytes_(std::move(token_bytes)),
      drops_leading_space_(std::move(drops_leading_space)) {
  if (model_->bos_id() >= 0) bos_token_ = model_->bos_id();
  if (model_->eos_id() >= 0) eos_token_ = model_->eos_id();
}

absl::StatusOr<std::vector<int32_t>> SentencePieceTokenizer::Encode(absl::string_view text,
                                                                    bool add_bos) const {
  RATTN_RETURN_IF_ERROR(CheckUtf8(text));
  std::vector<int> pieces;
  std::string error;
  if (!model_->Encode(std::string(text), &pieces, &error)) {
    return absl::InternalError(absl::StrCat("SentencePiece could not encode the text: ", error));
  }
  std::vector<int32_t> ids;
  ids.reserve(pieces.size() + 1);
  if (add_bos && bos_token_.has_value()) ids.push_back(*bos_token_);
  ids.insert(ids.end(), pieces.begin(), pieces.end());
  return ids;
}

std::string SentencePieceTokenizer::TokenBytes(int32_t token) const {
  if (token < 0 || token >= vocab_size()) return "";
  return token_bytes_[token];
}

std::string SentencePieceTokenizer::TokenBytesAtTextStart(int32_t token) const {
  if (token < 0 || token >= vocab_size()) return "";
  if (drops_leading_space_[token]) return token_bytes_[token].substr(1);
  return token_bytes_[token];
}

}  // namespace rattn::engine
