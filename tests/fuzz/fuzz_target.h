// The entry point every fuzz target defines, and helpers they share. A target is built either
// with libFuzzer (the `fuzz` preset, clang) or with replay_main.cc, which runs saved inputs as
// regression tests in every build.
#ifndef RATTN_TESTS_FUZZ_FUZZ_TARGET_H_
#define RATTN_TESTS_FUZZ_FUZZ_TARGET_H_

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "engine/util/logging.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

// A property a target checks on every input; a failure aborts, which both libFuzzer and the
// replay driver report as a crash with the input kept.
#define RATTN_FUZZ_CHECK(condition)                                                           \
  do {                                                                                        \
    if (!(condition)) {                                                                       \
      std::fprintf(stderr, "%s:%d: fuzz check failed: %s\n", __FILE__, __LINE__, #condition); \
      std::abort();                                                                           \
    }                                                                                         \
  } while (0)

namespace rattn::fuzz {

// A directory for a target's files, made on first use and removed when the process exits. The
// first call also quiets the engine's INFO logs, which would otherwise print per input.
inline const std::string& ScratchDir() {
  static const std::string* dir = [] {
    SetMinLogLevel(LogLevel::kError);
    std::string pattern = (std::filesystem::temp_directory_path() / "rattn-fuzz-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) std::abort();
    auto* made = new std::string(pattern);
    std::atexit([] { std::filesystem::remove_all(ScratchDir()); });
    return made;
  }();
  return *dir;
}

}  // namespace rattn::fuzz

#endif  // RATTN_TESTS_FUZZ_FUZZ_TARGET_H_
