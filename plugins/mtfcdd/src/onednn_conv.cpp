#include "onednn_conv.hpp"

#include "onednn_layers.hpp"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <limits>
#include <cmath>
#include <set>
#include <opencv2/dnn/all_layers.hpp>
#include <opencv2/dnn/layer.hpp>
#include <tuple>
#include <vector>

namespace mtfcdd {

const char* const kOneDnnConvType = "OneDnnConvolution";
const char* const kOneDnnPaddingType = "OneDnnPadding";

namespace {

using namespace onednn;

// The post-op that computes `layer`, if it is one of those.
std::optional<PostOp> post_op_of(const cv::Ptr<cv::dnn::Layer>& layer) {
  if (const auto relu = layer.dynamicCast<cv::dnn::ReLULayer>()) return PostOp{PostOp::Kind::Relu, relu->negativeSlope, 0.f};
  if (const auto clip = layer.dynamicCast<cv::dnn::ReLU6Layer>()) return PostOp{PostOp::Kind::Clip, clip->minValue, clip->maxValue};
  if (const auto power = layer.dynamicCast<cv::dnn::PowerLayer>(); power && power->power == 1.f)
    return PostOp{PostOp::Kind::Linear, power->scale, power->shift};
  return std::nullopt;
}

dnnl::algorithm algorithm_of(PostOp::Kind kind) {
  switch (kind) {
    case PostOp::Kind::Relu: return dnnl::algorithm::eltwise_relu;
    case PostOp::Kind::Clip: return dnnl::algorithm::eltwise_clip;
    case PostOp::Kind::Linear: break;
  }
  return dnnl::algorithm::eltwise_linear;
}

// A padding layer fused into the convolution after it (OneDnnPaddingLayer).
struct Padded {
  memory::dims begin, end;  // the padding layer's, on H and W
  bool own_src_blocked;     // the convolution's input layout before it was fused
};

class OneDnnConvLayer final : public BlockedLayer {
 public:
  OneDnnConvLayer(const cv::dnn::LayerParams& params, cv::Ptr<cv::dnn::BaseConvolutionLayer> opencv)
      : BlockedLayer(params, opencv), opencv_(std::move(opencv)), groups_(params.get<int>("group", 1)) {
    type = kOneDnnConvType;
  }

  // bfloat16 inputs and weights (see BundleManifest::precision); fixed before the first forward.
  void set_bf16(bool on) {
    bf16_ = on;
    plans_.clear();
  }
  // 8-bit inputs quantized over `range`, 8-bit weights; fixed before the first forward.
  void set_int8(const Int8Range& range) {
    int8_ = range;
    plans_.clear();
  }
  // While on, each forward widens recorded() to the input's values (float32 runs only).
  void set_recording(bool on) {
    recording_ = on;
    if (on) recorded_ = {std::numeric_limits<float>::max(), std::numeric_limits<float>::lowest()};
  }
  Int8Range recorded() const { return recorded_; }
  size_t packed_weights() const { return weights_.size(); }

  // Nothing is left to OpenCV's convolution, whose finalize would pack a copy of the weights.
  void finalize(cv::InputArrayOfArrays, cv::OutputArrayOfArrays) override {}

  // OpenCV offers the layers that follow, one at a time while each has one consumer: ReLUs,
  // clips and affine maps run as post-ops on the convolution's output while it is still in
  // cache (a ReLU6 exported as ReLU, 6 - x, ReLU, 6 - x is one pass instead of four).
  bool tryFuse(cv::Ptr<cv::dnn::Layer>& top) override {
    const std::optional<PostOp> op = post_op_of(top);
    if (op) post_ops_.push_back(*op);
    return op.has_value();
  }
  // Layer::unsetAttached, before OpenCV sets the network up again, drops what was fused.
  bool setActivation(const cv::Ptr<cv::dnn::ActivationLayer>& layer) override {
    if (!layer) {
      post_ops_.clear();
      if (padded_) set_layouts(padded_->own_src_blocked, dst_blocked_);
      padded_.reset();
    }
    return false;
  }

  // The padding layer before this one (OneDnnPaddingLayer) was fused into it: from now on the
  // input is that layer's, unpadded, in its layout, and oneDNN pads it on the fly.
  void take_padding(const memory::dims& begin, const memory::dims& end, bool src_blocked) {
    padded_ = Padded{begin, end, src_blocked_};
    set_layouts(src_blocked, dst_blocked_);
  }

