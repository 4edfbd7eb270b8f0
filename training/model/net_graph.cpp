#include "net_graph.hpp"

#include <cmath>
#include <map>
#include <stdexcept>
#include <utility>

namespace mtfcdd {
namespace {

Attr int_attr(std::string name, int64_t v) {
  Attr a;
  a.name = std::move(name);
  a.kind = Attr::Kind::Int;
  a.i = v;
  return a;
}

Attr ints_attr(std::string name, std::vector<int64_t> v) {
  Attr a;
  a.name = std::move(name);
  a.kind = Attr::Kind::Ints;
  a.ints = std::move(v);
  return a;
}

Attr string_attr(std::string name, std::string v) {
  Attr a;
  a.name = std::move(name);
  a.kind = Attr::Kind::String;
  a.s = std::move(v);
  return a;
}

std::vector<int64_t> onnx_pads(const Pads& p) { return {p.top, p.left, p.bottom, p.right}; }

}  // namespace

NetGraph::NetGraph(Shape input, std::string input_name) {
  add_value(std::move(input_name), input);
}

NetGraph::Id NetGraph::add_value(std::string name, Shape s) {
  values_.push_back({std::move(name), s});
  return static_cast<Id>(values_.size() - 1);
}

NetGraph::Id NetGraph::add_node(std::string op, std::vector<Id> inputs,
                                std::vector<std::string> extra_inputs, Shape out,
                                std::vector<Attr> attrs) {
  GraphNode n;
  n.name = op + "_" + std::to_string(counter_++);
  n.op = std::move(op);
  for (Id i : inputs) n.inputs.push_back(values_.at(i).name);
  for (auto& e : extra_inputs) n.inputs.push_back(std::move(e));
  n.output = n.name + "_out";
  n.attrs = std::move(attrs);
  Id id = add_value(n.output, out);
  nodes_.push_back(std::move(n));
  return id;
}

std::string NetGraph::add_scalar(float v) {
  Initializer init{"const_" + std::to_string(counter_++), {1}, {v}};
  inits_.push_back(init);
  return init.name;
}

NetGraph::Id NetGraph::conv(Id x, const std::string& name, std::vector<float> weights, int64_t cout,
                            int64_t kh, int64_t kw, std::vector<float> bias, int64_t stride,
                            Pads pads, int64_t groups, int64_t dilation) {
  const Shape in = shape(x);
  if (groups < 1 || in.c % groups != 0 || cout % groups != 0)
    throw std::invalid_argument("conv " + name + ": channels not divisible by groups");
  const int64_t cin_g = in.c / groups;
  if (static_cast<int64_t>(weights.size()) != cout * cin_g * kh * kw)
    throw std::invalid_argument("conv " + name + ": weight size does not match its shape");
  if (!bias.empty() && static_cast<int64_t>(bias.size()) != cout)
    throw std::invalid_argument("conv " + name + ": bias size does not match its channels");
  if (dilation < 1) throw std::invalid_argument("conv " + name + ": dilation must be positive");
  // The kernel's footprint on the input; the multiply-adds stay kh x kw.
  const int64_t span_h = dilation * (kh - 1) + 1, span_w = dilation * (kw - 1) + 1;
  const Shape out{cout, (in.h + pads.top + pads.bottom - span_h) / stride + 1,
                  (in.w + pads.left + pads.right - span_w) / stride + 1};
  if (out.h <= 0 || out.w <= 0)
    throw std::invalid_argument("conv " + name + ": input too small for the kernel");

  std::vector<std::string> extra{name + ".weight"};
  inits_.push_back({name + ".weight", {cout, cin_g, kh, kw}, std::move(weights)});
  if (!bias.empty()) {
    extra.push_back(name + ".bias");
    inits_.push_back({name + ".bias", {cout}, std::move(bias)});
  }
  flops_ += 2 * cin_g * kh * kw * cout * out.h * out.w;
  return add_node("Conv", {x}, std::move(extra), out,
                  {ints_attr("kernel_shape", {kh, kw}), ints_attr("strides", {stride, stride}),
                   ints_attr("pads", onnx_pads(pads)), ints_attr("dilations", {dilation, dilation}),
                   int_attr("group", groups)});
}

NetGraph::Id NetGraph::relu(Id x) {
  const Shape s = shape(x);
  flops_ += s.c * s.h * s.w;
  return add_node("Relu", {x}, {}, s, {});
}

// min(relu(x), 6) as 6 - relu(6 - relu(x)): a chain of four element-wise nodes, each used
// once, which the detector runs as post-ops of the convolution before it. Opset 11's Clip, the
// obvious node, takes its bounds as inputs, which OpenCV 4.6's importer refuses.
NetGraph::Id NetGraph::relu6(Id x) {
  const Shape s = shape(x);
  flops_ += 2 * s.c * s.h * s.w;  // the two subtractions; relu() counts itself
  const auto six_minus = [&](Id v) { return add_node("Sub", {}, {add_scalar(6.f), value_name(v)}, s, {}); };
  return six_minus(relu(six_minus(relu(x))));
}

Shape NetGraph::pooled(const Shape& s, int64_t k, int64_t stride, const Pads& p) const {
  Shape out{s.c, (s.h + p.top + p.bottom - k) / stride + 1, (s.w + p.left + p.right - k) / stride + 1};
  if (out.h <= 0 || out.w <= 0) throw std::invalid_argument("pooling: input too small");
  return out;
}

NetGraph::Id NetGraph::max_pool(Id x, int64_t k, int64_t stride, Pads pads) {
  const Shape out = pooled(shape(x), k, stride, pads);
  flops_ += out.c * out.h * out.w * k * k;
  return add_node("MaxPool", {x}, {}, out,
                  {ints_attr("kernel_shape", {k, k}), ints_attr("strides", {stride, stride}),
                   ints_attr("pads", onnx_pads(pads))});
}

NetGraph::Id NetGraph::avg_pool(Id x, int64_t k, int64_t stride, Pads pads,
                                bool count_include_pad) {
  const Shape out = pooled(shape(x), k, stride, pads);
  flops_ += out.c * out.h * out.w * k * k;
  return add_node("AveragePool", {x}, {}, out,
                  {ints_attr("kernel_shape", {k, k}), ints_attr("strides", {stride, stride}),
                   ints_attr("pads", onnx_pads(pads)),
                   int_attr("count_include_pad", count_include_pad ? 1 : 0)});
}

NetGraph::Id NetGraph::concat(const std::vector<Id>& xs) {
  if (xs.empty()) throw std::invalid_argument("concat of nothing");
  Shape out = shape(xs.front());
  out.c = 0;
  for (Id x : xs) {
    const Shape& s = shape(x);
    if (s.h != out.h || s.w != out.w) throw std::invalid_argument("concat: spatial sizes differ");
    out.c += s.c;
  }
  return add_node("Concat", xs, {}, out, {int_attr("axis", 1)});
}

NetGraph::Id NetGraph::upsample_nearest(Id x, int64_t factor) {
  if (factor < 1) throw std::invalid_argument("upsample: the factor must be positive");
  const Shape s = shape(x);
  const Initializer roi{"const_" + std::to_string(counter_++), {0}, {}};  // unused by nearest, required by opset 11
  const Initializer scales{"const_" + std::to_string(counter_++), {4},
                           {1.f, 1.f, static_cast<float>(factor), static_cast<float>(factor)}};
  inits_.push_back(roi);
  inits_.push_back(scales);
  return add_node("Resize", {x}, {roi.name, scales.name}, {s.c, s.h * factor, s.w * factor},
                  {string_attr("mode", "nearest"), string_attr("coordinate_transformation_mode", "asymmetric"),
                   string_attr("nearest_mode", "floor")});
}

namespace {

// The float scale whose product with `from` floors to `to`, as ONNX computes Resize's output
// size from its scales; the smallest such above to / from, so that runtimes that map
// coordinates by the scale rather than by the sizes differ by float rounding only.
float resize_scale(int64_t from, int64_t to) {
  float f = static_cast<float>(to) / static_cast<float>(from);
  while (static_cast<int64_t>(std::floor(static_cast<float>(from) * f)) < to) f = std::nextafter(f, 2.f * f);
  return f;
}

}  // namespace

NetGraph::Id NetGraph::resize_bilinear(Id x, int64_t h, int64_t w) {
  if (h < 1 || w < 1) throw std::invalid_argument("resize: the size must be positive");
  const Shape s = shape(x);
  // Scales rather than sizes: sizes would fix the batch dimension too.
  const Initializer roi{"const_" + std::to_string(counter_++), {0}, {}};
  const Initializer scales{"const_" + std::to_string(counter_++), {4},
                           {1.f, 1.f, resize_scale(s.h, h), resize_scale(s.w, w)}};
  inits_.push_back(roi);
  inits_.push_back(scales);
  flops_ += 4 * s.c * h * w;
  return add_node("Resize", {x}, {roi.name, scales.name}, {s.c, h, w},
                  {string_attr("mode", "linear"), string_attr("coordinate_transformation_mode", "half_pixel")});
}

NetGraph::Id NetGraph::add(Id a, Id b) {
  const Shape sa = shape(a), sb = shape(b);
  if (sa.c != sb.c || sa.h != sb.h || sa.w != sb.w) throw std::invalid_argument("add: shapes differ");
  flops_ += sa.c * sa.h * sa.w;
  return add_node("Add", {a, b}, {}, sa, {});
}

NetGraph::Id NetGraph::scale(Id x, float factor) {
  const Shape s = shape(x);
  flops_ += s.c * s.h * s.w;
  return add_node("Mul", {x}, {add_scalar(factor)}, s, {});
}

NetGraph::Id NetGraph::scale_channels(Id x, const std::vector<float>& factors) {
  const Shape s = shape(x);
  if (static_cast<int64_t>(factors.size()) != s.c) throw std::invalid_argument("scale_channels: one factor per channel");
  const Initializer f{"const_" + std::to_string(counter_++), {1, s.c, 1, 1}, factors};
  inits_.push_back(f);
  flops_ += s.c * s.h * s.w;
  return add_node("Mul", {x}, {f.name}, s, {});
}

bool NetGraph::resamples() const {
  for (const GraphNode& n : nodes_)
    for (const Attr& a : n.attrs)
      if (n.op == "Resize" && a.name == "mode" && a.s == "linear") return true;
  return false;
}

NetGraph::Id NetGraph::pseudo_huber(Id x) {
  const Shape s = shape(x);
  flops_ += 5 * s.c * s.h * s.w;
  const Id x2 = add_node("Mul", {x, x}, {}, s, {});
  const Id t = add_node("Add", {x2}, {add_scalar(1.f)}, s, {});
  const Id r = add_node("Sqrt", {t}, {}, s, {});
  const Id d = add_node("Add", {r}, {add_scalar(1.f)}, s, {});
  return add_node("Div", {x2, d}, {}, s, {});
}

void NetGraph::mark_output(Id x, const std::string& name) {
  // Outputs carry the public name, so rename the value and every use of it.
  const std::string old = values_.at(x).name;
  for (auto& n : nodes_) {
    if (n.output == old) n.output = name;
    for (auto& in : n.inputs)
      if (in == old) in = name;
  }
  values_.at(x).name = name;
  outputs_.push_back({x, name});
}

namespace {

const Attr* find_attr(const GraphNode& n, const std::string& name) {
  for (const Attr& a : n.attrs)
    if (a.name == name) return &a;
  return nullptr;
}

// The node's kernel footprint, stride and leading pad along `axis`; kernel 0 when it has no kernel.
struct Window {
  int64_t span = 0, stride = 1, pad = 0;
};

Window window_of(const GraphNode& n, int axis) {
  const Attr* k = find_attr(n, "kernel_shape");
  if (!k) return {};
  const Attr* st = find_attr(n, "strides");
  const Attr* pads = find_attr(n, "pads");  // ONNX: top, left, bottom, right
  const Attr* dil = find_attr(n, "dilations");
  const int64_t d = dil ? dil->ints.at(axis) : 1;
  return {d * (k->ints.at(axis) - 1) + 1, st ? st->ints.at(axis) : 1, pads ? pads->ints.at(axis) : 0};
}

float scale_of(const NetGraph& g, const std::string& initializer, size_t i) {
  for (const Initializer& init : g.initializers())
    if (init.name == initializer) return init.data.at(i);
  throw std::invalid_argument("reception: no initializer " + initializer);
}

}  // namespace

Reception reception(const NetGraph& g, NetGraph::Id v, int axis) {
  if (axis != 0 && axis != 1) throw std::invalid_argument("reception: axis must be 0 or 1");
  std::map<std::string, Reception> at{{g.input_name(), Reception{}}};
  for (const GraphNode& n : g.nodes()) {
    const Reception* widest = nullptr;
    for (const std::string& in : n.inputs) {
      const auto it = at.find(in);  // initialisers (weights, constants) have no field
      if (it != at.end() && (!widest || it->second.size > widest->size)) widest = &it->second;
    }
    if (!widest) continue;
    Reception r = *widest;
    if (n.op == "Resize") {  // the factor is the scales initializer's (N, C, H, W) entry
      if (find_attr(n, "mode")->s == "linear")
        throw std::invalid_argument("reception: a bilinear resize mixes cells; they have no one field");
      const auto f = static_cast<int64_t>(scale_of(g, n.inputs.at(2), 2 + static_cast<size_t>(axis)));
      if (f < 1 || r.stride % f != 0)
        throw std::invalid_argument("reception: upsampling by " + std::to_string(f) + " a stride of " + std::to_string(r.stride));
      r.stride /= f;
      r.offset -= (f - 1) / 2.0 * static_cast<double>(r.stride);
    }
    const Window w = window_of(n, axis);
    if (w.span > 0) {
      r.offset += ((w.span - 1) / 2.0 - static_cast<double>(w.pad)) * static_cast<double>(r.stride);
      r.size += (w.span - 1) * r.stride;
      r.stride *= w.stride;
    }
    at[n.output] = r;
  }
  const auto it = at.find(g.value_name(v));
  if (it == at.end()) throw std::invalid_argument("reception: value " + g.value_name(v) + " is not computed from the input");
  return it->second;
}

}  // namespace mtfcdd
