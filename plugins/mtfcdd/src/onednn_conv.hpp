// ONNX Conv (and MaxPool, AveragePool, Add) through oneDNN inside OpenCV DNN: cv::dnn::Layers that
// run oneDNN primitives where OpenCV's own convolution is the slow part of the network (many small
// 1x1 and 3x3 convolutions), so the plugin stays an OpenCV DNN plugin.
#pragma once

#include <map>
#include <mtfcdd/bundle.hpp>
#include <mtfcdd/onnx_wire.hpp>
#include <opencv2/dnn.hpp>
#include <string>
#include <tuple>
#include <vector>

namespace mtfcdd {

// The OpenCV layer type of the convolutions that run through oneDNN (OpenCV's own are
// "Convolution").
extern const char* const kOneDnnConvType;
// The layer type of the zero paddings that run through oneDNN, each fused with the convolution
// it feeds where OpenCV's fusion is on (OpenCV's own are "Padding").
extern const char* const kOneDnnPaddingType;

// Reads an ONNX model whose 2-D convolutions with constant weights, 2-D max and average poolings,
// sums of two blobs and zero paddings run through oneDNN, with the ReLUs, clips and affine maps
// after a convolution (and a padding before it) fused into it; the rest (1-D or 3-D convolutions,
// "SAME" padding, weights computed at run time, broadcasting sums) is OpenCV's own. Blobs passed
// only between oneDNN layers (directly or through element-wise layers, sums and channel
// concatenations) stay in oneDNN's blocked layout; the bundle's input shape (batch 1; any batch runs) gives those
// blobs' channel counts.
// OpenCV's layer factory is process-global, so the oneDNN layers are registered only while this
// call creates the network's layers, under a process-wide lock, and OpenCV's built-in ones are
// restored before it returns. Precision bf16: the convolutions take bfloat16 inputs and weights
// (float32 sums and outputs, so the blobs between layers stay float32), except those in
// `float32_convolutions` and the 3x3 ones that Winograd runs faster in float32; int8: the
// convolutions named in `int8_ranges` take 8-bit inputs quantized over their range and 8-bit
// weights, the others stay float32; both except where oneDNN has only its reference kernel for
// one. The oneDNN layers run on `threads` OpenMP threads (0: the calling thread's OpenMP
// setting). Throws cv::Exception as readNetFromONNX does.
cv::dnn::Net read_onnx_with_onednn(const OnnxFile& onnx, const BundleManifest& m, int threads = 0);
// What `threads` (as above) comes to on the calling thread.
int onednn_threads(int threads);

// An element-wise operation that a oneDNN convolution applies to its output while it is still in
// cache (a post-op): ReLU with negative slope alpha, a clip to [alpha, beta], or alpha x + beta.
struct PostOp {
  enum class Kind { Relu, Clip, Linear };
  Kind kind;
  float alpha, beta;
  friend bool operator==(const PostOp& a, const PostOp& b) {
    return a.kind == b.kind && a.alpha == b.alpha && a.beta == b.beta;
  }
  friend bool operator<(const PostOp& a, const PostOp& b) {
    return std::tie(a.kind, a.alpha, a.beta) < std::tie(b.kind, b.alpha, b.beta);
  }
};
// `ops` with each c - relu(c - x) (c - x, ReLU, c - x: how the trainer writes ReLU6, see
// NetGraph::relu6) as one clip at c, and a ReLU followed by a clip at c >= 0 as a clip to [0, c]:
// oneDNN's GEMM convolution runs each post-op as a pass over the output of its own.
std::vector<PostOp> simplified(const std::vector<PostOp>& ops);

// Whether this CPU has AVX512_BF16, which oneDNN's bf16 convolution kernels need.
bool cpu_has_bf16();
// Whether it has AVX512_VNNI, which oneDNN's fast int8 convolution kernels need.
bool cpu_has_vnni();

// The factor an int8 convolution multiplies its input by: 255 (u8, when r.min >= 0) or 127 (s8)
// over the range's largest magnitude.
float int8_input_scale(const Int8Range& r);

// Calibration: while on, every oneDNN convolution of a float32 net records the range of its
// inputs over the forwards run; recorded_input_ranges() reads them by layer name.
void record_input_ranges(cv::dnn::Net& net, bool on);
std::map<std::string, Int8Range> recorded_input_ranges(cv::dnn::Net& net);

// The copies of the weights a net's oneDNN convolutions hold in their primitives' layouts, all
// together: one per layout (and int8 scales) chosen, however many input shapes have run.
size_t packed_weight_copies(cv::dnn::Net& net);

// Where a net from read_onnx_with_onednn keeps the blocked layout: per oneDNN convolution or
// pooling (by layer name), whether its input and its output blob hold it.
struct BlockedLayout {
  std::string layer;
  bool input = false, output = false;
};
std::vector<BlockedLayout> blocked_layouts(cv::dnn::Net& net);
// OpenCV's own convolutions, read under the same lock (a network read while another thread's
// read has the oneDNN layer registered would get oneDNN layers).
cv::dnn::Net read_onnx_with_opencv_conv(const OnnxFile& onnx);

}  // namespace mtfcdd
