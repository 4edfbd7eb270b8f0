// Serialises a NetGraph to ONNX with libonnx's protobuf classes, then validates it with
// onnx::checker and strict shape inference (which also cross-checks the graph's own shapes).
#pragma once

#include <string>

#include "net_graph.hpp"

namespace mtfcdd {

// OpenCV 4.6 imports opset 11 reliably; the batch dimension is symbolic ("N").
constexpr int kOnnxOpset = 11;

// Throws std::runtime_error naming the failing check; writes nothing on failure.
void write_onnx(const NetGraph& graph, const std::string& path, const std::string& producer);

}  // namespace mtfcdd
