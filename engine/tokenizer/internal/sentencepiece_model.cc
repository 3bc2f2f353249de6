// The SentencePiece wrapper; see sentencepiece_model.h for why this file includes no Abseil
// header.
#include "engine/tokenizer/internal/sentencepiece_model.h"

#include <sentencepiece_processor.h>

namespace rattn::engine::internal {

std::unique_ptr<SentencePieceModel> SentencePieceModel::Load(const std::string& path,
                                                             std::string* error) {
  auto processor = std::make_unique<sentencepiece::SentencePieceProcessor>();
  const sentencepiece::util::Status status = processor->Load(path);
  if (!status.ok()) {
    *error = status.ToString();
    return nullptr;
  }
  return std::unique_ptr<SentencePieceModel>(new SentencePieceModel(std::move(processor)));
}

SentencePieceModel::SentencePieceModel(
    std::unique_ptr<sentencepiece::SentencePieceProcessor> processor)
    : processor_(std::move(processor)) {}

SentencePieceModel::~SentencePieceModel() = default;

bool SentencePieceModel::Encode(const std::string& text, std::vector<int>* ids,
                                std::string* error) const {
  const sentencepiece::util::Status status = processor_->Encode(text, ids);
  if (!status.ok()) {
    *error = status.ToString();
    return false;
  }
  return true;
}

int SentencePieceModel::piece_count() const { return processor_->GetPieceSize(); }

const std::string& SentencePieceModel::Piece(int id) const { return processor_->IdToPiece(id); }

bool SentencePieceModel::IsControl(int id) const { return processor_->IsControl(id); }

bool SentencePieceModel::IsUnknown(int id) const { return processor_->IsUnknown(id); }

bool SentencePieceModel::IsByte(int id) const { return processor_->IsByte(id); }

int SentencePieceModel::bos_id() const { return processor_->bos_id(); }

int SentencePieceModel::eos_id() const { return processor_->eos_id(); }

}  // namespace rattn::engine::internal
