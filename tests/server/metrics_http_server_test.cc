// The /metrics endpoint: answers over a real socket, and refuses other paths and methods.
#include "server/metrics_http_server.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/counter.h"
#include "prometheus/registry.h"

namespace rattn::server {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// Sends `request` to 127.0.0.1:`port` and returns everything the server answered.
std::string Exchange(int port, const std::string& request) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  EXPECT_EQ(send(fd, request.data(), request.size(), 0), static_cast<ssize_t>(request.size()));
  std::string response;
  char buffer[4096];
  ssize_t n;
  while ((n = recv(fd, buffer, sizeof(buffer), 0)) > 0) response.append(buffer, n);
  close(fd);
  return response;
}

TEST(MetricsHttpServerTest, ServesTheCollectablesInTextFormat) {
  prometheus::Registry registry;
  prometheus::BuildCounter()
      .Name("test_things_total")
      .Help("Things.")
      .Register(registry)
      .Add({})
      .Increment(3);
  auto server = MetricsHttpServer::Start("127.0.0.1:0", {&registry});
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_GT((*server)->port(), 0);
  const std::string response =
      Exchange((*server)->port(), "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_THAT(response, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(response, HasSubstr("Content-Type: text/plain; version=0.0.4"));
  EXPECT_THAT(response, HasSubstr("# TYPE test_things_total counter\ntest_things_total 3\n"));
  const size_t body = response.find("\r\n\r\n") + 4;
  EXPECT_THAT(response, HasSubstr("Content-Length: " + std::to_string(response.size() - body)));
}

TEST(MetricsHttpServerTest, RefusesOtherPathsMethodsAndGarbage) {
  prometheus::Registry registry;
  auto server = MetricsHttpServer::Start("127.0.0.1:0", {&registry});
  ASSERT_TRUE(server.ok()) << server.status();
  const MetricsHttpServer& s = **server;
  EXPECT_THAT(s.Respond("GET / HTTP/1.1\r\n\r\n"), StartsWith("HTTP/1.1 404"));
  EXPECT_THAT(s.Respond("POST /metrics HTTP/1.1\r\n\r\n"), StartsWith("HTTP/1.1 405"));
  EXPECT_THAT(s.Respond("hello"), StartsWith("HTTP/1.1 400"));
  EXPECT_THAT(s.Respond(""), StartsWith("HTTP/1.1 400"));
  EXPECT_THAT(Exchange(s.port(), "\x01\x02garbage\r\n\r\n"), StartsWith("HTTP/1.1 400"));
}

TEST(MetricsHttpServerTest, BadAddressesAreRefused) {
  EXPECT_FALSE(MetricsHttpServer::Start("no-port", {}).ok());
  EXPECT_FALSE(MetricsHttpServer::Start("127.0.0.1:99999", {}).ok());
  EXPECT_FALSE(MetricsHttpServer::Start("256.1.1.1:0", {}).ok());
}

}  // namespace
}  // namespace rattn::server
