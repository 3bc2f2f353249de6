// A thin wrapper that keeps <sentencepiece_processor.h> inside one translation unit. That header
// declares `absl::string_view` as an alias of std::string_view, which collides with Abseil's own
// absl::string_view class (Abseil 20220623 does not use std::string_view), so no file that
// includes an Abseil header may include it. This wrapper's interface uses only the standard
// library; SentencePieceTokenizer turns its results into absl::Status.
#ifndef RATTN_ENGINE_TOKENIZER_INTERNAL_SENTENCEPIECE_MODEL_H_
#define RATTN_ENGINE_TOKENIZER_INTERNAL_SENTENCEPIECE_MODEL_H_

#include <memory>
#include <string>
#include <vector>

namespace sentencepiece {
class SentencePieceProcessor;
}  // namespace sentencepiece

namespace rattn::engine::internal {

// A loaded SentencePiece model. Immutable after Load; safe to use from several threads.
class SentencePieceModel {
 public:
  // The model in the file at `path`, or nullptr with the library's reason in `*error`.
  static std::unique_ptr<SentencePieceModel> Load(const std::string& path, std::string* error);

  ~SentencePieceModel();
  SentencePieceModel(const SentencePieceModel&) = delete;
  SentencePieceModel& operator=(const SentencePieceModel&) = delete;

  // Encodes `text` (well-formed UTF-8) into `*ids`; false with the reason in `*error`.
  bool Encode(const std::string& text, std::vector<int>* ids, std::string* error) const;

  int piece_count() const;
  // The piece of an id in [0, piece_count()).
  const std::string& Piece(int id) const;
  bool IsControl(int id) const;
  bool IsUnknown(int id) const;
  bool IsByte(int id) const;
  // -1 when the model has none.
  int bos_id() const;
  int eos_id() const;

 private:
  explicit SentencePieceModel(std::unique_ptr<sentencepiece::SentencePieceProcessor> processor);

  std::unique_ptr<sentencepiece::SentencePieceProcessor> processor_;
};

}  // namespace rattn::engine::internal

#endif  // RATTN_ENGINE_TOKENIZER_INTERNAL_SENTENCEPIECE_MODEL_H_
