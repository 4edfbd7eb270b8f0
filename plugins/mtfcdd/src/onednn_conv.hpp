// ONNX Conv through oneDNN inside OpenCV DNN: a cv::dnn::Layer that runs a oneDNN convolution
// primitive where OpenCV's own convolution is the slow part of the network (many small 1x1 and
// 3x3 convolutions), so the plugin stays an OpenCV DNN plugin.
#pragma once

#include <opencv2/dnn.hpp>
#include <string>

namespace mtfcdd {

// The OpenCV layer type of the convolutions that run through oneDNN (OpenCV's own are
// "Convolution").
extern const char* const kOneDnnConvType;

// Reads an ONNX model whose 2-D convolutions with constant weights run through oneDNN; any other
// convolution (1-D, 3-D, "SAME" padding, weights computed at run time) is OpenCV's own.
// OpenCV's layer factory is process-global, so the oneDNN layer is registered only while this
// call creates the network's layers, under a process-wide lock, and OpenCV's built-in
// convolution is restored before it returns. Throws cv::Exception as readNetFromONNX does.
cv::dnn::Net read_onnx_with_onednn_conv(const std::string& path);
// OpenCV's own convolutions, read under the same lock (a network read while another thread's
// read has the oneDNN layer registered would get oneDNN layers).
cv::dnn::Net read_onnx_with_opencv_conv(const std::string& path);

}  // namespace mtfcdd
