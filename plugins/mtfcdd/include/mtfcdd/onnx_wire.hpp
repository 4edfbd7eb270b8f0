// What the engine reads of a model.onnx itself, from its protobuf bytes, before OpenCV's importer
// sees them: OpenCV 4.6 trusts parts of the file that a damaged or hostile bundle can get wrong.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mtfcdd {

// model.onnx read once: its path (for messages) and its bytes, which both the checks below and
// OpenCV's importer read, so that what was checked is what is loaded.
struct OnnxFile {
  std::string path, bytes;
};
// Throws std::runtime_error ("cannot load ONNX model PATH: " and the system's reason) when the
// file cannot be read.
OnnxFile read_onnx_file(const std::string& path);

// The shape model.onnx declares for its graph input `name`, read from the protobuf bytes: one entry
// per dimension, -1 where a dimension is symbolic or unset; empty when the input is not declared
// or has no shape. Throws std::runtime_error on bytes that are not protobuf wire format.
std::vector<int64_t> onnx_declared_input_shape(std::string_view onnx, std::string_view name);

// What in model.onnx OpenCV's importer would read out of bounds, described; empty when nothing.
// - A tensor (an initializer, or a node attribute's) whose values do not match its dims ("tensor
//   'w' holds 80 values where its dims [ 3 3 3 3 ] need 81"). The values counted are those
//   OpenCV copies: the typed field of the tensor's data type when it has any, else raw_data; it
//   copies dims' worth of values whatever the field holds (fuzzing: a heap over-read).
// - A node input that no graph input, initializer or earlier node's output defines (fuzzing: a
//   null dereference in the importer).
// - A "group" attribute (Conv's) that is not an integer >= 1 (group 0: SIGFPE in the importer).
// Both readers here take a field only in the wire type protobuf parses it in: protobuf keeps one
// of another wire type as an unknown field, unseen by OpenCV, which must not be what is checked.
// Throws std::runtime_error on bytes that are not protobuf wire format.
std::string onnx_model_problem(std::string_view onnx);

}  // namespace mtfcdd
