// Checks shared by every backend; see backend.h.
#include "engine/backend.h"

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"

namespace rattn::engine {

absl::Status ValidateChunks(const model::ModelConfig& config,
                            std::span<const SequenceChunk> chunks) {
  absl::flat_hash_set<const SequenceCache*> seen;
  for (size_t i = 0; i < chunks.size(); ++i) {
    const SequenceChunk& chunk = chunks[i];
    if (chunk.cache == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("chunk ", i, " has no cache"));
    }
    if (chunk.tokens.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("chunk ", i, " has no tokens"));
    }
    if (!seen.insert(chunk.cache).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("chunk ", i, " repeats the cache of an earlier chunk"));
    }
    int64_t end = chunk.cache->length() + static_cast<int64_t>(chunk.tokens.size());
    if (chunk.cache->reserved_length() < end) {
      return absl::FailedPreconditionError(absl::StrCat("chunk ", i, " needs room up to position ",
                                                        end, " but its cache has ",
                                                        chunk.cache->reserved_length()));
    }
    if (end > config.max_position_embeddings) {
      return absl::InvalidArgumentError(
          absl::StrCat("chunk ", i, " reaches position ", end, ", beyond the model's ",
                       "max_position_embeddings (", config.max_position_embeddings, ")"));
    }
    for (int32_t token : chunk.tokens) {
      if (token < 0 || token >= config.vocab_size) {
        return absl::InvalidArgumentError(absl::StrCat("chunk ", i, ": token id ", token,
                                                       " is outside the vocabulary [0, ",
                                                       config.vocab_size, ")"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace rattn::engine