  void forward(cv::InputArrayOfArrays inputs_arr, cv::OutputArrayOfArrays outputs_arr,
               cv::OutputArrayOfArrays) override {
    std::vector<cv::Mat> inputs, outputs;
    inputs_arr.getMatVector(inputs);
    outputs_arr.getMatVector(outputs);
    if (inputs.size() != 1 || outputs.size() != 1)
      CV_Error(cv::Error::StsBadArg, "convolution '" + name + "' expects one input and one output");
    const cv::Mat& src = inputs[0];
    cv::Mat& dst = outputs[0];
    if (src.dims != 4 || src.type() != CV_32F || !src.isContinuous() || !dst.isContinuous() ||
        src.size[1] != blobs[0].size[1] * groups_)
      CV_Error(cv::Error::StsBadArg, "convolution '" + name + "': the input is not a continuous float32 NCHW " +
                                         "blob with " + std::to_string(blobs[0].size[1] * groups_) + " channels");
    if (recording_) {
      double lo = 0, hi = 0;
      cv::minMaxIdx(src.reshape(1, 1), &lo, &hi);
      recorded_ = {std::min(recorded_.min, static_cast<float>(lo)), std::max(recorded_.max, static_cast<float>(hi))};
    }
    const OmpThreads threads(threads_);
    try {
      Plan& p = plan_for(src, dst, threads.threads());
      const dnnl::engine& eng = cpu_engine();
      memory plain_src(p.plain_src, eng, src.data), plain_dst(p.plain_dst, eng, dst.data);
      memory conv_src = p.src ? memory(p.src, eng, Scratch::src().get(p.src.get_size())) : plain_src;
      memory conv_dst = p.dst ? memory(p.dst, eng, Scratch::dst().get(p.dst.get_size())) : plain_dst;
      if (p.src) p.to_src.execute(stream_, plain_src, conv_src);
      p.conv.execute(stream_, with_scratchpad(p.scratchpad, {{DNNL_ARG_SRC, conv_src},
                                                            {DNNL_ARG_WEIGHTS, p.weights},
                                                            {DNNL_ARG_BIAS, p.bias ? p.bias : bias_},
                                                            {DNNL_ARG_DST, conv_dst}}));
      if (p.dst) p.from_dst.execute(stream_, conv_dst, plain_dst);
      stream_.wait();
    } catch (const dnnl::error& e) {
      CV_Error(cv::Error::StsError, "oneDNN convolution '" + name + "' failed: " + e.what());
    }
  }

 private:
  // One input shape's primitive. plain_src/plain_dst: what OpenCV's blobs hold (NCHW, or the
  // blocked layout where set_layouts says so); src/dst: the layouts oneDNN chose, with the
  // reorders from and to the blobs; empty where it works on the blobs as they are.
  struct Plan {
    std::string impl;  // oneDNN's name of the implementation
    dnnl::convolution_forward conv;
    memory::desc scratchpad;
    memory::desc plain_src, plain_dst, src, dst;
    memory weights;
    memory bias;  // int8: the bias in the scaled domain of the sums; else empty (bias_ serves)
    dnnl::reorder to_src, from_dst;
  };
  // The batch is dynamic, and oneDNN splits the work for a thread count when it creates the
  // primitive: a plan per (input shape, threads, fused activations).
  using PlanKey = std::tuple<std::vector<int>, int, std::vector<PostOp>>;
  struct PackedWeights {
    memory weights;
    std::vector<float> scales;  // int8's per output channel; empty for float32 and bf16
  };

  void layouts_changed() override { plans_.clear(); }

  Plan& plan_for(const cv::Mat& src, const cv::Mat& dst, int threads) {
    PlanKey key{std::vector<int>(src.size.p, src.size.p + 4), threads, post_ops_};
    auto it = plans_.find(key);
    if (it == plans_.end()) it = plans_.emplace(std::move(key), make_plan(src, dst)).first;
    return it->second;
  }

  Plan make_plan(const cv::Mat& src, const cv::Mat& dst) {
    // bf16 and int8 where oneDNN has a real kernel for this shape; its reference one is far
    // slower than float32 (the 3-channel first layer, say). A convolution that Winograd runs
    // stays float32 in a bf16 bundle: irv2 took 41-42 ms that way against 44-45 ms with bf16
    // everywhere; int8 ones stay int8 (26-28 against 40-47 ms; docs/performance.md).
    if ((bf16_ && !winograd_fits()) || int8_) {
      Plan p = int8_ ? make_int8_plan(src, dst) : make_plan(src, dst, memory::data_type::bf16);
      if (p.impl.rfind("ref", 0) != 0) return p;
    }
    return make_plan(src, dst, kF32);
  }

