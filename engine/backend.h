// The interface the CPU and CUDA backends implement: one forward step over a batch of sequence
// chunks (decode rows are chunks of one token), reading and writing each sequence's cache.
#ifndef RATTN_ENGINE_BACKEND_H_
#define RATTN_ENGINE_BACKEND_H_

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/cache/cache_storage.h"
#include "engine/model/model_config.h"
#include "engine/sequence_cache.h"

namespace rattn::engine {

// Which positions of a chunk need logits.
enum class LogitsMode {
  kNone,  // none (a prefill chunk that is not the prompt's last)
  kLast,  // the chunk's last position (decode; the prompt's last chunk)
  kAll,   // every position (prompt logprobs, tests)
};

// One sequence's part of a step: `tokens` go to positions cache->length() onwards.
struct SequenceChunk {
  SequenceCache* cache = nullptr;
  std::span<const int32_t> tokens;
  LogitsMode logits = LogitsMode::kLast;
};

class Backend {
 public:
  virtual ~Backend() = default;

  virtual absl::string_view name() const = 0;
  virtual const model::ModelConfig& config() const = 0;

  // Runs one step. Each chunk's cache must appear once and hold a reserved_length() of at least
  // length() + tokens.size(), which is at most max_position_embeddings; every token must be
  // inside the vocabulary. A step that breaks these is refused before any cache changes. On
  // return each cache's length() has grown by its chunk's size, and `logits` holds
  // (rows, vocab_size) fp32 logits: the rows asked for, in chunk order and position order within
  // a chunk.
  // Not thread-safe: one caller at a time.
  virtual absl::Status Forward(std::span<const SequenceChunk> chunks,
                               std::vector<float>* logits) = 0;

  // The storage for cache pools this backend computes on; null means host memory in fp32
  // (CacheManager's default). Every sequence of a step must come from such a storage.
  virtual absl::StatusOr<std::unique_ptr<CacheStorage>> NewCacheStorage() {
    return std::unique_ptr<CacheStorage>();
  }

  // Bytes free where this backend's caches live (device memory), for budgets given as a
  // fraction; -1 when they live in host memory, whose limits the caller knows better.
  virtual int64_t CacheMemoryAvailable() const { return -1; }
};

// Checks the preconditions of Backend::Forward shared by every backend.
absl::Status ValidateChunks(const model::ModelConfig& config,
                            std::span<const SequenceChunk> chunks);

}  // namespace rattn::engine

#endif  // RATTN_ENGINE_BACKEND_H_
