#include <algorithm>
#include <cctype>
#include <map>
#include <opencv2/dnn/all_layers.hpp>
#include <optional>
#include <string>
#include <tuple>

#include "onednn_layers.hpp"

namespace mtfcdd::onednn {

const char* const kPoolingType = "OneDnnPooling";
const char* const kSumType = "OneDnnSum";

namespace {

// The padding after the input with which oneDNN's window of `kernel`, `stride` and `pad_begin`
// gives `out` outputs from `in` inputs, as OpenCV computed them (floor or ceil mode): oneDNN
// wants (in + pad_begin + pad_end - kernel) / stride + 1 == out.
long pad_end_for(long in, long out, long kernel, long stride, long pad_begin) {
  // Floor mode can leave up to stride - 1 inputs out; oneDNN's floor division does the same.
  return std::max(0L, (out - 1) * stride + kernel - in - pad_begin);
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

bool is_float_nchw(const cv::Mat& m) { return m.dims == 4 && m.type() == CV_32F && m.isContinuous(); }

class OneDnnPoolingLayer final : public BlockedLayer {
 public:
  OneDnnPoolingLayer(const cv::dnn::LayerParams& params, cv::Ptr<cv::dnn::PoolingLayer> opencv, dnnl::algorithm alg)
      : BlockedLayer(params, opencv), opencv_(std::move(opencv)), alg_(alg) {
    type = kPoolingType;
  }

  // With the indices of the maxima as a second output (which keeps its blobs NCHW) it is OpenCV's.
  void forward(cv::InputArrayOfArrays inputs_arr, cv::OutputArrayOfArrays outputs_arr,
               cv::OutputArrayOfArrays internals_arr) override {
    std::vector<cv::Mat> inputs, outputs;
    inputs_arr.getMatVector(inputs);
    outputs_arr.getMatVector(outputs);
    if (outputs.size() == 2 && !src_blocked_) return opencv_->forward(inputs_arr, outputs_arr, internals_arr);
    if (inputs.size() != 1 || outputs.size() != 1 || !is_float_nchw(inputs[0]) || !outputs[0].isContinuous())
      CV_Error(cv::Error::StsBadArg, "pooling '" + name + "' expects one continuous float32 NCHW input and one output");
    const OmpThreads threads(threads_);
    try {
      const Plan& p = plan_for(inputs[0], outputs[0], threads.threads());
      const dnnl::engine& eng = cpu_engine();
      memory src(p.src, eng, inputs[0].data), plain_dst(p.plain_dst, eng, outputs[0].data);
      memory dst = p.dst ? memory(p.dst, eng, Scratch::dst().get(p.dst.get_size())) : plain_dst;
      p.pool.execute(stream_, with_scratchpad(p.scratchpad, {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}}));
      if (p.dst) p.from_dst.execute(stream_, dst, plain_dst);
      stream_.wait();
    } catch (const dnnl::error& e) {
      CV_Error(cv::Error::StsError, "oneDNN pooling '" + name + "' failed: " + e.what());
    }
  }

 private:
  // src: the input blob as it is; plain_dst: the output blob; dst: the layout oneDNN chose for
  // its output with the reorder into the blob, empty where it writes the blob as it is.
  struct Plan {
    dnnl::pooling_forward pool;
    memory::desc src, plain_dst, dst, scratchpad;
    dnnl::reorder from_dst;
  };
  using PlanKey = std::tuple<std::vector<int>, int>;  // input shape, threads

  void layouts_changed() override { plans_.clear(); }

  const Plan& plan_for(const cv::Mat& src, const cv::Mat& dst, int threads) {
    PlanKey key{std::vector<int>(src.size.p, src.size.p + 4), threads};
    auto it = plans_.find(key);
    if (it == plans_.end()) it = plans_.emplace(std::move(key), make_plan(src, dst)).first;
    return it->second;
  }

  Plan make_plan(const cv::Mat& src, const cv::Mat& dst) const {
    memory::dims pad_end;
    for (int d = 0; d < 2; ++d)
      pad_end.push_back(pad_end_for(src.size[2 + d], dst.size[2 + d], static_cast<long>(opencv_->kernel_size[d]),
                                    static_cast<long>(opencv_->strides[d]), static_cast<long>(opencv_->pads_begin[d])));
    Plan p;
    p.src = blob_desc(dims_of(src), src_blocked_);
    p.plain_dst = blob_desc(dims_of(dst), dst_blocked_);
    const dnnl::pooling_forward::desc desc(dnnl::prop_kind::forward_inference, alg_, p.src,
                                           memory::desc(dims_of(dst), kF32, Tag::any), to_dims(opencv_->strides),
                                           to_dims(opencv_->kernel_size), to_dims(opencv_->pads_begin), pad_end);
    const dnnl::pooling_forward::primitive_desc pd(desc, user_scratchpad(), cpu_engine());
    p.pool = dnnl::pooling_forward(pd);
    p.scratchpad = pd.scratchpad_desc();
    if (pd.dst_desc() != p.plain_dst) {
      p.dst = pd.dst_desc();
      p.from_dst = dnnl::reorder({cpu_engine(), p.dst, cpu_engine(), p.plain_dst});
    }
    return p;
  }

  cv::Ptr<cv::dnn::PoolingLayer> opencv_;
  dnnl::algorithm alg_;
  dnnl::stream stream_{cpu_engine()};
  std::map<PlanKey, Plan> plans_;
};

// Element by element, so the blobs may hold any layout as long as all hold the same one; shapes
// that differ (broadcasting, OpenCV's channel modes) go to OpenCV's layer.
class OneDnnSumLayer final : public OneDnnLayer {
 public:
  explicit OneDnnSumLayer(const cv::dnn::LayerParams& params, cv::Ptr<cv::dnn::Layer> opencv)
      : OneDnnLayer(params, std::move(opencv)) {
    type = kSumType;
  }

