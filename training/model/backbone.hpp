// The backbone interface: what the head and the exporter need from any feature extractor.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "net_graph.hpp"

namespace mtfcdd {

class BackboneImpl : public torch::nn::Module {
 public:
  virtual torch::Tensor forward(const torch::Tensor& x) = 0;
  // Emits the BN-folded backbone; layer names are the module paths prefixed with `prefix`.
  virtual NetGraph::Id emit(NetGraph& g, NetGraph::Id x, const std::string& prefix) const = 0;
  virtual int64_t out_channels() const = 0;
  // Maps from two depths: besides forward()'s output, that of an earlier layer (mobilenet_v1's
  // first cut), shallowest first; by default forward()'s alone. Likewise emitted, with channels.
  virtual std::vector<torch::Tensor> forward_taps(const torch::Tensor& x) { return {forward(x)}; }
  virtual std::vector<NetGraph::Id> emit_taps(NetGraph& g, NetGraph::Id x, const std::string& prefix) const {
    return {emit(g, x, prefix)};
  }
  virtual std::vector<int64_t> tap_channels() const { return {out_channels()}; }
};

// Presets: "irv2" (Inception-ResNet-v2 up to the 10 block35, timm names), "mobilenet_v1"
// (Keras names, cut at conv_pw_1 .. conv_pw_11; with a deeper `second_cut`, both are tapped),
// "small" (compact, for training from scratch). Throws std::invalid_argument on an unknown name
// or cut, or a second cut that is not mobilenet_v1's or not deeper.
std::shared_ptr<BackboneImpl> make_backbone(const std::string& preset, const std::string& cut,
                                            const std::string& second_cut = "");

std::shared_ptr<BackboneImpl> make_irv2_backbone();
// Up to conv_pw_<blocks>; `tap` > 0 also taps conv_pw_<tap> (forward_taps).
std::shared_ptr<BackboneImpl> make_mobilenet_v1_backbone(int blocks, int tap = 0);
std::shared_ptr<BackboneImpl> make_small_backbone();

}  // namespace mtfcdd
