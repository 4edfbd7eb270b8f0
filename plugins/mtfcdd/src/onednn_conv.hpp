// ONNX Conv through oneDNN inside OpenCV DNN: a cv::dnn::Layer that runs a oneDNN convolution
// primitive where OpenCV's own convolution is the slow part of the network (many small 1x1 and
// 3x3 convolutions), so the plugin stays an OpenCV DNN plugin.
#pragma once

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
// convolution is restored before it returns. `bf16`: the convolutions take bfloat16 inputs and
// weights (float32 sums and outputs, so the blobs between layers stay float32), except where
// oneDNN has only its reference kernel for one. Throws cv::Exception as readNetFromONNX does.
cv::dnn::Net read_onnx_with_onednn_conv(const std::string& path, const cv::dnn::MatShape& input_shape, bool bf16);

// Whether this CPU has AVX512_BF16, which oneDNN's bf16 convolution kernels need.
bool cpu_has_bf16();

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
