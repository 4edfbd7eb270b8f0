#include "layers.hpp"

#include <variant>

#include "collective.hpp"

namespace mtfcdd {

torch::nn::Conv2d make_conv(int64_t cin, int64_t cout, int64_t k, int64_t stride, int64_t pad,
                            bool bias, int64_t groups, int64_t dilation) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(cin, cout, k)
                               .stride(stride)
                               .padding(pad)
                               .bias(bias)
                               .groups(groups)
                               .dilation(dilation));
}

torch::nn::BatchNorm2d make_bn(int64_t c, double eps) {
  return torch::nn::BatchNorm2d(torch::nn::BatchNorm2dOptions(c).eps(eps));
}

torch::Tensor apply_act(const torch::Tensor& x, Act act) {
  switch (act) {
    case Act::ReLU: return torch::relu(x);
    case Act::ReLU6: return torch::clamp(x, 0.0, 6.0);
  }
  return x;
}

NetGraph::Id emit_act(NetGraph& g, NetGraph::Id x, Act act) {
  switch (act) {
    case Act::ReLU: return g.relu(x);
    case Act::ReLU6: return g.relu6(x);
  }
  return x;
}

Pads conv_pads(const torch::nn::Conv2d& conv) {
  using std::get;  // the padding variant is c10's own before LibTorch 2.1, std's since: ADL finds either get
  const auto& p = get<torch::ExpandingArray<2>>(conv->options.padding());
  return {(*p)[0], (*p)[1], (*p)[0], (*p)[1]};
}

namespace {
std::vector<float> to_vector(const torch::Tensor& t) {
  const torch::Tensor c = t.detach().to(torch::kCPU, torch::kFloat).contiguous();
  return {c.data_ptr<float>(), c.data_ptr<float>() + c.numel()};
}
}  // namespace

NetGraph::Id emit_conv(NetGraph& g, NetGraph::Id x, const std::string& name,
                       const torch::nn::Conv2d& conv, const torch::nn::BatchNorm2d* bn, Pads pads,
                       float multiplier) {
  torch::NoGradGuard no_grad;
  const auto& o = conv->options;
  const int64_t cout = o.out_channels();
  torch::Tensor w = conv->weight.detach().to(torch::kDouble);
  torch::Tensor b = conv->bias.defined() ? conv->bias.detach().to(torch::kDouble)
                                         : torch::zeros({cout}, torch::kDouble);
  if (bn) {
    const auto& m = *bn;
    // Fold in double so the folded model matches the unfolded one to float precision.
    torch::Tensor scale = m->weight.detach().to(torch::kDouble) /
                          torch::sqrt(m->running_var.to(torch::kDouble) + m->options.eps());
    w = w * scale.view({-1, 1, 1, 1});
    b = (b - m->running_mean.to(torch::kDouble)) * scale + m->bias.detach().to(torch::kDouble);
  }
  w = w * multiplier;
  b = b * multiplier;
  const auto& k = *o.kernel_size();
  return g.conv(x, name, to_vector(w), cout, k[0], k[1], to_vector(b), (*o.stride())[0], pads,
                o.groups(), (*o.dilation())[0]);
}

BasicConv2dImpl::BasicConv2dImpl(int64_t cin, int64_t cout, int64_t k, int64_t stride,
                                 int64_t pad, double eps)
    : conv(register_module("conv", make_conv(cin, cout, k, stride, pad, false))),
      bn(register_module("bn", make_bn(cout, eps))) {}

torch::Tensor BasicConv2dImpl::forward(const torch::Tensor& x) {
  return torch::relu(batch_norm(*bn, conv->forward(x)));
}

NetGraph::Id BasicConv2dImpl::emit(NetGraph& g, NetGraph::Id x, const std::string& name) const {
  return g.relu(emit_conv(g, x, name, conv, &bn, conv_pads(conv)));
}

}  // namespace mtfcdd
