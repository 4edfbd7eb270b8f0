// MobileNet v1 (alpha 1.0) from Keras: TF "SAME" padding, ReLU6, BN eps 1e-3, Keras layer
// names (conv1, conv1_bn, conv_dw_i, conv_dw_i_bn, conv_pw_i, conv_pw_i_bn), cut after conv_pw_N.
#include <array>

#include "backbone.hpp"
#include "collective.hpp"
#include "layers.hpp"

namespace mtfcdd {
namespace {

constexpr std::array<int64_t, 11> kPwChannels = {64, 128, 128, 256, 256, 512,
                                                 512, 512, 512, 512, 512};

// TF "SAME": out = ceil(in / s); the odd pixel of padding goes to the bottom/right.
std::pair<int64_t, int64_t> same_pad(int64_t in, int64_t k, int64_t s) {
  const int64_t out = (in + s - 1) / s;
  const int64_t total = std::max<int64_t>((out - 1) * s + k - in, 0);
  return {total / 2, total - total / 2};
}

Pads same_pads(const Shape& in, int64_t k, int64_t s) {
  const auto [t, b] = same_pad(in.h, k, s);
  const auto [l, r] = same_pad(in.w, k, s);
  return {t, l, b, r};
}

struct Layer {
  torch::nn::Conv2d conv{nullptr};
  torch::nn::BatchNorm2d bn{nullptr};
  std::string name;
};

class MobileNetV1Impl : public BackboneImpl {
 public:
  MobileNetV1Impl(int blocks, int tap) : tap_layer_(tap > 0 ? 2 * static_cast<size_t>(tap) : 0) {
    add("conv1", make_conv(3, 32, 3, 2, 0, false), "conv1_bn");
    int64_t c = 32;
    for (int i = 1; i <= blocks; ++i) {
      const int64_t stride = (i == 2 || i == 4 || i == 6) ? 2 : 1;
      const std::string n = std::to_string(i);
      add("conv_dw_" + n, make_conv(c, c, 3, stride, 0, false, c), "conv_dw_" + n + "_bn");
      const int64_t out = kPwChannels[i - 1];
      add("conv_pw_" + n, make_conv(c, out, 1, 1, 0, false), "conv_pw_" + n + "_bn");
      if (i == tap) tap_channels_ = out;
      c = out;
    }
    out_ = c;
  }
  torch::Tensor forward(const torch::Tensor& input) override { return forward_taps(input).back(); }
  std::vector<torch::Tensor> forward_taps(const torch::Tensor& input) override {
    torch::Tensor x = input;
    std::vector<torch::Tensor> taps;
    for (size_t i = 0; i < layers_.size(); ++i) {
      Layer& l = layers_[i];
      const int64_t k = (*l.conv->options.kernel_size())[0], s = (*l.conv->options.stride())[0];
      const auto [t, b] = same_pad(x.size(2), k, s);
      const auto [lft, r] = same_pad(x.size(3), k, s);
      if (t + b + lft + r > 0) x = torch::constant_pad_nd(x, {lft, r, t, b}, 0);
      x = apply_act(batch_norm(*l.bn, l.conv->forward(x)), Act::ReLU6);
      if (tap_layer_ > 0 && i == tap_layer_) taps.push_back(x);
    }
    taps.push_back(x);
    return taps;
  }
  NetGraph::Id emit(NetGraph& g, NetGraph::Id x, const std::string& p) const override { return emit_taps(g, x, p).back(); }
  std::vector<NetGraph::Id> emit_taps(NetGraph& g, NetGraph::Id x, const std::string& p) const override {
    std::vector<NetGraph::Id> taps;
    for (size_t i = 0; i < layers_.size(); ++i) {
      const Layer& l = layers_[i];
      const int64_t k = (*l.conv->options.kernel_size())[0], s = (*l.conv->options.stride())[0];
      x = emit_act(g, emit_conv(g, x, p + l.name, l.conv, &l.bn, same_pads(g.shape(x), k, s)), Act::ReLU6);
      if (tap_layer_ > 0 && i == tap_layer_) taps.push_back(x);
    }
    taps.push_back(x);
    return taps;
  }
  int64_t out_channels() const override { return out_; }
  std::vector<int64_t> tap_channels() const override {
    if (tap_layer_ == 0) return {out_};
    return {tap_channels_, out_};
  }

 private:
  void add(const std::string& name, torch::nn::Conv2d conv, const std::string& bn_name) {
    layers_.push_back({register_module(name, conv), register_module(bn_name, make_bn(conv->options.out_channels(), 1e-3)), name});
  }
  std::vector<Layer> layers_;
  size_t tap_layer_ = 0;  // index in layers_ of the tapped conv_pw (conv1 is 0); 0: none
  int64_t out_ = 0, tap_channels_ = 0;
};

}  // namespace

std::shared_ptr<BackboneImpl> make_mobilenet_v1_backbone(int blocks, int tap) {
  if (blocks < 1 || blocks > 11)
    throw std::invalid_argument("mobilenet_v1 cut must be conv_pw_1 .. conv_pw_11");
  if (tap < 0 || tap >= blocks)
    throw std::invalid_argument("mobilenet_v1: the second cut must be deeper than the first (conv_pw_" +
                                std::to_string(tap) + " then conv_pw_" + std::to_string(blocks) + ")");
  return std::make_shared<MobileNetV1Impl>(blocks, tap);
}

}  // namespace mtfcdd
