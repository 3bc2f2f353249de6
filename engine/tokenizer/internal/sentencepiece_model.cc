// Opens librattn_sentencepiece.so and loads models through it; see sentencepiece_model.h.
#include "engine/tokenizer/internal/sentencepiece_model.h"

#include <dlfcn.h>
#include <unistd.h>

#include <filesystem>
#include <mutex>

namespace rattn::engine::internal {
namespace {

constexpr char kModuleName[] = "librattn_sentencepiece.so";

// Where the module may be: beside the running program, in ../lib/rattn from it (an install),
// and where the build put it.
std::vector<std::string> ModuleCandidates() {
  std::vector<std::string> candidates;
  std::error_code error;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", error);
  if (!error) {
    candidates.push_back((exe.parent_path() / kModuleName).string());
    candidates.push_back(
        (exe.parent_path().parent_path() / "lib" / "rattn" / kModuleName).string());
  }
#ifdef RATTN_SENTENCEPIECE_MODULE_PATH
  candidates.push_back(RATTN_SENTENCEPIECE_MODULE_PATH);
#endif
  return candidates;
}

int OpenFlags() {
  // RTLD_DEEPBIND binds libsentencepiece to its own protobuf copy first. AddressSanitizer does
  // not support it; sanitized builds load the module without it, which is safe as long as the
  // process does not also hold libprotobuf (the tokenizer tests do not).
#if defined(__SANITIZE_ADDRESS__)
  return RTLD_NOW | RTLD_LOCAL;
#else
  return RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND;
#endif
}

// The module's entry point, opened once per process; null with `*error` set on failure.
LoadSentencePieceModelFn LoadFunction(std::string* error) {
  static std::once_flag once;
  static LoadSentencePieceModelFn function = nullptr;
  static std::string open_error;
  std::call_once(once, [] {
    std::string tried;
    for (const std::string& candidate : ModuleCandidates()) {
      if (access(candidate.c_str(), R_OK) != 0) {
        tried += " " + candidate;
        continue;
      }
      void* handle = dlopen(candidate.c_str(), OpenFlags());
      if (handle == nullptr) {
        open_error = std::string("cannot open ") + candidate + ": " + dlerror();
        return;
      }
      function =
          reinterpret_cast<LoadSentencePieceModelFn>(dlsym(handle, kLoadSentencePieceModelSymbol));
      if (function == nullptr) open_error = candidate + " lacks its entry point";
      return;
    }
    open_error =
        std::string("SentencePiece support (") + kModuleName + ") not found; looked at" + tried;
  });
  if (function == nullptr) *error = open_error;
  return function;
}

}  // namespace

std::unique_ptr<SentencePieceModel> SentencePieceModel::Load(const std::string& path,
                                                             std::string* error) {
  LoadSentencePieceModelFn load = LoadFunction(error);
  if (load == nullptr) return nullptr;
  return std::unique_ptr<SentencePieceModel>(load(path.c_str(), error));
}

}  // namespace rattn::engine::internal
