// A SentencePiece model behind an interface that uses only the standard library.
//
// Debian's libsentencepiece carries its own copy of protobuf-lite and exports its symbols.
// Loaded into a process that also links libprotobuf (the server does, for gRPC), the two copies
// interpose on each other and the process crashes while registering its descriptors. So
// libsentencepiece is never linked into rattn's binaries: the implementation of this interface
// lives in a small module (sentencepiece_module.cc, built as librattn_sentencepiece.so) that
// Load() opens with dlopen, keeping its symbols local and binding the library to its own copy
// first. The module also keeps <sentencepiece_processor.h> away from Abseil: that header makes
// absl::string_view an alias of std::string_view, which collides with Abseil 20220623's class.
#ifndef RATTN_ENGINE_TOKENIZER_INTERNAL_SENTENCEPIECE_MODEL_H_
#define RATTN_ENGINE_TOKENIZER_INTERNAL_SENTENCEPIECE_MODEL_H_

#include <memory>
#include <string>
#include <vector>

namespace rattn::engine::internal {

// A loaded SentencePiece model. Immutable after Load; safe to use from several threads.
class SentencePieceModel {
 public:
  // The model in the file at `path`, or nullptr with the reason in `*error` (the library's, or
  // why the module could not be opened).
  static std::unique_ptr<SentencePieceModel> Load(const std::string& path, std::string* error);

  virtual ~SentencePieceModel() = default;

  // Encodes `text` (well-formed UTF-8) into `*ids`; false with the reason in `*error`.
  virtual bool Encode(const std::string& text, std::vector<int>* ids, std::string* error) const = 0;

  virtual int piece_count() const = 0;
  // The piece of an id in [0, piece_count()).
  virtual const std::string& Piece(int id) const = 0;
  virtual bool IsControl(int id) const = 0;
  virtual bool IsUnknown(int id) const = 0;
  virtual bool IsByte(int id) const = 0;
  // -1 when the model has none.
  virtual int bos_id() const = 0;
  virtual int eos_id() const = 0;
};

// The module's one entry point, looked up by name: a new model, or nullptr with `*error` set.
using LoadSentencePieceModelFn = SentencePieceModel* (*)(const char* path, std::string* error);
inline constexpr char kLoadSentencePieceModelSymbol[] = "RattnLoadSentencePieceModel";

}  // namespace rattn::engine::internal

#endif  // RATTN_ENGINE_TOKENIZER_INTERNAL_SENTENCEPIECE_MODEL_H_
