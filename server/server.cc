#include "server/server.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/util/file_util.h"
#include "engine/util/logging.h"
#include "engine/util/status_macros.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/impl/server_builder_option.h"
#include "grpcpp/impl/server_builder_plugin.h"
#include "server/host_limits.h"

#ifndef RATTN_VERSION
#define RATTN_VERSION "unknown"
#endif

namespace rattn::server {
namespace {

using Clock = std::chrono::steady_clock;

// A duration as a gRPC channel argument: milliseconds in an int.
int ClampedMilliseconds(absl::Duration d) {
  return static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(d), INT32_MAX));
}

constexpr auto kHealthPollInterval = std::chrono::milliseconds(100);
constexpr auto kDrainPollInterval = std::chrono::milliseconds(20);
// After a drain, how long calls get to write their last responses before they are cut off.
constexpr auto kShutdownGrace = std::chrono::seconds(5);

// A PEM file is a few KiB; a certificate chain rarely passes 100 KiB.
constexpr int64_t kMaxPemBytes = 1 << 20;

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> Credentials(const ServerOptions& options) {
  if (options.tls_cert_file.empty()) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions ssl;
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  RATTN_ASSIGN_OR_RETURN(pair.private_key, ReadSmallFile(options.tls_key_file, kMaxPemBytes));
  RATTN_ASSIGN_OR_RETURN(pair.cert_chain, ReadSmallFile(options.tls_cert_file, kMaxPemBytes));
  ssl.pem_key_cert_pairs.push_back(std::move(pair));
  return grpc::SslServerCredentials(ssl);
}

// "HOST:PORT" with the port actually bound (the flag may say 0).
std::string WithPort(const std::string& address, int port) {
  return absl::StrCat(address.substr(0, address.rfind(':')), ":", port);
}

engine::EngineOptions EngineOptionsFor(const ServerOptions& options, int64_t budget_bytes,
                                       ServerMetrics* metrics) {
  engine::EngineOptions engine_options;
  engine_options.cache.block_size = options.block_size;
  engine_options.cache.memory_budget_bytes = budget_bytes;
  engine_options.cache.max_sequences = options.max_sequences;
  engine_options.max_tokens_per_step = options.max_tokens_per_step;
  engine_options.max_waiting = options.max_waiting;
  engine_options.step_observer = [metrics](const engine::StepStats& step) {
    metrics->ObserveStep(step);
  };
  return engine_options;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Server>> Server::Start(const ServerOptions& options,
                                                      LoadedModel model) {
  std::unique_ptr<Server> server(new Server(options));
  server->metrics_ = std::make_unique<ServerMetrics>(RATTN_VERSION, model.backend->name());

  // A fraction is of the memory free where the caches live: the device's for a GPU backend.
  const int64_t device_free = model.backend->CacheMemoryAvailable();
  const int64_t budget = options.memory_budget.Resolve(
      device_free >= 0 ? device_free : ReadHostLimits().available_bytes);
  if (budget < (int64_t{1} << 20)) {
    return absl::ResourceExhaustedError(
        absl::StrCat("--memory_budget: ", options.memory_budget.ToString(), " leaves ", budget,
                     " bytes for the caches; at least 1 MiB is needed"));
  }
  RATTN_LOG(INFO) << "cache memory budget " << budget / (1 << 20) << " MiB ("
                  << options.memory_budget.ToString() << ")";
  RATTN_ASSIGN_OR_RETURN(
      server->engine_,
      engine::Engine::Create(std::move(model.backend), std::move(model.tokenizer),
                             EngineOptionsFor(options, budget, server->metrics_.get())));

  model.info.set_block_size(options.block_size);
  model.info.set_version(RATTN_VERSION);
  server->service_ = std::make_unique<RattnService>(server->engine_.get(), server->metrics_.get(),
                                                    std::move(model.info), options.auth_token);
  RATTN_RETURN_IF_ERROR(server->StartGrpc());
  RATTN_RETURN_IF_ERROR(server->StartMetrics());
  server->SetServing(true);
  server->health_watch_ = std::thread([s = server.get()] { s->WatchHealth(); });
  return server;
}

namespace {

// Removes gRPC's reflection plugin from one server's builder. Linking the plugin registers it
// for every ServerBuilder of the process at static initialization, so leaving reflection out
// means taking the plugin away, server by server.
class WithoutReflection final : public grpc::ServerBuilderOption {
 public:
  void UpdateArguments(grpc::ChannelArguments* /*args*/) override {}
  void UpdatePlugins(std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>* plugins) override {
    std::erase_if(*plugins, [](const std::unique_ptr<grpc::ServerBuilderPlugin>& plugin) {
      return plugin->name() == "proto_server_reflection";
    });
  }
};

}  // namespace

absl::Status Server::StartGrpc() {
  grpc::EnableDefaultHealthCheckService(true);
  if (options_.reflection) grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  RATTN_ASSIGN_OR_RETURN(std::shared_ptr<grpc::ServerCredentials> credentials,
                         Credentials(options_));
  grpc::ServerBuilder builder;
  if (!options_.reflection) builder.SetOption(std::make_unique<WithoutReflection>());
  builder.AddListeningPort(options_.listen_address, credentials, &port_);
  builder.SetMaxReceiveMessageSize(static_cast<int>(options_.max_message_bytes));
  builder.SetMaxSendMessageSize(static_cast<int>(options_.max_message_bytes));
  if (options_.max_connection_age != absl::InfiniteDuration()) {
    // Calls in flight get up to a drain's time to finish on the closing connection.
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS,
                               ClampedMilliseconds(options_.max_connection_age));
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
                               ClampedMilliseconds(options_.drain_timeout));
  }
  builder.RegisterService(service_.get());
  grpc_server_ = builder.BuildAndStart();
  if (grpc_server_ != nullptr) {
    // The service by name too, for probes that ask for it; SetServing() then updates both.
    grpc_server_->GetHealthCheckService()->SetServingStatus(pb::RattnService::service_full_name(),
                                                            true);
  }
  if (grpc_server_ == nullptr || port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("--listen: cannot listen on ", options_.listen_address));
  }
  RATTN_LOG(INFO) << "listening on " << WithPort(options_.listen_address, port_)
                  << (options_.tls_cert_file.empty() ? " (plaintext)" : " (TLS)")
                  << (options_.auth_token.empty() ? "" : ", bearer token required")
                  << (options_.reflection ? ", reflection on" : "");
  return absl::OkStatus();
}

