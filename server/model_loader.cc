#include "server/model_loader.h"

#include <chrono>
#include <filesystem>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "engine/cpu/cpu_backend.h"
#include "engine/model/checkpoint.h"
#include "engine/util/logging.h"
#include "engine/util/status_macros.h"
#include "server/host_limits.h"

#if RATTN_HAVE_CUDA
#include "engine/cuda/cuda_backend.h"
#endif

namespace rattn::server {

::rattn::v1::ModelInfo DescribeModel(const model::ModelConfig& config, absl::string_view name,
                                     absl::string_view dtype, absl::string_view backend,
                                     const engine::Tokenizer* tokenizer) {
  ::rattn::v1::ModelInfo info;
  info.set_model_name(std::string(name));
  for (model::LayerType type : config.layer_types) {
    info.add_layer_types(std::string(model::LayerTypeName(type)));
  }
  info.set_sliding_window(config.NumLocalLayers() > 0 ? config.sliding_window : 0);
  info.set_vocab_size(config.vocab_size);
  info.set_max_context(config.max_position_embeddings);
  info.set_tokenizer(tokenizer != nullptr ? std::string(tokenizer->kind()) : "none");
  info.set_dtype(absl::AsciiStrToLower(dtype));
  info.set_backend(std::string(backend));
  info.set_hidden_size(config.hidden_size);
  info.set_num_attention_heads(config.num_heads);
  info.set_num_key_value_heads(config.num_kv_heads);
  info.set_head_dim(config.head_dim);
  info.set_rla_feature_map(std::string(model::FeatureMapName(config.rla_feature_map)));
  return info;
}

namespace {

absl::StatusOr<std::unique_ptr<engine::Backend>> MakeCpuBackend(const ServerOptions& options,
                                                                const model::Checkpoint& checkpoint,
                                                                int64_t* weight_bytes) {
  cpu::CpuBackendOptions cpu_options;
  cpu_options.num_threads = options.num_threads;
  if (cpu_options.num_threads == 0) {
    const HostLimits limits = ReadHostLimits();
    cpu_options.num_threads = DefaultThreads(limits, AffinityCores());
    if (limits.cgroup_cpus > 0) {
      RATTN_LOG(INFO) << "cgroup CPU quota " << limits.cgroup_cpus << ": "
                      << cpu_options.num_threads << " CPU backend threads";
    }
  }
  cpu_options.weight_precision = options.weight_precision;
  RATTN_ASSIGN_OR_RETURN(std::unique_ptr<cpu::CpuBackend> backend,
                         cpu::CpuBackend::Create(checkpoint, cpu_options));
  *weight_bytes = backend->streamed_weight_bytes();
  return backend;
}

// The backend options.backend asks for: auto takes the GPU when this build has the CUDA
// backend and the machine a device.
absl::StatusOr<std::unique_ptr<engine::Backend>> MakeBackend(const ServerOptions& options,
                                                             const model::Checkpoint& checkpoint,
                                                             int64_t* weight_bytes) {
#if RATTN_HAVE_CUDA
  const bool device = cuda::CudaDeviceAvailable();
  if (options.backend == BackendKind::kCuda && !device) {
    return absl::FailedPreconditionError(
        "--backend=cuda: no CUDA device is visible to this process; use --backend=cpu");
  }
  if (options.backend == BackendKind::kCuda || (options.backend == BackendKind::kAuto && device)) {
    cuda::CudaBackendOptions cuda_options;
    cuda_options.max_step_rows = options.max_tokens_per_step;
    RATTN_ASSIGN_OR_RETURN(std::unique_ptr<cuda::CudaBackend> backend,
                           cuda::CudaBackend::Create(checkpoint, cuda_options));
    *weight_bytes = backend->streamed_weight_bytes();
    return backend;
  }
  if (options.backend == BackendKind::kAuto) {
    RATTN_LOG(INFO) << "--backend=auto: no CUDA device visible; serving on the CPU";
  }
#else
  if (options.backend == BackendKind::kCuda) {
    return absl::FailedPreconditionError(
        "--backend=cuda: this rattn-server was built without the CUDA toolkit, so it has no CUDA "
        "backend; rebuild with CUDA (RATTN_CUDA=ON) or use --backend=cpu");
  }
#endif
  return MakeCpuBackend(options, checkpoint, weight_bytes);
}

}  // namespace

absl::StatusOr<LoadedModel> LoadModel(const ServerOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  RATTN_ASSIGN_OR_RETURN(std::unique_ptr<model::Checkpoint> checkpoint,
                         model::Checkpoint::Open(options.model_dir));
  LoadedModel loaded;
  RATTN_ASSIGN_OR_RETURN(loaded.backend, MakeBackend(options, *checkpoint, &loaded.weight_bytes));
  RATTN_ASSIGN_OR_RETURN(loaded.tokenizer,
                         engine::LoadTokenizer(options.model_dir, checkpoint->config().vocab_size));

  const std::string name =
      std::filesystem::path(options.model_dir).lexically_normal().filename().string();
  loaded.info = DescribeModel(checkpoint->config(), name.empty() ? options.model_dir : name,
                              model::DTypeName(checkpoint->storage_dtype()), loaded.backend->name(),
                              loaded.tokenizer.get());
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const model::ModelConfig& config = checkpoint->config();
  RATTN_LOG(INFO) << "model " << options.model_dir << " loaded in " << seconds
                  << " s: " << config.num_layers << " layers (" << config.NumRlaLayers()
                  << " rattention, " << config.NumLocalLayers() - config.NumRlaLayers()
                  << " sliding, " << config.NumGlobalLayers() << " full), window "
                  << config.sliding_window << ", vocab " << config.vocab_size << ", "
                  << loaded.weight_bytes / (1 << 20) << " MiB of weights on the "
                  << loaded.backend->name() << " backend, tokenizer " << loaded.info.tokenizer();
  return loaded;
}

}  // namespace rattn::server
