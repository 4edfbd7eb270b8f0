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
  // mobilenet_v1: a deeper layer (e.g. conv_pw_11) whose features, upsampled (nearest) to the
  // cut's grid, join the cut's before the head: maps from two depths. Empty: none.
  std::string second_cut;
  int64_t types = 1;              // M output channels
  int64_t head_channels = 512;
  int64_t head_dilation = 1;      // of both 3x3 head convs: widens the receptive field at no cost
  int64_t input_size = 0;         // square input side; 0 = the preset's default
  // Independently initialised networks whose maps are averaged (a deep ensemble): one network
  // trained from scratch on a small set ranks differently with each seed; the average is steadier.
  int64_t members = 1;
};

int64_t default_input_size(const std::string& preset);
// The config with its defaults filled in; throws std::invalid_argument on bad values.
ModelConfig resolved(ModelConfig cfg);

class FcddModelImpl;
TORCH_MODULE(FcddModel);

class FcddModelImpl : public torch::nn::Module {
 public:
  explicit FcddModelImpl(const ModelConfig& cfg);

  // phi: [N, members x M, u, v], the members' outputs one after the other (each trains on its own loss).
  torch::Tensor forward(const torch::Tensor& x);
  // The anomaly maps A: [N, M, u, v], the members' pseudo-Huber maps averaged, or weighted per
  // type (set_type_weights); what the graph outputs. A member configured for another input side
  // sees x resized to it (bilinear) and its maps are resized to the first member's grid.
  torch::Tensor maps(const torch::Tensor& x);
  // A frozen backbone stays in eval mode (running BN statistics) whatever train() says.
  void train(bool on = true) override;
  void set_backbone_frozen(bool frozen);
  bool backbone_frozen() const { return frozen_; }

  // The inference graph at the configured input size: one output, "anomaly_maps" (A, [N,M,u,v]);
  // BatchNorm folded.
  NetGraph to_graph() const;
  // This network's own inference graph at its own input side, without the other members: the
  // grid an ensemble's maps are on, and the receptive field of its cells.
  NetGraph own_graph() const;

  const ModelConfig& config() const { return cfg_; }
  // This network, then the other members of the ensemble.
  std::vector<FcddModelImpl*> member_list();
  std::vector<const FcddModelImpl*> member_list() const;
  // Copies the weights of one network (`other`'s own layers, not its other members) into this
  // network's own layers; both are members of models with the same preset, head and types.
  void copy_network_from(const FcddModelImpl& other);
  // Appends networks of one member each (their head width, dilation and input side may differ
  // from this one's; the backbone and types must match) to the ensemble.
  void append_members(const std::vector<FcddModel>& nets);
  // Each member's share of each type's map: w[member][type] >= 0, every type's shares summing to
  // 1; empty = the plain mean. Lets each type come from the networks that map it best.
  // Throws std::invalid_argument on a wrong shape or shares.
  void set_type_weights(std::vector<std::vector<float>> w);

  // The first member's layers (with their names from before ensembles, so checkpoints still load).
  std::shared_ptr<BackboneImpl> backbone;
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, out{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr};

 private:
  // A = pseudo-Huber of this network's own output, emitted under `prefix`.
  NetGraph::Id emit_maps(NetGraph& g, NetGraph::Id x, const std::string& prefix) const;
  torch::Tensor forward_one(const torch::Tensor& x);
  // The backbone's taps as the head's input: the deeper ones upsampled to the first's grid, all
  // concatenated along the channels.
  torch::Tensor features(const torch::Tensor& x);
  NetGraph::Id emit_features(NetGraph& g, NetGraph::Id x, const std::string& prefix) const;

  ModelConfig cfg_;
  torch::nn::ModuleList others_{nullptr};  // members 2 .. K, each with members = 1
  std::vector<std::vector<float>> type_weights_;  // [member][type]; empty = the mean
  bool frozen_ = false;
};

// The networks of `models` (each model's members, in order) as the members of one new ensemble,
// weights copied: e.g. the best epochs of runs trained apart.
FcddModel joined(const std::vector<FcddModel>& models);

// Stores the module's 4-d weights channels-last (NHWC), the layout in which oneDNN's CPU
// convolutions train fastest; feed it inputs made channels-last too (`channels_last(x)`).
void to_channels_last(torch::nn::Module& m);
torch::Tensor channels_last(const torch::Tensor& x);

struct ParameterCounts {
  int64_t total = 0, trainable = 0, backbone = 0, head = 0;
};
ParameterCounts count_parameters(const FcddModelImpl& m);

}  // namespace mtfcdd
