// The requests rattn-bench sends, in order: random token-id prompts (or the fixed text) with
// lengths drawn from the options, greedy unless --temperature says otherwise, ignoring EOS so
// every request produces exactly its drawn output length (unless the server stops it early at its
// context limit). The sequence depends on the seed only.
#ifndef RATTN_TOOLS_BENCH_PROMPT_SOURCE_H_
#define RATTN_TOOLS_BENCH_PROMPT_SOURCE_H_

#include <cstdint>

#include "rattn/v1/rattn.pb.h"
#include "tools/bench/bench_options.h"
#include "tools/bench/bench_random.h"

namespace rattn::bench {

class PromptSource {
 public:
  // `options` must outlive this; `vocab_size` >= 1. Token ids are uniform on 0 .. vocab_size - 1.
  PromptSource(const BenchOptions& options, uint32_t vocab_size);

  v1::GenerateRequest Next();

 private:
  const BenchOptions& options_;
  uint32_t vocab_size_;
  BenchRng rng_;
  uint64_t made_ = 0;
};

}  // namespace rattn::bench

#endif  // RATTN_TOOLS_BENCH_PROMPT_SOURCE_H_