absl::Status Server::StartMetrics() {
  if (options_.metrics_address.empty()) return absl::OkStatus();
  engine_collector_ = std::make_unique<EngineCollector>(engine_.get());
  RATTN_ASSIGN_OR_RETURN(
      metrics_http_, MetricsHttpServer::Start(options_.metrics_address, {metrics_->registry().get(),
                                                                         engine_collector_.get()}));
  metrics_port_ = metrics_http_->port();
  RATTN_LOG(INFO) << "metrics on http://" << WithPort(options_.metrics_address, metrics_port_)
                  << "/metrics";
  return absl::OkStatus();
}

bool Server::serving() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return serving_;
}

void Server::SetServing(bool serving) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    serving_ = serving;
  }
  grpc_server_->GetHealthCheckService()->SetServingStatus(serving);
  service_->SetServing(serving);
}

void Server::WatchHealth() {
  int64_t last_steps = -1;
  Clock::time_point last_progress = Clock::now();
  bool was_stalled = false;
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    wake_.wait_for(lock, kHealthPollInterval);
    if (stopping_ || draining_) continue;
    lock.unlock();
    const engine::LoadSnapshot load = engine_->Load();
    const Clock::time_point now = Clock::now();
    if (load.steps != last_steps || load.running + load.waiting == 0) {
      last_steps = load.steps;
      last_progress = now;
    }
    const bool stalled = std::chrono::duration<double>(now - last_progress).count() >
                         absl::ToDoubleSeconds(options_.stall_timeout);
    if (stalled != was_stalled) {
      if (stalled) {
        RATTN_LOG(WARNING) << "engine loop stalled: no step has ended for "
                           << absl::FormatDuration(options_.stall_timeout) << " with "
                           << load.running << " running and " << load.waiting
                           << " waiting; health NOT_SERVING";
      } else {
        RATTN_LOG(INFO) << "engine loop progressing again; health SERVING";
      }
      was_stalled = stalled;
    }
    lock.lock();
    if (!draining_ && !stopping_ && serving_ == stalled) {
      lock.unlock();
      SetServing(!stalled);
      lock.lock();
    }
  }
}

int Server::Drain() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    draining_ = true;
  }
  service_->StartDrain();
  SetServing(false);
  engine::LoadSnapshot load = engine_->Load();
  RATTN_LOG(INFO) << "draining: " << load.running << " running and " << load.waiting
                  << " waiting requests get up to " << absl::FormatDuration(options_.drain_timeout)
                  << " to finish";
  const Clock::time_point deadline =
      Clock::now() + absl::ToChronoNanoseconds(options_.drain_timeout);
  while (load.running + load.waiting > 0 && Clock::now() < deadline) {
    std::this_thread::sleep_for(kDrainPollInterval);
    load = engine_->Load();
  }
  const int cancelled = load.running + load.waiting;
  if (cancelled > 0) {
    RATTN_LOG(WARNING) << "drain timeout: cancelling " << cancelled << " requests";
    engine_->CancelAll();
  }
  Stop();
  RATTN_LOG(INFO) << "drained; stopped";
  return cancelled;
}

void Server::Stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  wake_.notify_all();
  if (health_watch_.joinable()) health_watch_.join();
  // Calls still open after the grace period are cancelled; their reactors then cancel their
  // requests in the engine, which must still run.
  if (grpc_server_ != nullptr)
    grpc_server_->Shutdown(std::chrono::system_clock::now() + kShutdownGrace);
  metrics_http_.reset();
}

Server::~Server() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!stopping_ && engine_ != nullptr) engine_->CancelAll();
  }
  Stop();
  grpc_server_.reset();
  service_.reset();
  engine_.reset();
}

}  // namespace rattn::server