  // u8 or s8 inputs scaled so that the calibrated range fills them, s8 weights scaled per output
  // channel, s32 sums scaled back to float32 with the bias and ReLUs applied on the way out.
  Plan make_int8_plan(const cv::Mat& src, const cv::Mat& dst) {
    const bool is_unsigned = int8_->min >= 0;
    const float src_scale = int8_input_scale(*int8_);
    const std::vector<float> w_scales = weight_scales();
    std::vector<float> out_scales(w_scales.size());
    for (size_t o = 0; o < w_scales.size(); ++o) out_scales[o] = 1.f / (src_scale * w_scales[o]);
    const memory::dims src_dims = dims_of(src), dst_dims = dims_of(dst);
    const memory::desc bias_desc({dst.size[1]}, kF32, Tag::x);
    const auto pd = conv_pd(memory::desc(src_dims, is_unsigned ? memory::data_type::u8 : memory::data_type::s8, Tag::any),
                            memory::data_type::s8, blobs.size() > 1 ? bias_desc : memory::desc(),
                            memory::desc(dst_dims, kF32, Tag::any), out_scales);  // int8 kernels write NHWC
    Plan p = plan_of(pd, src_dims, dst_dims);
    const dnnl::engine& eng = cpu_engine();
    p.src = pd.src_desc();
    dnnl::primitive_attr quantize;
    quantize.set_output_scales(0, {src_scale});
    p.to_src = dnnl::reorder(dnnl::reorder::primitive_desc(eng, p.plain_src, eng, p.src, quantize));
    p.weights = weights_in(pd.weights_desc(), w_scales);
    if (blobs.size() > 1) {
      // oneDNN 2.x scales the sum and the bias together: the bias goes in the sums' units.
      p.bias = memory(bias_desc, eng);
      float* b = static_cast<float*>(p.bias.get_data_handle());
      for (size_t o = 0; o < w_scales.size(); ++o) b[o] = blobs[1].ptr<float>()[o] * src_scale * w_scales[o];
    }
    return p;
  }

  // The primitive between `src` and `dst` (their types and layouts), with the fused ReLUs and, for
  // int8, the per-output-channel scales of the sums.
  dnnl::convolution_forward::primitive_desc conv_pd(const memory::desc& src, memory::data_type weights,
                                                    const memory::desc& bias, const memory::desc& dst,
                                                    const std::vector<float>& out_scales = {},
                                                    dnnl::algorithm alg = dnnl::algorithm::convolution_direct) const {
    memory::dims dilates;
    for (size_t d : opencv_->dilations) dilates.push_back(static_cast<memory::dim>(d) - 1);  // oneDNN: 0 = dense
    const dnnl::convolution_forward::desc desc(
        dnnl::prop_kind::forward_inference, alg, src,
        memory::desc(weight_dims(), weights, Tag::any), bias, dst, to_dims(opencv_->strides), dilates,
        pads(opencv_->pads_begin, &Padded::begin), pads(opencv_->pads_end, &Padded::end));
    dnnl::post_ops ops;
    for (const PostOp& op : simplified(post_ops_)) ops.append_eltwise(1.f, algorithm_of(op.kind), op.alpha, op.beta);
    dnnl::primitive_attr attr = user_scratchpad();
    if (!out_scales.empty()) attr.set_output_scales(1 << 1, out_scales);  // dst dimension 1: the channels
    attr.set_post_ops(ops);
    return {desc, attr, cpu_engine()};
  }

  // A plan of `pd` between the blobs' own layouts, with the reorder from its output where it
  // chose another.
  Plan plan_of(const dnnl::convolution_forward::primitive_desc& pd, const memory::dims& src_dims,
               const memory::dims& dst_dims) const {
    Plan p;
    p.impl = pd.impl_info_str();
    p.conv = dnnl::convolution_forward(pd);
    p.scratchpad = pd.scratchpad_desc();
    p.plain_src = blob_desc(src_dims, src_blocked_);
    p.plain_dst = blob_desc(dst_dims, dst_blocked_);
    if (pd.dst_desc() != p.plain_dst) {
      p.dst = pd.dst_desc();
      p.from_dst = dnnl::reorder({cpu_engine(), p.dst, cpu_engine(), p.plain_dst});
    }
    return p;
  }

