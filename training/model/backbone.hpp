// The backbone interface: what the head and the exporter need from any feature extractor.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>

#include "net_graph.hpp"

namespace mtfcdd {

class BackboneImpl : public torch::nn::Module {
 public:
  virtual torch::Tensor forward(const torch::Tensor& x) = 0;
  // Emits the BN-folded backbone; layer names are the module paths prefixed with `prefix`.
  virtual NetGraph::Id emit(NetGraph& g, NetGraph::Id x, const std::string& prefix) const = 0;
  virtual int64_t out_channels() const = 0;
};

// Presets: "irv2" (Inception-ResNet-v2 up to the 10 block35, timm names), "mobilenet_v1"
// (Keras names, cut at conv_pw_5 .. conv_pw_11), "small" (compact, for training from scratch).
// Throws std::invalid_argument on an unknown name or cut.
std::shared_ptr<BackboneImpl> make_backbone(const std::string& preset, const std::string& cut);

std::shared_ptr<BackboneImpl> make_irv2_backbone();
std::shared_ptr<BackboneImpl> make_mobilenet_v1_backbone(int blocks);
std::shared_ptr<BackboneImpl> make_small_backbone();

}  // namespace mtfcdd
