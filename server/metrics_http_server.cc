#include "server/metrics_http_server.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "engine/util/logging.h"
#include "prometheus/text_serializer.h"

namespace rattn::server {
namespace {

constexpr size_t kMaxRequestBytes = 8192;
constexpr int kIoTimeoutSeconds = 5;

std::string HttpResponse(absl::string_view status, absl::string_view content_type,
                         absl::string_view body) {
  return absl::StrCat("HTTP/1.1 ", status, "\r\nContent-Type: ", content_type,
                      "\r\nContent-Length: ", body.size(), "\r\nConnection: close\r\n\r\n", body);
}

absl::Status SocketError(absl::string_view what, const std::string& address) {
  return absl::UnavailableError(
      absl::StrCat("--metrics_listen: ", what, " ", address, ": ", std::strerror(errno)));
}

void SetTimeouts(int fd) {
  timeval timeout{kIoTimeoutSeconds, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
}

}  // namespace

absl::StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Start(
    const std::string& address, std::vector<const prometheus::Collectable*> collectables) {
  const size_t colon = address.rfind(':');
  int port_number = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(address.substr(colon + 1), &port_number) ||
      port_number < 0 || port_number > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("--metrics_listen: '", address, "' is not HOST:PORT"));
  }
  std::string host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string service = address.substr(colon + 1);
  if (int error =
          getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &found);
      error != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--metrics_listen: cannot resolve ", address, ": ", gai_strerror(error)));
  }
  int fd = socket(found->ai_family, found->ai_socktype | SOCK_CLOEXEC, found->ai_protocol);
  if (fd < 0) {
    freeaddrinfo(found);
    return SocketError("cannot open a socket for", address);
  }
  const int yes = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  const bool bound = bind(fd, found->ai_addr, found->ai_addrlen) == 0 && listen(fd, 16) == 0;
  freeaddrinfo(found);
  if (!bound) {
    absl::Status status = SocketError("cannot listen on", address);
    close(fd);
    return status;
  }
  sockaddr_storage local{};
  socklen_t length = sizeof(local);
  getsockname(fd, reinterpret_cast<sockaddr*>(&local), &length);
  const int port =
      ntohs(local.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&local)->sin6_port
                                        : reinterpret_cast<sockaddr_in*>(&local)->sin_port);
  int stop[2];
  if (pipe2(stop, O_CLOEXEC) != 0) {
    close(fd);
    return SocketError("cannot make a pipe for", address);
  }
  std::unique_ptr<MetricsHttpServer> server(
      new MetricsHttpServer(fd, stop[0], stop[1], port, std::move(collectables)));
  server->thread_ = std::thread([s = server.get()] { s->Serve(); });
  return server;
}

MetricsHttpServer::MetricsHttpServer(int listen_fd, int stop_read_fd, int stop_write_fd, int port,
                                     std::vector<const prometheus::Collectable*> collectables)
    : listen_fd_(listen_fd),
      stop_read_fd_(stop_read_fd),
      stop_write_fd_(stop_write_fd),
      port_(port),
      collectables_(std::move(collectables)) {}

MetricsHttpServer::~MetricsHttpServer() {
  const char stop = 1;
  (void)!write(stop_write_fd_, &stop, 1);
  if (thread_.joinable()) thread_.join();
  close(listen_fd_);
  close(stop_read_fd_);
  close(stop_write_fd_);
}

void MetricsHttpServer::Serve() {
  pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {stop_read_fd_, POLLIN, 0}};
  while (true) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      RATTN_LOG(ERROR) << "metrics endpoint stopped: poll failed: " << std::strerror(errno);
      return;
    }
    if (fds[1].revents != 0) return;
    if ((fds[0].revents & POLLIN) == 0) continue;
    const int connection = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (connection < 0) continue;
    HandleConnection(connection);
    close(connection);
  }
}

void MetricsHttpServer::HandleConnection(int fd) const {
  SetTimeouts(fd);
  std::string request;
  char buffer[1024];
  while (request.size() < kMaxRequestBytes && !absl::StrContains(request, "\r\n\r\n")) {
    const ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
    if (n <= 0) break;
    request.append(buffer, static_cast<size_t>(n));
  }
  const std::string response = Respond(request);
  size_t sent = 0;
  while (sent < response.size()) {
    const ssize_t n = send(fd, response.data() + sent, response.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return;
    sent += static_cast<size_t>(n);
  }
}

std::string MetricsHttpServer::Respond(const std::string& request) const {
  const std::string first_line = request.substr(0, request.find("\r\n"));
  const std::vector<absl::string_view> line = absl::StrSplit(first_line, ' ');
  if (line.size() != 3 || !absl::StartsWith(line[2], "HTTP/1.")) {
    return HttpResponse("400 Bad Request", "text/plain", "bad request\n");
  }
  const absl::string_view path = line[1].substr(0, line[1].find('?'));
  if (path != "/metrics") return HttpResponse("404 Not Found", "text/plain", "see /metrics\n");
  if (line[0] != "GET") {
    return HttpResponse("405 Method Not Allowed", "text/plain", "GET only\n");
  }
  return HttpResponse("200 OK", "text/plain; version=0.0.4; charset=utf-8", Scrape());
}

std::string MetricsHttpServer::Scrape() const {
  std::vector<prometheus::MetricFamily> families;
  for (const prometheus::Collectable* collectable : collectables_) {
    std::vector<prometheus::MetricFamily> collected = collectable->Collect();
    families.insert(families.end(), std::make_move_iterator(collected.begin()),
                    std::make_move_iterator(collected.end()));
  }
  std::ostringstream text;
  prometheus::TextSerializer().Serialize(text, families);
  return text.str();
}

}  // namespace rattn::server
