// Loading safetensors weights into a module by state-dict name (timm / Keras names).
#pragma once

#include <torch/torch.h>

#include <string>

#include "fcdd_model.hpp"
#include "safetensors.hpp"

namespace mtfcdd {

struct LoadReport {
  size_t loaded = 0;
  size_t ignored = 0;  // tensors of layers the module does not build (e.g. irv2's mixed_6a..)
};

// Every parameter and buffer of `module` must be in `tensors` with the same shape, and no
// tensor may name something inside a layer the module builds that the module lacks.
// num_batches_tracked is optional. Throws std::runtime_error listing every problem.
LoadReport load_weights(torch::nn::Module& module, const TensorMap& tensors, const std::string& source);

// Loads a backbone .safetensors file into every member of the model and freezes the backbone; with
// no path, says (when `say`) that the backbone is random and trains from scratch. Returns what
// provenance records: the path, or "random".
std::string setup_backbone(FcddModelImpl& model, const std::string& path, bool say);

// The module's parameters and buffers by state-dict name (without num_batches_tracked).
TensorMap state_tensors(const torch::nn::Module& module);

}  // namespace mtfcdd
