// Inception-ResNet-v2 stem, mixed_5b and the first 10 block35, as in timm's
// inception_resnet_v2 (same module tree, so its state-dict names load unchanged).
#include "backbone.hpp"
#include "layers.hpp"

namespace mtfcdd {
namespace {

using torch::nn::ModuleList;

ModuleList chain(std::initializer_list<BasicConv2d> convs) {
  ModuleList l;
  for (const auto& c : convs) l->push_back(c);
  return l;
}

torch::Tensor run_chain(const ModuleList& l, torch::Tensor x) {
  for (const auto& m : *l) x = m->as<BasicConv2dImpl>()->forward(x);
  return x;
}

NetGraph::Id emit_chain(const ModuleList& l, NetGraph& g, NetGraph::Id x, const std::string& name) {
  for (size_t i = 0; i < l->size(); ++i)
    x = l->at<BasicConv2dImpl>(i).emit(g, x, name + "." + std::to_string(i));
  return x;
}

class Mixed5bImpl : public torch::nn::Module {
 public:
  Mixed5bImpl()
      : branch0(register_module("branch0", BasicConv2d(192, 96, 1, 1, 0))),
        branch1(register_module("branch1", chain({BasicConv2d(192, 48, 1, 1, 0),
                                                  BasicConv2d(48, 64, 5, 1, 2)}))),
        branch2(register_module("branch2", chain({BasicConv2d(192, 64, 1, 1, 0),
                                                  BasicConv2d(64, 96, 3, 1, 1),
                                                  BasicConv2d(96, 96, 3, 1, 1)}))),
        branch3(register_module("branch3", ModuleList())) {
    // timm: Sequential(AvgPool2d(3, 1, 1, count_include_pad=False), BasicConv2d) -> "branch3.1".
    branch3->push_back(torch::nn::AvgPool2d(
        torch::nn::AvgPool2dOptions(3).stride(1).padding(1).count_include_pad(false)));
    branch3->push_back(BasicConv2d(192, 64, 1, 1, 0));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto pooled = torch::avg_pool2d(x, 3, 1, 1, false, false);
    return torch::cat({branch0->forward(x), run_chain(branch1, x), run_chain(branch2, x),
                       branch3[1]->as<BasicConv2dImpl>()->forward(pooled)},
                      1);
  }
  NetGraph::Id emit(NetGraph& g, NetGraph::Id x, const std::string& n) const {
    const auto pooled = g.avg_pool(x, 3, 1, Pads::same(1), false);
    return g.concat({branch0->emit(g, x, n + ".branch0"), emit_chain(branch1, g, x, n + ".branch1"),
                     emit_chain(branch2, g, x, n + ".branch2"),
                     branch3->at<BasicConv2dImpl>(1).emit(g, pooled, n + ".branch3.1")});
  }
  BasicConv2d branch0;
  ModuleList branch1, branch2, branch3;
};
TORCH_MODULE(Mixed5b);

class Block35Impl : public torch::nn::Module {
 public:
  explicit Block35Impl(double scale)
      : scale_(scale),
        branch0(register_module("branch0", BasicConv2d(320, 32, 1, 1, 0))),
        branch1(register_module("branch1", chain({BasicConv2d(320, 32, 1, 1, 0),
                                                  BasicConv2d(32, 32, 3, 1, 1)}))),
        branch2(register_module("branch2", chain({BasicConv2d(320, 32, 1, 1, 0),
                                                  BasicConv2d(32, 48, 3, 1, 1),
                                                  BasicConv2d(48, 64, 3, 1, 1)}))),
        conv2d(register_module("conv2d", make_conv(128, 320, 1, 1, 0, true))) {}
  torch::Tensor forward(const torch::Tensor& x) {
    auto out = torch::cat({branch0->forward(x), run_chain(branch1, x), run_chain(branch2, x)}, 1);
    return torch::relu(conv2d->forward(out) * scale_ + x);
  }
  NetGraph::Id emit(NetGraph& g, NetGraph::Id x, const std::string& n) const {
    const auto cat = g.concat({branch0->emit(g, x, n + ".branch0"),
                               emit_chain(branch1, g, x, n + ".branch1"),
                               emit_chain(branch2, g, x, n + ".branch2")});
    // The residual scale is folded into conv2d's weights and bias.
    const auto up = emit_conv(g, cat, n + ".conv2d", conv2d, nullptr, Pads{},
                              static_cast<float>(scale_));
    return g.relu(g.add(up, x));
  }

 private:
  double scale_;

 public:
  BasicConv2d branch0;
  ModuleList branch1, branch2;
  torch::nn::Conv2d conv2d;
};
TORCH_MODULE(Block35);

class Irv2BackboneImpl : public BackboneImpl {
 public:
  Irv2BackboneImpl()
      : conv2d_1a(register_module("conv2d_1a", BasicConv2d(3, 32, 3, 2, 0))),
        conv2d_2a(register_module("conv2d_2a", BasicConv2d(32, 32, 3, 1, 0))),
        conv2d_2b(register_module("conv2d_2b", BasicConv2d(32, 64, 3, 1, 1))),
        conv2d_3b(register_module("conv2d_3b", BasicConv2d(64, 80, 1, 1, 0))),
        conv2d_4a(register_module("conv2d_4a", BasicConv2d(80, 192, 3, 1, 0))),
        mixed_5b(register_module("mixed_5b", Mixed5b())),
        repeat(register_module("repeat", ModuleList())) {
    for (int i = 0; i < 10; ++i) repeat->push_back(Block35(0.17));
  }
  torch::Tensor forward(const torch::Tensor& input) override {
    auto x = conv2d_2b->forward(conv2d_2a->forward(conv2d_1a->forward(input)));
    x = torch::max_pool2d(x, 3, 2);
    x = conv2d_4a->forward(conv2d_3b->forward(x));
    x = mixed_5b->forward(torch::max_pool2d(x, 3, 2));
    for (const auto& b : *repeat) x = b->as<Block35Impl>()->forward(x);
    return x;
  }
  NetGraph::Id emit(NetGraph& g, NetGraph::Id x, const std::string& p) const override {
    x = conv2d_1a->emit(g, x, p + "conv2d_1a");
    x = conv2d_2a->emit(g, x, p + "conv2d_2a");
    x = conv2d_2b->emit(g, x, p + "conv2d_2b");
    x = g.max_pool(x, 3, 2, Pads{});
    x = conv2d_3b->emit(g, x, p + "conv2d_3b");
    x = conv2d_4a->emit(g, x, p + "conv2d_4a");
    x = mixed_5b->emit(g, g.max_pool(x, 3, 2, Pads{}), p + "mixed_5b");
    for (size_t i = 0; i < repeat->size(); ++i)
      x = repeat->at<Block35Impl>(i).emit(g, x, p + "repeat." + std::to_string(i));
    return x;
  }
  int64_t out_channels() const override { return 320; }

  BasicConv2d conv2d_1a, conv2d_2a, conv2d_2b, conv2d_3b, conv2d_4a;
  Mixed5b mixed_5b;
  ModuleList repeat;
};

}  // namespace

std::shared_ptr<BackboneImpl> make_irv2_backbone() { return std::make_shared<Irv2BackboneImpl>(); }

}  // namespace mtfcdd
