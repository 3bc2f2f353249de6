// The requests rattn-bench sends.
#include "tools/bench/prompt_source.h"

namespace rattn::bench {
namespace {

// MakeRng streams of one run.
constexpr uint32_t kPromptStream = 0;

}  // namespace

PromptSource::PromptSource(const BenchOptions& options, uint32_t vocab_size)
    : options_(options), vocab_size_(vocab_size), rng_(MakeRng(options.seed, kPromptStream)) {}

v1::GenerateRequest PromptSource::Next() {
  v1::GenerateRequest request;
  if (options_.prompt_text.empty()) {
    const int64_t length = options_.prompt_len.Sample(rng_);
    v1::TokenIds& ids = *request.mutable_token_ids();
    ids.mutable_ids()->Reserve(static_cast<int>(length));
    for (int64_t i = 0; i < length; ++i) {
      ids.add_ids(static_cast<int32_t>(UniformInt(rng_, 0, vocab_size_ - 1)));
    }
  } else {
    request.set_text(options_.prompt_text);
  }
  request.mutable_stopping()->set_max_new_tokens(
      static_cast<uint32_t>(options_.output_len.Sample(rng_)));
  request.mutable_stopping()->set_ignore_eos(true);
  request.mutable_sampling()->set_temperature(options_.temperature);
  request.mutable_sampling()->set_seed(options_.seed + made_);
  ++made_;
  return request;
}

}  // namespace rattn::bench
