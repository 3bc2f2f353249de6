// The server's options: filled from flags in main.cc (or directly by tests), validated once by
// Validate(), then read-only.
#ifndef RATTN_SERVER_SERVER_OPTIONS_H_
#define RATTN_SERVER_SERVER_OPTIONS_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "engine/cpu/cpu_weights.h"

namespace rattn::server {

enum class BackendKind { kAuto, kCpu, kCuda };

absl::StatusOr<BackendKind> ParseBackendKind(absl::string_view name);

// The memory the cache pools may take: a byte count, or a fraction of the memory still available
// once the weights are loaded.
struct MemoryBudget {
  int64_t bytes = int64_t{1} << 30;
  double fraction = 0;  // used instead of `bytes` when positive

  // "1GiB", "512MiB", "2G", "1073741824" (bytes), or "0.4" (a fraction in (0, 1)).
  static absl::StatusOr<MemoryBudget> Parse(absl::string_view text);
  // The byte count, given the bytes available.
  int64_t Resolve(int64_t available_bytes) const;
  std::string ToString() const;
};

// "4MiB", "16M", "1024": a byte count with an optional binary (KiB, MiB, GiB) or SI-looking (K,
// M, G, also read as powers of 1024) suffix.
absl::StatusOr<int64_t> ParseByteSize(absl::string_view text);

struct ServerOptions {
  std::string model_dir;  // a checkpoint directory (docs/model-format.md)
  BackendKind backend = BackendKind::kAuto;
  int num_threads = 0;  // CPU backend threads; 0: every core
  cpu::WeightPrecision weight_precision = cpu::WeightPrecision::kAsStored;

  std::string listen_address = "0.0.0.0:50051";
  std::string metrics_address = "0.0.0.0:9090";   // empty: no metrics endpoint
  int64_t max_message_bytes = int64_t{16} << 20;  // largest request or response message
  std::string tls_cert_file;                      // PEM; with tls_key_file, serve TLS
  std::string tls_key_file;
  std::string auth_token;  // when set, RattnService calls need "authorization: Bearer <token>"
  bool reflection = true;

  MemoryBudget memory_budget;
  int block_size = 16;
  int max_sequences = 256;
  int max_tokens_per_step = 2048;
  int max_waiting = 1024;

  // SIGTERM: how long in-flight requests may run before they are cancelled.
  absl::Duration drain_timeout = absl::Seconds(30);
  // Health turns NOT_SERVING when work waits and no engine step has ended for this long.
  absl::Duration stall_timeout = absl::Seconds(30);

  // Connections older than this are closed gracefully (GOAWAY; calls in flight finish), so that
  // clients re-resolve and spread onto new replicas; infinite keeps them.
  absl::Duration max_connection_age = absl::InfiniteDuration();

  // Checks ranges and that the files named exist; errors name the flag.
  absl::Status Validate() const;
};

}  // namespace rattn::server

#endif  // RATTN_SERVER_SERVER_OPTIONS_H_
