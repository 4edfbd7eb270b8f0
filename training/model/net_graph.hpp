// A small inference-graph description, free of torch and protobuf: the trained modules emit
// into it (BatchNorm already folded), the ONNX writer serialises it, and `info` counts its
// parameters and FLOPs. Shapes are per sample; the batch dimension stays dynamic.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mtfcdd {

struct Shape {
  int64_t c = 0, h = 0, w = 0;
};

// Explicit padding, ONNX order (top, left, bottom, right); asymmetric for TF "SAME".
struct Pads {
  int64_t top = 0, left = 0, bottom = 0, right = 0;
  static Pads same(int64_t p) { return {p, p, p, p}; }
};

struct Attr {
  enum class Kind { Int, Float, Ints, String };
  std::string name;
  Kind kind = Kind::Int;
  int64_t i = 0;
  float f = 0.f;
  std::vector<int64_t> ints;
  std::string s;
};

struct Initializer {
  std::string name;
  std::vector<int64_t> dims;
  std::vector<float> data;
};

struct GraphNode {
  std::string op;
  std::string name;
  std::vector<std::string> inputs;
  std::string output;
  std::vector<Attr> attrs;
};

class NetGraph {
 public:
  using Id = int;  // index of a value (tensor) in the graph

  NetGraph(Shape input, std::string input_name);

  Id input() const { return 0; }
  const Shape& shape(Id v) const { return values_.at(v).shape; }
  const std::string& value_name(Id v) const { return values_.at(v).name; }

  // weights: [cout, cin/groups, kh, kw] row-major; bias may be empty.
  Id conv(Id x, const std::string& name, std::vector<float> weights, int64_t cout, int64_t kh,
          int64_t kw, std::vector<float> bias, int64_t stride, Pads pads, int64_t groups = 1,
          int64_t dilation = 1);
  Id relu(Id x);
  // min(max(x, 0), 6) as relu(x) - relu(x - 6): OpenCV 4.6 cannot import opset-11 Clip.
  Id relu6(Id x);
  Id max_pool(Id x, int64_t k, int64_t stride, Pads pads);
  Id avg_pool(Id x, int64_t k, int64_t stride, Pads pads, bool count_include_pad);
  Id concat(const std::vector<Id>& xs);
  // Each cell repeated factor x factor times (ONNX Resize, nearest, asymmetric, floor: what
  // LibTorch's nearest interpolation computes).
  Id upsample_nearest(Id x, int64_t factor);
  // To h x w (ONNX Resize, linear, half_pixel: LibTorch's bilinear without align_corners).
  Id resize_bilinear(Id x, int64_t h, int64_t w);
  Id add(Id a, Id b);
  Id scale(Id x, float factor);
  // Channel c times factors[c].
  Id scale_channels(Id x, const std::vector<float>& factors);
  // A = x^2 / (sqrt(x^2 + 1) + 1): pseudo-Huber without the float32 cancellation.
  Id pseudo_huber(Id x);
  void mark_output(Id x, const std::string& name);

  const std::string& input_name() const { return values_.front().name; }
  const Shape& input_shape() const { return values_.front().shape; }
  const std::vector<GraphNode>& nodes() const { return nodes_; }
  const std::vector<Initializer>& initializers() const { return inits_; }
  struct Output {
    Id id;
    std::string name;  // an [N,C,H,W] tensor
  };
  const std::vector<Output>& outputs() const { return outputs_; }

  // Multiply-adds count twice; convolutions dominate, elementwise ops are counted once each.
  int64_t flops() const { return flops_; }
  // Whether a bilinear resize is in the graph: its cells then have no single receptive field.
  bool resamples() const;

 private:
  struct Value {
    std::string name;
    Shape shape;
  };
  Id add_value(std::string name, Shape s);
  Id add_node(std::string op, std::vector<Id> inputs, std::vector<std::string> extra_inputs,
              Shape out, std::vector<Attr> attrs);
  std::string add_scalar(float v);
  Shape pooled(const Shape& s, int64_t k, int64_t stride, const Pads& p) const;

  std::vector<Value> values_;
  std::vector<GraphNode> nodes_;
  std::vector<Initializer> inits_;
  std::vector<Output> outputs_;
  int64_t flops_ = 0;
  int counter_ = 0;
};

// FCDD's receptive-field arithmetic (their RecConv2d) along one axis of the input: value v's cell i
// sees `size` input pixels centred on i * stride + offset (input pixel centres at 0, 1, ...).
// Conv and pooling nodes grow it (size += (span - 1) * stride, offset += ((span - 1) / 2 - pad) *
// stride, stride *= the node's); a node of several inputs (Add, Concat, Sub) takes its widest.
// Upsampling by f divides the stride by f (it must divide) and centres each cell's f x f copies
// on the cell (offset -= (f - 1) / 2 x the new stride); the size stays.
struct Reception {
  int64_t size = 1, stride = 1;
  double offset = 0;
  bool operator==(const Reception& o) const { return size == o.size && stride == o.stride && offset == o.offset; }
};
// axis 0: vertical (H), 1: horizontal (W). Throws std::invalid_argument for another axis and for a
// graph that resamples (NetGraph::resamples).
Reception reception(const NetGraph& g, NetGraph::Id v, int axis);

}  // namespace mtfcdd