  // Per output channel: 127 over the largest weight magnitude (1 for an all-zero channel).
  std::vector<float> weight_scales() const {
    const cv::Mat w = blobs[0].reshape(1, blobs[0].size[0]);
    std::vector<float> out(w.rows);
    for (int o = 0; o < w.rows; ++o) {
      double lo = 0, hi = 0;
      cv::minMaxIdx(w.row(o), &lo, &hi);
      const double m = std::max(std::abs(lo), std::abs(hi));
      out[o] = m > 0 ? static_cast<float>(127 / m) : 1.f;
    }
    return out;
  }

  // `dt`: the type of the convolution's input and weights; sums and output are float32.
  Plan make_plan(const cv::Mat& src, const cv::Mat& dst, memory::data_type dt) {
    const dnnl::engine& eng = cpu_engine();
    const memory::dims src_dims = dims_of(src), dst_dims = dims_of(dst);
    // Between two NCHW blobs, a 1x1 stride-1 convolution is a matrix product per image, which
    // oneDNN's GEMM runs on OpenCV's blobs as they are (cheaper than reordering to oneDNN's layout
    // and back); other shapes gain more from oneDNN's own layout than the reorders cost, and a
    // side that already holds the blocked layout is given as it is.
    const bool gemm = dt == kF32 && !src_blocked_ && !dst_blocked_ && blobs[0].size[2] == 1 && blobs[0].size[3] == 1 &&
                      std::all_of(opencv_->strides.begin(), opencv_->strides.end(), [](size_t s) { return s == 1; });
    const auto layout = [gemm](const memory::dims& d, bool blocked, memory::data_type type) {
      return memory::desc(d, type, blocked ? kBlocked : gemm ? Tag::nchw : Tag::any);
    };
    if (!bias_ && blobs.size() > 1)
      bias_ = memory({{dst.size[1]}, kF32, Tag::x}, eng, blobs[1].data);
    const auto pd_of = [&](dnnl::algorithm alg, bool both_blocked = false) {
      return conv_pd(layout(src_dims, src_blocked_ || both_blocked, dt), dt, bias_ ? bias_.get_desc() : memory::desc(),
                     layout(dst_dims, dst_blocked_ || both_blocked, kF32), {}, alg);
    };
    dnnl::convolution_forward::primitive_desc pd;
    if (dt == kF32 && winograd_fits()) try {
        pd = pd_of(dnnl::algorithm::convolution_winograd);
      } catch (const dnnl::error&) {  // no Winograd kernel for this shape on this CPU
      }
    if (!pd) pd = pd_of(dnnl::algorithm::convolution_direct);
    // Given one side blocked and left to choose the other, oneDNN may choose NHWC there, for
    // which it has only its reference kernel (MobileNet's stride-2 depthwise convolutions ran
    // 160-170x slower); blocked on both sides, it has a real one.
    if (std::string(pd.impl_info_str()).rfind("ref", 0) == 0 && src_blocked_ != dst_blocked_)
      pd = pd_of(dnnl::algorithm::convolution_direct, true);
    Plan p = plan_of(pd, src_dims, dst_dims);
    if (pd.src_desc() != p.plain_src) {
      p.src = pd.src_desc();
      p.to_src = dnnl::reorder({eng, p.plain_src, eng, p.src});
    }
    p.weights = weights_in(pd.weights_desc());
    return p;
  }

  // Winograd's F(4x4, 3x3) computes a 3x3 stride-1 convolution with 36 products per 4x4 outputs
  // where the direct one takes 144: irv2's head and small's 3x3 layers ran 2-2.6x faster (from 16
  // input channels on; fewer leave its transforms the larger part), and their maps stayed within
  // 1e-4 relative L2 of the direct convolution's (docs/performance.md). Float32 only.
  bool winograd_fits() const {
    const cv::Mat& w = blobs[0];
    const auto ones = [](const std::vector<size_t>& v) { return std::all_of(v.begin(), v.end(), [](size_t x) { return x == 1; }); };
    return groups_ == 1 && w.size[1] >= 16 && w.size[2] == 3 && w.size[3] == 3 && ones(opencv_->strides) &&
           ones(opencv_->dilations);
  }

