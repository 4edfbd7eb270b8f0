#include "fcdd_model.hpp"

#include "layers.hpp"

namespace mtfcdd {

int64_t default_input_size(const std::string& preset) { return preset == "small" ? 224 : 299; }

ModelConfig resolved(ModelConfig cfg) {
  if (cfg.types < 1) throw std::invalid_argument("the model needs at least one defect type");
  if (cfg.head_channels < 1) throw std::invalid_argument("head channels must be positive");
  if (cfg.head_dilation < 1) throw std::invalid_argument("head dilation must be positive");
  if (cfg.input_size == 0) cfg.input_size = default_input_size(cfg.preset);
  if (cfg.input_size < 32 || cfg.input_size > 4096)
    throw std::invalid_argument("input size must be 32 .. 4096, got " + std::to_string(cfg.input_size));
  if (cfg.preset != "mobilenet_v1") cfg.cut.clear();
  return cfg;
}

std::shared_ptr<BackboneImpl> make_backbone(const std::string& preset, const std::string& cut) {
  if (preset == "irv2") return make_irv2_backbone();
  if (preset == "small") return make_small_backbone();
  if (preset == "mobilenet_v1") {
    const std::string prefix = "conv_pw_";
    int n = 0;
    if (cut.rfind(prefix, 0) == 0 && cut.size() > prefix.size() && cut.size() <= prefix.size() + 2 &&
        cut.find_first_not_of("0123456789", prefix.size()) == std::string::npos)
      n = std::stoi(cut.substr(prefix.size()));
    return make_mobilenet_v1_backbone(n);
  }
  throw std::invalid_argument("unknown backbone preset '" + preset + "' (irv2, mobilenet_v1, small)");
}

FcddModelImpl::FcddModelImpl(const ModelConfig& cfg) : cfg_(resolved(cfg)) {
  backbone = register_module("backbone", make_backbone(cfg_.preset, cfg_.cut));
  const int64_t c = cfg_.head_channels, d = cfg_.head_dilation;
  conv1 = register_module("conv1", make_conv(backbone->out_channels(), c, 3, 1, d, false, 1, d));
  bn1 = register_module("bn1", make_bn(c, 1e-5));
  conv2 = register_module("conv2", make_conv(c, c, 3, 1, d, false, 1, d));
  bn2 = register_module("bn2", make_bn(c, 1e-5));
  out = register_module("out", make_conv(c, cfg_.types, 1, 1, 0, true));
}

torch::Tensor FcddModelImpl::forward(const torch::Tensor& x) {
  auto f = backbone->forward(x);
  f = torch::relu(bn1->forward(conv1->forward(f)));
  f = torch::relu(bn2->forward(conv2->forward(f)));
  return out->forward(f);
}

void FcddModelImpl::train(bool on) {
  torch::nn::Module::train(on);
  if (frozen_) backbone->eval();
}

void FcddModelImpl::set_backbone_frozen(bool frozen) {
  frozen_ = frozen;
  for (auto& p : backbone->parameters()) p.set_requires_grad(!frozen);
  train(is_training());
}

NetGraph FcddModelImpl::to_graph() const {
  NetGraph g({3, cfg_.input_size, cfg_.input_size}, "image");
  auto x = backbone->emit(g, g.input(), "backbone.");
  x = g.relu(emit_conv(g, x, "conv1", conv1, &bn1, conv_pads(conv1)));
  x = g.relu(emit_conv(g, x, "conv2", conv2, &bn2, conv_pads(conv2)));
  const auto maps = g.pseudo_huber(emit_conv(g, x, "out", out, nullptr, Pads{}));
  const auto scores = g.spatial_mean(maps);
  g.mark_output(maps, "anomaly_maps");
  g.mark_output(scores, "scores");
  return g;
}

ParameterCounts count_parameters(const FcddModelImpl& m) {
  ParameterCounts c;
  for (const auto& p : m.parameters()) {
    c.total += p.numel();
    if (p.requires_grad()) c.trainable += p.numel();
  }
  for (const auto& p : m.backbone->parameters()) c.backbone += p.numel();
  c.head = c.total - c.backbone;
  return c;
}

}  // namespace mtfcdd
