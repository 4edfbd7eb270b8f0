// mtfcdd-bench layers: where a bundle's forward spends its time, layer by layer (OpenCV DNN's
// per-layer profile of the plugin's engine), summed per layer type.
#pragma once

#include <string>

#include <mtfcdd/dnn_model.hpp>

namespace mtfcdd::bench {

struct LayerProfileRequest {
  std::string bundle;
  int batch = 1, runs = 50, warmup = 5, threads = 1, top = 12;
  Conv conv = Conv::Auto;
};

// Prints the mean forward time per call and per image, each layer type's share and the slowest
// layers, over `runs` forwards of random input after `warmup`.
int layer_profile_main(const LayerProfileRequest& r);

}  // namespace mtfcdd::bench
