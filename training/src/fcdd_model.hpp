// The MultiTypeFCDD network: a backbone, then 2 x (3x3 conv + BN + ReLU) and a 1x1 conv with
// one output channel per defect type. forward() returns phi; fcdd_math turns it into maps.
#pragma once

#include <torch/torch.h>

#include <string>

#include "backbone.hpp"
#include "net_graph.hpp"

namespace mtfcdd {

struct ModelConfig {
  std::string preset = "small";   // irv2 | mobilenet_v1 | small
  std::string cut = "conv_pw_5";  // mobilenet_v1 only
  int64_t types = 1;              // M output channels
  int64_t head_channels = 512;
  int64_t head_dilation = 1;      // of both 3x3 head convs: widens the receptive field at no cost
  int64_t input_size = 0;         // square input side; 0 = the preset's default
};

int64_t default_input_size(const std::string& preset);
// The config with its defaults filled in; throws std::invalid_argument on bad values.
ModelConfig resolved(ModelConfig cfg);

class FcddModelImpl : public torch::nn::Module {
 public:
  explicit FcddModelImpl(const ModelConfig& cfg);

  torch::Tensor forward(const torch::Tensor& x);  // phi: [N, M, u, v]
  // A frozen backbone stays in eval mode (running BN statistics) whatever train() says.
  void train(bool on = true) override;
  void set_backbone_frozen(bool frozen);
  bool backbone_frozen() const { return frozen_; }

  // The inference graph at the configured input size: outputs "anomaly_maps" (A, [N,M,u,v])
  // and "scores" (z, [N,M]); BatchNorm folded.
  NetGraph to_graph() const;

  const ModelConfig& config() const { return cfg_; }
  std::shared_ptr<BackboneImpl> backbone;
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, out{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr};

 private:
  ModelConfig cfg_;
  bool frozen_ = false;
};
TORCH_MODULE(FcddModel);

struct ParameterCounts {
  int64_t total = 0, trainable = 0, backbone = 0, head = 0;
};
ParameterCounts count_parameters(const FcddModelImpl& m);

}  // namespace mtfcdd