  // The convolution's own padding on one side, plus a fused padding layer's.
  memory::dims pads(const std::vector<size_t>& own, memory::dims Padded::*fused) const {
    memory::dims out = to_dims(own);
    if (padded_)
      for (size_t d = 0; d < out.size(); ++d) out[d] += ((*padded_).*fused)[d];
    return out;
  }

  // OpenCV's [O, I/g, kh, kw] weights as oneDNN sees them: [g, O/g, I/g, kh, kw] when grouped.
  memory::dims weight_dims() const {
    const cv::Mat& w = blobs[0];
    if (groups_ == 1) return {w.size[0], w.size[1], w.size[2], w.size[3]};
    return {groups_, w.size[0] / groups_, w.size[1], w.size[2], w.size[3]};
  }

  // The weights in the layout a primitive chose (its data type included), int8 ones multiplied
  // by their output channel's scale: made once per layout and scales and shared by every plan
  // (an input shape, a thread count) that chose them.
  memory weights_in(const memory::desc& layout, const std::vector<float>& scales = {}) {
    for (const PackedWeights& w : weights_)
      if (w.weights.get_desc() == layout && w.scales == scales) return w.weights;
    const dnnl::engine& eng = cpu_engine();
    memory plain({weight_dims(), kF32, groups_ == 1 ? Tag::oihw : Tag::goihw}, eng, blobs[0].data);
    memory packed(layout, eng);
    dnnl::primitive_attr attr;
    if (!scales.empty()) attr.set_output_scales(groups_ == 1 ? 1 << 0 : (1 << 0) | (1 << 1), scales);  // [g,] O
    dnnl::reorder(dnnl::reorder::primitive_desc(eng, plain.get_desc(), eng, layout, attr)).execute(stream_, plain, packed);
    stream_.wait();
    weights_.push_back({packed, scales});
    return packed;
  }

  cv::Ptr<cv::dnn::BaseConvolutionLayer> opencv_;
  int groups_;
  bool bf16_ = false, recording_ = false;
  std::optional<Int8Range> int8_;
  Int8Range recorded_;
  std::vector<PostOp> post_ops_;  // the fused activations, in order
  std::optional<Padded> padded_;
  dnnl::stream stream_{cpu_engine()};
  memory bias_;  // on blobs[1]'s data; empty without a bias
  std::vector<PackedWeights> weights_;
  std::map<PlanKey, Plan> plans_;
};

cv::Ptr<cv::dnn::Layer> create_conv_layer(cv::dnn::LayerParams& params) {
  cv::Ptr<cv::dnn::BaseConvolutionLayer> opencv = cv::dnn::ConvolutionLayer::create(params);
  const std::vector<cv::Mat>& b = params.blobs;
  const bool supported = opencv->kernel_size.size() == 2 && opencv->padMode.empty() && !b.empty() &&
                         b[0].dims == 4 && b[0].type() == CV_32F && b[0].isContinuous() &&
                         (b.size() == 1 || (b.size() == 2 && b[1].type() == CV_32F && b[1].isContinuous() &&
                                            static_cast<int>(b[1].total()) == b[0].size[0]));
  if (!supported) return opencv;
  return cv::makePtr<OneDnnConvLayer>(params, opencv);
}

// OpenCV's importer puts a "Padding" layer (a full copy of the blob) before each convolution
// whose padding differs between sides, as TF's "SAME" does with stride 2 (MobileNet's). This one
// gives its padding to the oneDNN convolution it feeds when OpenCV offers to fuse the two; OpenCV
// then skips the convolution, and this layer's forward runs it on the unpadded input. Unfused, it
// pads through a oneDNN reorder into the padded blob's interior, in either layout.
class OneDnnPaddingLayer final : public BlockedLayer {
 public:
  OneDnnPaddingLayer(const cv::dnn::LayerParams& params, cv::Ptr<cv::dnn::Layer> opencv, memory::dims begin,
                     memory::dims end)
      : BlockedLayer(params, std::move(opencv)), begin_(std::move(begin)), end_(std::move(end)) {
    type = kOneDnnPaddingType;
  }

