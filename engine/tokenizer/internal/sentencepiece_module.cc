// librattn_sentencepiece.so: the SentencePieceModel implementation over libsentencepiece, opened
// at run time by SentencePieceModel::Load (see sentencepiece_model.h for why). No Abseil header
// may be included here.
#include <sentencepiece_processor.h>

#include "engine/tokenizer/internal/sentencepiece_model.h"

namespace rattn::engine::internal {
namespace {

class LibrarySentencePieceModel final : public SentencePieceModel {
 public:
  bool Load(const std::string& path, std::string* error) {
    const sentencepiece::util::Status status = processor_.Load(path);
    if (!status.ok()) *error = status.ToString();
    return status.ok();
  }

  bool Encode(const std::string& text, std::vector<int>* ids, std::string* error) const override {
    const sentencepiece::util::Status status = processor_.Encode(text, ids);
    if (!status.ok()) {
      *error = status.ToString();
      return false;
    }
    return true;
  }

  int piece_count() const override { return processor_.GetPieceSize(); }
  const std::string& Piece(int id) const override { return processor_.IdToPiece(id); }
  bool IsControl(int id) const override { return processor_.IsControl(id); }
  bool IsUnknown(int id) const override { return processor_.IsUnknown(id); }
  bool IsByte(int id) const override { return processor_.IsByte(id); }
  int bos_id() const override { return processor_.bos_id(); }
  int eos_id() const override { return processor_.eos_id(); }

 private:
  sentencepiece::SentencePieceProcessor processor_;
};

}  // namespace
}  // namespace rattn::engine::internal

extern "C" __attribute__((visibility("default"))) rattn::engine::internal::SentencePieceModel*
RattnLoadSentencePieceModel(const char* path, std::string* error) {
  auto model = std::make_unique<rattn::engine::internal::LibrarySentencePieceModel>();
  if (!model->Load(path, error)) return nullptr;
  return model.release();
}
