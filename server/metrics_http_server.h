// A minimal HTTP/1.1 endpoint for Prometheus: GET /metrics answers with the text format of the
// collectables given, one connection at a time, on a thread of its own.
//
// Why not prometheus-cpp's Exposer: it serves from civetweb worker threads with a fixed 100 KiB
// stack, from which glibc also carves every thread's static TLS; with OpenBLAS loaded that left
// too little stack and a scrape could overflow it. A scrape is rare and small, so one ordinary
// thread is plenty.
#ifndef RATTN_SERVER_METRICS_HTTP_SERVER_H_
#define RATTN_SERVER_METRICS_HTTP_SERVER_H_

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "prometheus/collectable.h"

namespace rattn::server {

class MetricsHttpServer {
 public:
  // Listens on `address` ("host:port"; port 0 picks one). The collectables must outlive the
  // server.
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(
      const std::string& address, std::vector<const prometheus::Collectable*> collectables);
  // Stops listening and joins the thread.
  ~MetricsHttpServer();
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  int port() const { return port_; }

  // The response to one request's bytes (exposed for tests).
  std::string Respond(const std::string& request) const;

 private:
  MetricsHttpServer(int listen_fd, int stop_read_fd, int stop_write_fd, int port,
                    std::vector<const prometheus::Collectable*> collectables);

  void Serve();
  void HandleConnection(int fd) const;
  std::string Scrape() const;

  const int listen_fd_;
  const int stop_read_fd_;  // readable once the destructor asks the thread to stop
  const int stop_write_fd_;
  const int port_;
  const std::vector<const prometheus::Collectable*> collectables_;
  std::thread thread_;
};

}  // namespace rattn::server

#endif  // RATTN_SERVER_METRICS_HTTP_SERVER_H_