  // A ReLU that follows runs as a post-op; OpenCV's layer takes it too, for the shapes it runs.
  bool setActivation(const cv::Ptr<cv::dnn::ActivationLayer>& layer) override {
    relu_slope_.reset();
    const auto relu = layer.dynamicCast<cv::dnn::ReLULayer>();
    if (!relu || !opencv_layer_->setActivation(layer)) {
      opencv_layer_->setActivation(cv::Ptr<cv::dnn::ActivationLayer>());
      return false;
    }
    relu_slope_ = relu->negativeSlope;
    return true;
  }

  void forward(cv::InputArrayOfArrays inputs_arr, cv::OutputArrayOfArrays outputs_arr,
               cv::OutputArrayOfArrays internals_arr) override {
    std::vector<cv::Mat> in, out;
    inputs_arr.getMatVector(in);
    outputs_arr.getMatVector(out);
    const auto ours = [&](const cv::Mat& m) {
      return m.type() == CV_32F && m.isContinuous() && m.dims == in[0].dims && m.total() == in[0].total() &&
             std::equal(m.size.p, m.size.p + m.dims, in[0].size.p);
    };
    if (in.size() != 2 || out.size() != 1 || !std::all_of(in.begin(), in.end(), ours) || !ours(out[0]))
      return opencv_layer_->forward(inputs_arr, outputs_arr, internals_arr);
    const OmpThreads threads(threads_);
    try {
      const memory::desc flat({static_cast<memory::dim>(out[0].total())}, kF32, Tag::a);
      const dnnl::engine& eng = cpu_engine();
      memory a(flat, eng, in[0].data), b(flat, eng, in[1].data), sum(flat, eng, out[0].data);
      const Plan& p = plan_for(flat, threads.threads());
      p.add.execute(stream_, with_scratchpad(p.scratchpad, {{DNNL_ARG_SRC_0, a}, {DNNL_ARG_SRC_1, b}, {DNNL_ARG_DST, sum}}));
      stream_.wait();
    } catch (const dnnl::error& e) {
      CV_Error(cv::Error::StsError, "oneDNN sum '" + name + "' failed: " + e.what());
    }
  }

 private:
  struct Plan {
    dnnl::binary add;
    memory::desc scratchpad;
  };
  // Elements, threads, the fused ReLU's slope: OpenCV takes the ReLU back (setActivation of
  // none) when it sets the network up again, and a plan made with it must not run then.
  using PlanKey = std::tuple<memory::dim, int, std::optional<float>>;

  const Plan& plan_for(const memory::desc& flat, int threads) {
    PlanKey key{flat.dims()[0], threads, relu_slope_};
    auto it = plans_.find(key);
    if (it == plans_.end()) {
      dnnl::post_ops ops;
      if (relu_slope_) ops.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, *relu_slope_, 0.f);
      dnnl::primitive_attr attr = user_scratchpad();
      attr.set_post_ops(ops);
      const dnnl::binary::primitive_desc pd({dnnl::algorithm::binary_add, flat, flat, flat}, attr, cpu_engine());
      it = plans_.emplace(key, Plan{dnnl::binary(pd), pd.scratchpad_desc()}).first;
    }
    return it->second;
  }

  std::optional<float> relu_slope_;
  dnnl::stream stream_{cpu_engine()};
  std::map<PlanKey, Plan> plans_;
};

}  // namespace

cv::Ptr<cv::dnn::Layer> create_pooling_layer(cv::dnn::LayerParams& params) {
  cv::Ptr<cv::dnn::PoolingLayer> opencv = cv::dnn::PoolingLayer::create(params);
  const std::string pool = lower(params.get<std::string>("pool", "max"));
  const bool two_d = opencv->kernel_size.size() == 2 && opencv->strides.size() == 2 && opencv->pads_begin.size() == 2 &&
                     !opencv->globalPooling && opencv->padMode.empty();
  // Averages in ceil mode: OpenCV divides the windows that run past the input its own way.
  if (!two_d || (pool != "max" && (pool != "ave" || opencv->ceilMode))) return opencv;
  const auto alg = pool == "max"                  ? dnnl::algorithm::pooling_max
                   : opencv->avePoolPaddedArea ? dnnl::algorithm::pooling_avg_include_padding
                                                  : dnnl::algorithm::pooling_avg_exclude_padding;
  return cv::makePtr<OneDnnPoolingLayer>(params, opencv, alg);
}

cv::Ptr<cv::dnn::Layer> create_sum_layer(cv::dnn::LayerParams& params) {
  cv::Ptr<cv::dnn::Layer> opencv = cv::dnn::EltwiseLayer::create(params);
  const bool plain_sum = lower(params.get<std::string>("operation", "sum")) == "sum" && !params.has("coeff");
  if (!plain_sum) return opencv;
  return cv::makePtr<OneDnnSumLayer>(params, opencv);
}

}  // namespace mtfcdd::onednn