  // The convolution first, then what follows it (its post-ops), handed on to it.
  bool tryFuse(cv::Ptr<cv::dnn::Layer>& top) override {
    if (conv_) return conv_->tryFuse(top);
    conv_ = top.dynamicCast<OneDnnConvLayer>();
    if (conv_) conv_->take_padding(begin_, end_, src_blocked_);
    return static_cast<bool>(conv_);
  }
  bool setActivation(const cv::Ptr<cv::dnn::ActivationLayer>& layer) override {
    if (!layer) conv_.reset();  // Layer::unsetAttached: the convolution drops the padding itself
    return false;
  }

  void forward(cv::InputArrayOfArrays inputs_arr, cv::OutputArrayOfArrays outputs_arr,
               cv::OutputArrayOfArrays internals_arr) override {
    if (conv_) return conv_->forward(inputs_arr, outputs_arr, internals_arr);
    std::vector<cv::Mat> inputs, outputs;
    inputs_arr.getMatVector(inputs);
    outputs_arr.getMatVector(outputs);
    if (inputs.size() != 1 || outputs.size() != 1 || inputs[0].dims != 4 || inputs[0].type() != CV_32F ||
        !inputs[0].isContinuous() || !outputs[0].isContinuous())
      CV_Error(cv::Error::StsBadArg, "padding '" + name + "' expects one continuous float32 NCHW input and one output");
    const OmpThreads threads(threads_);
    try {
      const memory::dims src_dims = dims_of(inputs[0]);
      const memory::desc dst = blob_desc(dims_of(outputs[0]), dst_blocked_);
      const memory::desc interior = dst.submemory_desc(src_dims, {0, 0, begin_[0], begin_[1]});
      const dnnl::engine& eng = cpu_engine();
      memory from(blob_desc(src_dims, src_blocked_), eng, inputs[0].data), to(interior, eng, outputs[0].data);
      outputs[0].setTo(0);
      dnnl::reorder(from, to).execute(stream_, from, to);
      stream_.wait();
    } catch (const dnnl::error& e) {
      CV_Error(cv::Error::StsError, "oneDNN padding '" + name + "' failed: " + e.what());
    }
  }

 private:
  void layouts_changed() override {}

  memory::dims begin_, end_;  // on H and W
  cv::Ptr<OneDnnConvLayer> conv_;
  dnnl::stream stream_{cpu_engine()};
};

// Zeros around H and W only (OpenCV's "paddings": before and after, per axis) are ours.
cv::Ptr<cv::dnn::Layer> create_padding_layer(cv::dnn::LayerParams& params) {
  cv::Ptr<cv::dnn::Layer> opencv = cv::dnn::PaddingLayer::create(params);
  if (!params.has("paddings") || params.get<float>("value", 0.f) != 0.f ||
      params.get<std::string>("type", "constant") != "constant" || params.get<int>("input_dims", -1) != -1)
    return opencv;
  const cv::dnn::DictValue& p = params.get("paddings");
  if (p.size() != 8 || p.get<int>(0) || p.get<int>(1) || p.get<int>(2) || p.get<int>(3)) return opencv;
  memory::dims begin{p.get<int>(4), p.get<int>(6)}, end{p.get<int>(5), p.get<int>(7)};
  if (std::any_of(begin.begin(), begin.end(), [](auto v) { return v < 0; }) ||
      std::any_of(end.begin(), end.end(), [](auto v) { return v < 0; }))
    return opencv;
  return cv::makePtr<OneDnnPaddingLayer>(params, opencv, std::move(begin), std::move(end));
}

// Layers that compute their output element by element from inputs of one shape, or a channel
// concatenation (the same copies in both layouts when every part is in whole blocks): they give
// the same result whichever layout their blobs hold, as long as all of them hold the same one.
bool layout_agnostic(const cv::Ptr<cv::dnn::Layer>& layer, const std::vector<cv::dnn::MatShape>& inputs) {
  if (layer->type == "ReLU" || layer->type == "ReLU6" || layer->type == "Power") return true;
  if (layer->type == "Eltwise" || layer->type == kSumType)
    return std::all_of(inputs.begin(), inputs.end(), [&](const cv::dnn::MatShape& s) { return s == inputs[0]; });
  const auto concat = layer.dynamicCast<cv::dnn::ConcatLayer>();
  return concat && concat->axis == 1 && !concat->padding;
}

// Groups of blobs that must hold one layout, by the id of the layer that writes each.
class Groups {
 public:
  int find(int id) {
    auto it = parent_.try_emplace(id, id).first;
    return it->second == id ? id : it->second = find(it->second);
  }
  void join(int a, int b) { parent_[find(a)] = find(b); }

