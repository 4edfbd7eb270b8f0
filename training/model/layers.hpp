// Conv + BatchNorm + activation, the building block of every backbone and of the head, with
// the two things each block must do: run in LibTorch, and emit itself BN-folded into a NetGraph.
#pragma once

#include <torch/torch.h>

#include <string>

#include "net_graph.hpp"

namespace mtfcdd {

enum class Act { ReLU, ReLU6 };

torch::nn::Conv2d make_conv(int64_t cin, int64_t cout, int64_t k, int64_t stride, int64_t pad,
                            bool bias, int64_t groups = 1, int64_t dilation = 1);
// BatchNorm with an explicit epsilon (timm's Inception and Keras' MobileNet use 1e-3).
torch::nn::BatchNorm2d make_bn(int64_t c, double eps);

torch::Tensor apply_act(const torch::Tensor& x, Act act);
NetGraph::Id emit_act(NetGraph& g, NetGraph::Id x, Act act);

// The padding the conv's own options apply, for emitting it.
Pads conv_pads(const torch::nn::Conv2d& conv);

// Emits conv (+ folded bn when given), its output multiplied by `multiplier` (folded too).
NetGraph::Id emit_conv(NetGraph& g, NetGraph::Id x, const std::string& name,
                       const torch::nn::Conv2d& conv, const torch::nn::BatchNorm2d* bn, Pads pads,
                       float multiplier = 1.f);

// timm's BasicConv2d: conv (no bias) -> bn -> ReLU; its children are named `conv` and `bn`.
class BasicConv2dImpl : public torch::nn::Module {
 public:
  BasicConv2dImpl(int64_t cin, int64_t cout, int64_t k, int64_t stride, int64_t pad,
                  double eps = 1e-3);
  torch::Tensor forward(const torch::Tensor& x);
  NetGraph::Id emit(NetGraph& g, NetGraph::Id x, const std::string& name) const;

  torch::nn::Conv2d conv{nullptr};
  torch::nn::BatchNorm2d bn{nullptr};
};
TORCH_MODULE(BasicConv2d);

}  // namespace mtfcdd
