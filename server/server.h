// The rattn server: the engine, RattnService, the standard health and reflection services, and
// the Prometheus endpoint, with the health watch and the drain that SIGTERM starts.
//
// Health follows the engine loop: SERVING while it makes progress, NOT_SERVING when work waits
// and no step has ended for stall_timeout, and from the start of a drain on.
#ifndef RATTN_SERVER_SERVER_H_
#define RATTN_SERVER_SERVER_H_

#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "engine/engine.h"
#include "grpcpp/grpcpp.h"
#include "server/metrics.h"
#include "server/metrics_http_server.h"
#include "server/model_loader.h"
#include "server/rattn_service.h"
#include "server/server_options.h"

namespace rattn::server {

class Server {
 public:
  // Serves `model` (from LoadModel, or built by a test) as `options` say. `options` must have
  // passed Validate() but for model_dir, which is not read here.
  static absl::StatusOr<std::unique_ptr<Server>> Start(const ServerOptions& options,
                                                       LoadedModel model);
  // Stops at once: calls in flight are cancelled.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  int port() const { return port_; }                  // the gRPC port bound
  int metrics_port() const { return metrics_port_; }  // 0 without a metrics endpoint
  bool serving() const;
  const engine::Engine& engine() const { return *engine_; }

  // Health turns NOT_SERVING and new calls get UNAVAILABLE; requests in flight run until they
  // end or drain_timeout passes, when those left are cancelled; then the services stop.
  // Returns the number of requests cancelled. Call once.
  int Drain();

 private:
  explicit Server(const ServerOptions& options) : options_(options) {}

  absl::Status StartGrpc();
  absl::Status StartMetrics();
  // Sets health and GetLoad's `serving` from the drain flag and the engine's progress.
  void WatchHealth();
  void SetServing(bool serving);
  void Stop();

  const ServerOptions options_;
  std::unique_ptr<ServerMetrics> metrics_;
  std::unique_ptr<engine::Engine> engine_;
  std::unique_ptr<RattnService> service_;
  std::unique_ptr<grpc::Server> grpc_server_;
  std::unique_ptr<EngineCollector> engine_collector_;
  std::unique_ptr<MetricsHttpServer> metrics_http_;
  int port_ = 0;
  int metrics_port_ = 0;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool draining_ ABSL_GUARDED_BY(mutex_) = false;
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  bool serving_ ABSL_GUARDED_BY(mutex_) = false;
  std::thread health_watch_;
};

}  // namespace rattn::server

#endif  // RATTN_SERVER_SERVER_H_