 private:
  std::map<int, int> parent_;
};

// Lets consecutive oneDNN convolutions and poolings pass their blobs in oneDNN's blocked layout
// instead of reordering to NCHW and back around every layer. A blob may hold it when every layer
// that writes it or its group (blobs joined by layout-agnostic layers) is one of those or
// agnostic, every layer that reads the group is one of those too, its channels come in whole
// blocks, and it is not a network output; anything else (the network input and outputs, OpenCV's
// own layers) sees NCHW.
void choose_layouts(cv::dnn::Net& net, const cv::dnn::MatShape& input_shape) {
  struct Node {
    cv::Ptr<cv::dnn::Layer> layer;
    std::vector<int> inputs;  // the ids of the layers writing its inputs (one output each)
    std::vector<cv::dnn::MatShape> in, out;
    bool agnostic = false, ours = false;
  };
  std::map<int, Node> nodes;
  for (const auto& name : net.getLayerNames()) {
    const int id = net.getLayerId(name);
    Node n;
    n.layer = net.getLayer(id);
    net.getLayerShapes(input_shape, id, n.in, n.out);
    for (const auto& l : net.getLayerInputs(id)) n.inputs.push_back(net.getLayerId(l->name));
    n.agnostic = layout_agnostic(n.layer, n.in);
    n.ours = static_cast<bool>(n.layer.dynamicCast<BlockedLayer>());
    nodes.emplace(id, std::move(n));
  }
  Groups groups;
  for (const auto& [id, n] : nodes)
    if (n.agnostic)
      for (int i : n.inputs) groups.join(id, i);
  std::set<int> plain;  // groups that stay NCHW, by their root
  const auto keep_plain = [&](int id) { plain.insert(groups.find(id)); };
  for (const auto& [id, n] : nodes) {
    const bool passes_blocks = n.ours || n.agnostic;
    if (!passes_blocks || n.out.size() != 1 || n.out[0].size() != 4 || n.out[0][1] % kBlock != 0) keep_plain(id);
    for (int i : n.inputs)  // an NCHW reader (or one with more outputs), or the network input
      if (!passes_blocks || n.out.size() != 1 || !nodes.count(i)) keep_plain(i);
  }
  for (int id : net.getUnconnectedOutLayers()) keep_plain(id);
  for (const auto& [id, n] : nodes)
    if (const auto ours = n.layer.dynamicCast<BlockedLayer>(); ours && n.inputs.size() == 1)
      ours->set_layouts(!plain.count(groups.find(n.inputs[0])), !plain.count(groups.find(id)));
}

}  // namespace

std::vector<PostOp> simplified(const std::vector<PostOp>& ops) {
  using Kind = PostOp::Kind;
  const PostOp relu{Kind::Relu, 0.f, 0.f};
  std::vector<PostOp> out;
  for (size_t i = 0; i < ops.size(); ++i) {
    PostOp op = ops[i];
    const PostOp c_minus{Kind::Linear, -1.f, op.beta};  // c - x
    if (op == c_minus && i + 2 < ops.size() && ops[i + 1] == relu && ops[i + 2] == c_minus) {
      op = {Kind::Clip, std::numeric_limits<float>::lowest(), op.beta};
      i += 2;
    }
    if (op.kind == Kind::Clip && op.alpha <= 0.f && op.beta >= 0.f && !out.empty() && out.back() == relu)
      out.back() = {Kind::Clip, 0.f, op.beta};
    else
      out.push_back(op);
  }
  return out;
}

bool cpu_has_bf16() {
  const auto bits = static_cast<unsigned>(dnnl::cpu_isa::avx512_core_bf16);
  return (static_cast<unsigned>(dnnl::get_effective_cpu_isa()) & bits) == bits;
}

namespace {

// Guards the process-global layer factory while a network's layers are made.
std::mutex& factory_mutex() {
  static std::mutex mutex;
  return mutex;
}

// OpenCV creates a layer when it is first asked for it: every one is made here, under the
// factory lock, so that none is made later while another thread has the oneDNN layer registered.
cv::dnn::Net read_with_all_layers(const OnnxFile& onnx) {
  cv::dnn::Net net = cv::dnn::readNetFromONNX(onnx.bytes.data(), onnx.bytes.size());
  for (const auto& name : net.getLayerNames()) net.getLayer(net.getLayerId(name));
  return net;
}

}  // namespace

float int8_input_scale(const Int8Range& r) {
  const float range = std::max(std::abs(r.min), std::abs(r.max));
  return range > 0 ? (r.min >= 0 ? 255.f : 127.f) / range : 1.f;
}

bool cpu_has_vnni() {
  const auto bits = static_cast<unsigned>(dnnl::cpu_isa::avx512_core_vnni);
  return (static_cast<unsigned>(dnnl::get_effective_cpu_isa()) & bits) == bits;
}

cv::dnn::Net read_onnx_with_onednn(const OnnxFile& onnx, const BundleManifest& m, int threads) {
  const std::lock_guard<std::mutex> lock(factory_mutex());
  static const std::pair<const char*, cv::dnn::LayerFactory::Constructor> kOurs[] = {
      {"Convolution", create_conv_layer}, {"Pooling", create_pooling_layer}, {"Eltwise", create_sum_layer},
      {"Padding", create_padding_layer}};
  for (const auto& [type, create] : kOurs) cv::dnn::LayerFactory::registerLayer(type, create);
  // The factory keeps a stack per type: unregistering pops ours and OpenCV's is back.
  struct Restore {
    ~Restore() {
      for (const auto& ours : kOurs) cv::dnn::LayerFactory::unregisterLayer(ours.first);
    }
  } restore;
  cv::dnn::Net net = read_with_all_layers(onnx);
  choose_layouts(net, {1, 3, m.input_height, m.input_width});
  std::set<std::string> convolutions;
  for (const auto& name : net.getLayerNames()) {
    const cv::Ptr<cv::dnn::Layer> layer = net.getLayer(net.getLayerId(name));
    if (const auto ours = layer.dynamicCast<OneDnnLayer>()) ours->set_threads(threads);
    if (const auto conv = layer.dynamicCast<OneDnnConvLayer>()) {
      convolutions.insert(name);
      conv->set_bf16(m.precision == Precision::BF16 && !m.float32_convolutions.count(name));
      const auto range = m.int8_ranges.find(name);  // the convolutions not named stay float32
      if (m.precision == Precision::Int8 && range != m.int8_ranges.end()) conv->set_int8(range->second);
    }
  }
  // A name the network lacks (an edited model.json, another model.onnx) would leave a convolution
  // in a precision the bundle did not mean.
  std::vector<std::string> named(m.float32_convolutions.begin(), m.float32_convolutions.end());
  for (const auto& [name, range] : m.int8_ranges) named.push_back(name);
  for (const std::string& name : named)
    if (!convolutions.count(name))
      CV_Error(cv::Error::StsBadArg, "model.json names the convolution '" + name + "', which " + onnx.path + " does not have");
  return net;
}

int onednn_threads(int threads) { return threads > 0 ? threads : omp_get_max_threads(); }

cv::dnn::Net read_onnx_with_opencv_conv(const OnnxFile& onnx) {
  const std::lock_guard<std::mutex> lock(factory_mutex());
  return read_with_all_layers(onnx);
}

void record_input_ranges(cv::dnn::Net& net, bool on) {
  for (const auto& name : net.getLayerNames())
    if (const auto conv = net.getLayer(net.getLayerId(name)).dynamicCast<OneDnnConvLayer>()) conv->set_recording(on);
}

std::map<std::string, Int8Range> recorded_input_ranges(cv::dnn::Net& net) {
  std::map<std::string, Int8Range> out;
  for (const auto& name : net.getLayerNames())
    if (const auto conv = net.getLayer(net.getLayerId(name)).dynamicCast<OneDnnConvLayer>()) out[name] = conv->recorded();
  return out;
}

size_t packed_weight_copies(cv::dnn::Net& net) {
  size_t n = 0;
  for (const auto& name : net.getLayerNames())
    if (const auto conv = net.getLayer(net.getLayerId(name)).dynamicCast<OneDnnConvLayer>()) n += conv->packed_weights();
  return n;
}

std::vector<BlockedLayout> blocked_layouts(cv::dnn::Net& net) {
  std::vector<BlockedLayout> out;
  for (const auto& name : net.getLayerNames())
    if (const auto ours = net.getLayer(net.getLayerId(name)).dynamicCast<BlockedLayer>())
      out.push_back({name, ours->src_blocked(), ours->dst_blocked()});
  return out;
}

}  // namespace mtfcdd
