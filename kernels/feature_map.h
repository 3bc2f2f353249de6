// The feature map phi of residual linear attention, shared by the model config and the kernels.
#ifndef RATTN_KERNELS_FEATURE_MAP_H_
#define RATTN_KERNELS_FEATURE_MAP_H_

namespace rattn::kernels {

// phi maps a head_dim vector to 2 * head_dim values, applied per head.
enum class FeatureMap {
  kSoftmax,  // phi(x) = [softmax(x), softmax(-x)]
  kRelu,     // phi(x) = [relu(x), relu(-x)]
};

}  // namespace rattn::kernels

#endif  // RATTN_KERNELS_FEATURE_MAP_H_
