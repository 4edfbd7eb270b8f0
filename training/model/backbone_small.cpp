// A compact stride-8 fully convolutional backbone for training from scratch on a CPU.
#include "backbone.hpp"
#include "layers.hpp"

namespace mtfcdd {
namespace {

class SmallBackboneImpl : public BackboneImpl {
 public:
  SmallBackboneImpl() : features(register_module("features", torch::nn::ModuleList())) {
    const int64_t spec[][3] = {{3, 32, 2}, {32, 32, 1}, {32, 64, 2}, {64, 64, 1}, {64, 128, 2}, {128, 128, 1}};
    for (const auto& s : spec) features->push_back(BasicConv2d(s[0], s[1], 3, s[2], 1, 1e-5));
  }
  torch::Tensor forward(const torch::Tensor& input) override {
    torch::Tensor x = input;
    for (const auto& m : *features) x = m->as<BasicConv2dImpl>()->forward(x);
    return x;
  }
  NetGraph::Id emit(NetGraph& g, NetGraph::Id x, const std::string& p) const override {
    for (size_t i = 0; i < features->size(); ++i)
      x = features->at<BasicConv2dImpl>(i).emit(g, x, p + "features." + std::to_string(i));
    return x;
  }
  int64_t out_channels() const override { return 128; }

  torch::nn::ModuleList features;
};

}  // namespace

std::shared_ptr<BackboneImpl> make_small_backbone() { return std::make_shared<SmallBackboneImpl>(); }

}  // namespace mtfcdd
