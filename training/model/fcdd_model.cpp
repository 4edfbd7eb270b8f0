#include "fcdd_model.hpp"

#include "collective.hpp"
#include "fcdd_math.hpp"
#include "layers.hpp"

#include <cmath>
#include <numeric>

namespace mtfcdd {

int64_t default_input_size(const std::string& preset) { return preset == "small" ? 224 : 299; }

ModelConfig resolved(ModelConfig cfg) {
  if (cfg.types < 1) throw std::invalid_argument("the model needs at least one defect type");
  if (cfg.head_channels < 1) throw std::invalid_argument("head channels must be positive");
  if (cfg.head_dilation < 1) throw std::invalid_argument("head dilation must be positive");
  if (cfg.members < 1 || cfg.members > 16)
    throw std::invalid_argument("members must be 1 .. 16, got " + std::to_string(cfg.members));
  if (cfg.input_size == 0) cfg.input_size = default_input_size(cfg.preset);
  if (cfg.input_size < 32 || cfg.input_size > 4096)
    throw std::invalid_argument("input size must be 32 .. 4096, got " + std::to_string(cfg.input_size));
  if (cfg.preset != "mobilenet_v1") {
    if (!cfg.second_cut.empty())
      throw std::invalid_argument("a second cut (maps from two depths) is for mobilenet_v1, not " + cfg.preset);
    cfg.cut.clear();
  }
  return cfg;
}

namespace {

// conv_pw_N -> N; 0 when it is not of that form.
int mobilenet_block(const std::string& cut) {
  const std::string prefix = "conv_pw_";
  if (cut.rfind(prefix, 0) == 0 && cut.size() > prefix.size() && cut.size() <= prefix.size() + 2 &&
      cut.find_first_not_of("0123456789", prefix.size()) == std::string::npos)
    return std::stoi(cut.substr(prefix.size()));
  return 0;
}

// The factor that brings a coarse grid to a fine one; the two-depth maps need a whole one.
int64_t upsample_factor(int64_t fine_h, int64_t fine_w, int64_t coarse_h, int64_t coarse_w) {
  const int64_t f = fine_h / coarse_h;
  if (f * coarse_h != fine_h || f * coarse_w != fine_w)
    throw std::invalid_argument("maps from two depths: the second cut's " + std::to_string(coarse_h) + "x" +
                                std::to_string(coarse_w) + " grid does not divide the first's " + std::to_string(fine_h) +
                                "x" + std::to_string(fine_w) + " (choose an input size that does, e.g. 224 or 320)");
  return f;
}

}  // namespace

std::shared_ptr<BackboneImpl> make_backbone(const std::string& preset, const std::string& cut,
                                            const std::string& second_cut) {
  if (preset == "irv2") return make_irv2_backbone();
  if (preset == "small") return make_small_backbone();
  if (preset == "mobilenet_v1") {
    const int first = mobilenet_block(cut);
    if (second_cut.empty()) return make_mobilenet_v1_backbone(first);
    const int deep = mobilenet_block(second_cut);
    if (deep < 2 || deep > 11) throw std::invalid_argument("mobilenet_v1 second cut must be conv_pw_2 .. conv_pw_11");
    if (first == 0) throw std::invalid_argument("mobilenet_v1 cut must be conv_pw_1 .. conv_pw_11");  // 0 taps nothing
    return make_mobilenet_v1_backbone(deep, first);
  }
  throw std::invalid_argument("unknown backbone preset '" + preset + "' (irv2, mobilenet_v1, small)");
}

FcddModelImpl::FcddModelImpl(const ModelConfig& cfg) : cfg_(resolved(cfg)) {
  backbone = register_module("backbone", make_backbone(cfg_.preset, cfg_.cut, cfg_.second_cut));
  const int64_t c = cfg_.head_channels, d = cfg_.head_dilation;
  const auto taps = backbone->tap_channels();
  const int64_t in = std::accumulate(taps.begin(), taps.end(), int64_t{0});
  conv1 = register_module("conv1", make_conv(in, c, 3, 1, d, false, 1, d));
  bn1 = register_module("bn1", make_bn(c, 1e-5));
  conv2 = register_module("conv2", make_conv(c, c, 3, 1, d, false, 1, d));
  bn2 = register_module("bn2", make_bn(c, 1e-5));
  out = register_module("out", make_conv(c, cfg_.types, 1, 1, 0, true));
  if (cfg_.members > 1) {
    ModelConfig one = cfg_;
    one.members = 1;
    others_ = register_module("members", torch::nn::ModuleList());
    for (int64_t j = 1; j < cfg_.members; ++j) others_->push_back(FcddModel(one));
  }
}

std::vector<FcddModelImpl*> FcddModelImpl::member_list() {
  std::vector<FcddModelImpl*> all{this};
  if (others_)
    for (const auto& m : *others_) all.push_back(m->as<FcddModelImpl>());
  return all;
}

std::vector<const FcddModelImpl*> FcddModelImpl::member_list() const {
  const auto all = const_cast<FcddModelImpl*>(this)->member_list();
  return {all.begin(), all.end()};
}

void FcddModelImpl::copy_network_from(const FcddModelImpl& other) {
  torch::NoGradGuard no_grad;
  const auto own = [](const std::string& name) { return name.rfind("members.", 0) != 0; };
  const auto params = other.named_parameters();
  const auto buffers = other.named_buffers();
  for (auto& p : named_parameters())
    if (own(p.key())) p.value().copy_(params[p.key()]);
  for (auto& b : named_buffers())
    if (own(b.key())) b.value().copy_(buffers[b.key()]);
}

void FcddModelImpl::append_members(const std::vector<FcddModel>& nets) {
  for (const auto& n : nets) {
    const ModelConfig& c = n->config();
    if (c.members != 1) throw std::invalid_argument("append_members: each network must be one member");
    if (c.preset != cfg_.preset || c.cut != cfg_.cut || c.second_cut != cfg_.second_cut || c.types != cfg_.types)
      throw std::invalid_argument("an ensemble's networks must share the backbone (preset, cut) and the types: " +
                                  c.preset + ", " + std::to_string(c.types) + " types against " + cfg_.preset + ", " +
                                  std::to_string(cfg_.types) + " types");
    if (!others_) others_ = register_module("members", torch::nn::ModuleList());
    others_->push_back(n);
    ++cfg_.members;
  }
  type_weights_.clear();
}

void FcddModelImpl::set_type_weights(std::vector<std::vector<float>> w) {
  const auto bad = [](const std::string& why) { throw std::invalid_argument("type weights: " + why); };
  if (w.empty()) {
    type_weights_.clear();
    return;
  }
  if (static_cast<int64_t>(w.size()) != cfg_.members) bad("one row per member is needed");
  for (int64_t k = 0; k < cfg_.types; ++k) {
    double sum = 0;
    for (const auto& row : w) {
      if (static_cast<int64_t>(row.size()) != cfg_.types) bad("one share per type is needed");
      if (!(row[static_cast<size_t>(k)] >= 0)) bad("a share is negative");
      sum += row[static_cast<size_t>(k)];
    }
    if (std::abs(sum - 1) > 1e-4) bad("type " + std::to_string(k) + "'s shares sum to " + std::to_string(sum));
  }
  type_weights_ = std::move(w);
}

FcddModel joined(const std::vector<FcddModel>& models) {
  std::vector<FcddModel> nets;
  for (const auto& m : models)
    for (const auto* net : m->member_list()) {
      ModelConfig one = net->config();
      one.members = 1;
      nets.emplace_back(one);
      nets.back()->copy_network_from(*net);
    }
  if (nets.empty()) throw std::invalid_argument("joined: no networks");
  FcddModel first = nets.front();
  first->append_members({nets.begin() + 1, nets.end()});
  return first;
}

torch::Tensor FcddModelImpl::features(const torch::Tensor& x) {
  auto taps = backbone->forward_taps(x);
  const torch::Tensor& fine = taps.front();
  for (size_t i = 1; i < taps.size(); ++i) {
    upsample_factor(fine.size(2), fine.size(3), taps[i].size(2), taps[i].size(3));  // what the graph could not export
    namespace F = torch::nn::functional;
    taps[i] = F::interpolate(taps[i], F::InterpolateFuncOptions()
                                          .size(std::vector<int64_t>{fine.size(2), fine.size(3)})
                                          .mode(torch::kNearest));
  }
  return taps.size() == 1 ? taps.front() : torch::cat(taps, 1);
}

NetGraph::Id FcddModelImpl::emit_features(NetGraph& g, NetGraph::Id x, const std::string& prefix) const {
  auto taps = backbone->emit_taps(g, x, prefix);
  const Shape fine = g.shape(taps.front());
  for (size_t i = 1; i < taps.size(); ++i) {
    const Shape coarse = g.shape(taps[i]);
    taps[i] = g.upsample_nearest(taps[i], upsample_factor(fine.h, fine.w, coarse.h, coarse.w));
  }
  return taps.size() == 1 ? taps.front() : g.concat(taps);
}

torch::Tensor FcddModelImpl::forward_one(const torch::Tensor& x) {
  auto f = features(x);
  f = torch::relu(batch_norm(*bn1, conv1->forward(f)));
  f = torch::relu(batch_norm(*bn2, conv2->forward(f)));
  return out->forward(f);
}

torch::Tensor FcddModelImpl::forward(const torch::Tensor& x) {
  std::vector<torch::Tensor> phis;
  for (auto* m : member_list()) phis.push_back(m->forward_one(x));
  return phis.size() == 1 ? phis.front() : torch::cat(phis, 1);
}

namespace {

torch::Tensor resized(const torch::Tensor& x, int64_t h, int64_t w) {
  if (x.size(2) == h && x.size(3) == w) return x;
  namespace F = torch::nn::functional;
  return F::interpolate(x, F::InterpolateFuncOptions()
                               .size(std::vector<int64_t>{h, w})
                               .mode(torch::kBilinear)
                               .align_corners(false));
}

}  // namespace

torch::Tensor FcddModelImpl::maps(const torch::Tensor& x) {
  const auto members = member_list();
  torch::Tensor sum;
  for (size_t j = 0; j < members.size(); ++j) {
    const int64_t side = members[j]->cfg_.input_size;
    auto a = pseudo_huber(members[j]->forward_one(resized(x, side, side)));
    if (j > 0) a = resized(a, sum.size(2), sum.size(3));
    if (!type_weights_.empty())
      a = a * torch::tensor(type_weights_[j], a.options()).view({1, cfg_.types, 1, 1});
    sum = j == 0 ? a : sum + a;
  }
  if (type_weights_.empty() && members.size() > 1) sum = sum / static_cast<double>(members.size());
  return sum;
}

void FcddModelImpl::train(bool on) {
  torch::nn::Module::train(on);  // reaches the other members' train() too
  if (frozen_) backbone->eval();
}

void FcddModelImpl::set_backbone_frozen(bool frozen) {
  for (auto* m : member_list()) {
    m->frozen_ = frozen;
    for (auto& p : m->backbone->parameters()) p.set_requires_grad(!frozen);
  }
  train(is_training());
}

NetGraph::Id FcddModelImpl::emit_maps(NetGraph& g, NetGraph::Id x, const std::string& prefix) const {
  x = emit_features(g, x, prefix + "backbone.");
  x = g.relu(emit_conv(g, x, prefix + "conv1", conv1, &bn1, conv_pads(conv1)));
  x = g.relu(emit_conv(g, x, prefix + "conv2", conv2, &bn2, conv_pads(conv2)));
  return g.pseudo_huber(emit_conv(g, x, prefix + "out", out, nullptr, Pads{}));
}

NetGraph FcddModelImpl::own_graph() const {
  NetGraph g({3, cfg_.input_size, cfg_.input_size}, "image");
  g.mark_output(emit_maps(g, g.input(), ""), "anomaly_maps");
  return g;
}

NetGraph FcddModelImpl::to_graph() const {
  NetGraph g({3, cfg_.input_size, cfg_.input_size}, "image");
  const auto members = member_list();
  NetGraph::Id maps = -1;
  for (size_t j = 0; j < members.size(); ++j) {
    const int64_t side = members[j]->cfg_.input_size;
    const NetGraph::Id x = side == cfg_.input_size ? g.input() : g.resize_bilinear(g.input(), side, side);
    auto a = members[j]->emit_maps(g, x, j == 0 ? "" : "members." + std::to_string(j - 1) + ".");
    if (j > 0 && (g.shape(a).h != g.shape(maps).h || g.shape(a).w != g.shape(maps).w))
      a = g.resize_bilinear(a, g.shape(maps).h, g.shape(maps).w);
    if (!type_weights_.empty()) a = g.scale_channels(a, type_weights_[j]);
    maps = j == 0 ? a : g.add(maps, a);
  }
  if (type_weights_.empty() && members.size() > 1) maps = g.scale(maps, 1.f / static_cast<float>(members.size()));
  // The maps only: hosts take z as their mean after flip averaging, so a "scores" output would be
  // computed and never read.
  g.mark_output(maps, "anomaly_maps");
  return g;
}

void to_channels_last(torch::nn::Module& m) {
  torch::NoGradGuard no_grad;
  for (auto& p : m.parameters())
    if (p.dim() == 4) p.set_data(channels_last(p));
}

torch::Tensor channels_last(const torch::Tensor& x) { return x.contiguous(at::MemoryFormat::ChannelsLast); }

ParameterCounts count_parameters(const FcddModelImpl& m) {
  ParameterCounts c;
  for (const auto& p : m.parameters()) {
    c.total += p.numel();
    if (p.requires_grad()) c.trainable += p.numel();
  }
  for (const auto* member : m.member_list())
    for (const auto& p : member->backbone->parameters()) c.backbone += p.numel();
  c.head = c.total - c.backbone;
  return c;
}

}  // namespace mtfcdd
