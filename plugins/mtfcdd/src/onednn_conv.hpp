// ONNX Conv through oneDNN inside OpenCV DNN: a cv::dnn::Layer that runs a oneDNN convolution
// primitive where OpenCV's own convolution is the slow part of the network (many small 1x1 and
// 3x3 convolutions), so the plugin stays an OpenCV DNN plugin.
#pragma once

#include <map>
#include <mtfcdd/bundle.hpp>
#include <opencv2/dnn.hpp>
#include <string>
#include <vector>

namespace mtfcdd {

// The OpenCV layer type of the convolutions that run through oneDNN (OpenCV's own are
// "Convolution").
extern const char* const kOneDnnConvType;

// Reads an ONNX model whose 2-D convolutions with constant weights run through oneDNN; any other
// convolution (1-D, 3-D, "SAME" padding, weights computed at run time) is OpenCV's own. Blobs
// passed only between oneDNN convolutions (directly or through ReLUs, additions and channel
// concatenations) stay in oneDNN's blocked layout; `input_shape` is one the network runs on
// (NCHW; any batch), which gives those blobs' channel counts.
// OpenCV's layer factory is process-global, so the oneDNN layer is registered only while this
// call creates the network's layers, under a process-wide lock, and OpenCV's built-in
// convolution is restored before it returns. `precision` bf16: the convolutions take bfloat16
// inputs and weights (float32 sums and outputs, so the blobs between layers stay float32); int8:
// the convolutions named in `int8_ranges` take 8-bit inputs quantized over their range and 8-bit
// weights, the others stay float32; both except where oneDNN has only its reference kernel for
// one. Throws
// cv::Exception as readNetFromONNX does.
cv::dnn::Net read_onnx_with_onednn_conv(const std::string& path, const cv::dnn::MatShape& input_shape,
                                        Precision precision = Precision::Float32,
                                        const std::map<std::string, Int8Range>& int8_ranges = {});

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

// Where a net from read_onnx_with_onednn_conv keeps the blocked layout: per oneDNN convolution
// (by layer name), whether its input and its output blob hold it.
struct BlockedLayout {
  std::string layer;
  bool input = false, output = false;
};
std::vector<BlockedLayout> blocked_layouts(cv::dnn::Net& net);
// OpenCV's own convolutions, read under the same lock (a network read while another thread's
// read has the oneDNN layer registered would get oneDNN layers).
cv::dnn::Net read_onnx_with_opencv_conv(const std::string& path);

}  // namespace mtfcdd
