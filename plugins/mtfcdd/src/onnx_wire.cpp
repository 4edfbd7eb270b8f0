#include <mtfcdd/onnx_wire.hpp>

#include <mtfcdd/json_input.hpp>
#include <optional>
#include <set>
#include <stdexcept>

#include "mtfcdd/read_file.hpp"

namespace mtfcdd {
namespace {

// One field of a protobuf message: its number, wire type, and its value (varint) or its bytes
// (length-delimited, or the 4 or 8 bytes of a fixed-width one).
struct ProtoField {
  uint64_t number = 0, wire = 0, value = 0;
  std::string_view bytes;
  // Protobuf's parser keeps a field of the wrong wire type as an unknown field, so a reader that
  // took it as the field would check something OpenCV's importer never sees.
  bool is(uint64_t n, uint64_t w) const { return number == n && wire == w; }
};
constexpr uint64_t kVarint = 0, kLen = 2;  // the wire types of integers and of strings and messages

// Reads a varint at `at`, moving it on; throws past the end or after 10 bytes.
uint64_t read_varint(std::string_view m, size_t& at) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (at >= m.size()) throw std::runtime_error("truncated protobuf varint");
    const auto byte = static_cast<uint8_t>(m[at++]);
    v |= uint64_t(byte & 0x7f) << shift;
    if (!(byte & 0x80)) return v;
  }
  throw std::runtime_error("protobuf varint longer than 10 bytes");
}

// Calls f for each field of the protobuf message `m`, in order; throws on malformed wire format.
template <class F>
void for_each_field(std::string_view m, F&& f) {
  size_t at = 0;
  while (at < m.size()) {
    const uint64_t key = read_varint(m, at);
    ProtoField field{key >> 3, key & 7, 0, {}};
    const uint64_t fixed = field.wire == 1 ? 8 : field.wire == 5 ? 4 : 0;
    if (field.wire == 0) {
      field.value = read_varint(m, at);
    } else if (field.wire == 2 || fixed) {
      const uint64_t n = fixed ? fixed : read_varint(m, at);
      if (n > m.size() - at) throw std::runtime_error("protobuf field runs past its message");
      field.bytes = m.substr(at, n);
      at += n;
    } else {
      throw std::runtime_error("unsupported protobuf wire type " + std::to_string(field.wire));
    }
    f(field);
  }
}

// TypeProto > tensor_type (1) > shape (2) > dim (1) > dim_value (1) | dim_param (2); repeated
// messages merge as protobuf merges them.
void append_declared_dims(std::string_view type, std::vector<int64_t>& dims) {
  for_each_field(type, [&](const ProtoField& tensor) {
    if (!tensor.is(1, kLen)) return;
    for_each_field(tensor.bytes, [&](const ProtoField& shape) {
      if (!shape.is(2, kLen)) return;
      for_each_field(shape.bytes, [&](const ProtoField& dim) {
        if (!dim.is(1, kLen)) return;
        int64_t d = -1;
        for_each_field(dim.bytes, [&](const ProtoField& v) {
          if (v.is(1, kVarint)) d = static_cast<int64_t>(v.value);
          if (v.is(2, kLen)) d = -1;
        });
        dims.push_back(d);
      });
    });
  });
}

// The elements of one occurrence of a repeated numeric field of `width` bytes per element (0:
// varints): one unpacked, as many as a packed run holds, none in another wire type (which
// protobuf keeps as an unknown field).
uint64_t elements_in(const ProtoField& f, size_t width) {
  const uint64_t unpacked_wire = width == 4 ? 5 : width == 8 ? 1 : 0;
  if (f.wire == unpacked_wire) return 1;
  if (f.wire != 2) return 0;
  if (width) return f.bytes.size() / width;
  uint64_t n = 0;
  for (size_t at = 0; at < f.bytes.size(); ++n) read_varint(f.bytes, at);
  return n;
}

// Calls f with each varint of a repeated integer field occurrence, packed or not.
template <class F>
void for_each_varint(const ProtoField& field, F&& f) {
  if (field.wire == 0) return f(field.value);
  if (field.wire != 2) return;
  for (size_t at = 0; at < field.bytes.size();) f(read_varint(field.bytes, at));
}

// TensorProto's typed value fields, by number, and per data type the one that holds its values
// (complex types two numbers per value) and the bytes per value in raw_data.
struct Typed {
  uint64_t field;
  size_t width;  // bytes per number of the packed field; 0: varints
  uint64_t per_value, raw_bytes;
};
bool typed_of(int64_t data_type, Typed& t) {
  switch (data_type) {
    case 1: t = {4, 4, 1, 4}; return true;                           // FLOAT: float_data
    case 2: case 3: case 9: t = {5, 0, 1, 1}; return true;           // UINT8, INT8, BOOL: int32_data
    case 4: case 5: case 10: case 16: t = {5, 0, 1, 2}; return true;  // UINT16, INT16, FLOAT16, BFLOAT16
    case 6: t = {5, 0, 1, 4}; return true;                           // INT32
    case 7: t = {7, 0, 1, 8}; return true;                           // INT64: int64_data
    case 11: t = {10, 8, 1, 8}; return true;                         // DOUBLE: double_data
    case 12: t = {11, 0, 1, 4}; return true;                         // UINT32: uint64_data
    case 13: t = {11, 0, 1, 8}; return true;                         // UINT64
    case 14: t = {4, 4, 2, 8}; return true;                          // COMPLEX64: float_data
    case 15: t = {10, 8, 2, 16}; return true;                        // COMPLEX128: double_data
    default: return false;                                           // STRING, unknown: not counted
  }
}

constexpr uint64_t kMaxValues = uint64_t(1) << 40;

// The number of values `dims` describe; kMaxValues + 1 for a negative dimension or more than that.
uint64_t value_count(const std::vector<int64_t>& dims) {
  uint64_t values = 1;
  for (const int64_t d : dims) {
    if (d < 0 || (d > 0 && values > kMaxValues / static_cast<uint64_t>(d))) return kMaxValues + 1;
    values *= static_cast<uint64_t>(d);
  }
  return values;
}

std::string dims_text(const std::vector<int64_t>& dims) {
  std::string text = "[";
  for (const int64_t d : dims) text += " " + std::to_string(d);
  return text + " ]";
}

// TensorProto: dims (1), data_type (2), name (8), raw_data (9), the typed fields above.
std::string tensor_problem(std::string_view tensor) {
  std::vector<int64_t> dims;
  int64_t data_type = 0;
  std::string_view name, raw;
  for_each_field(tensor, [&](const ProtoField& f) {
    if (f.number == 1) for_each_varint(f, [&](uint64_t d) { dims.push_back(static_cast<int64_t>(d)); });
    if (f.is(2, kVarint)) data_type = static_cast<int64_t>(f.value);
    if (f.is(8, kLen)) name = f.bytes;
    if (f.is(9, kLen)) raw = f.bytes;
  });
  Typed t{};
  if (!typed_of(data_type, t)) return "";
  const uint64_t values = value_count(dims);
  const std::string what = "tensor '" + excerpt(std::string(name)) + "' ";
  if (values > kMaxValues) return what + "has dims " + dims_text(dims) + ", negative or over 2^40 values";
  uint64_t typed = 0;
  for_each_field(tensor, [&](const ProtoField& f) {
    if (f.number == t.field) typed += elements_in(f, t.width);
  });
  const uint64_t held = typed ? typed / t.per_value : raw.size() / t.raw_bytes;
  const bool exact = typed ? typed % t.per_value == 0 : raw.size() % t.raw_bytes == 0;
  if (values == 0 || (held == values && exact)) return "";
  const std::string need = " where its dims " + dims_text(dims) + " need " + std::to_string(values);
  if (!typed && raw.empty()) return what + "holds no values" + need + " (external data is not read)";
  return what + "holds " + std::to_string(held) + (exact ? "" : " and a part") + " values" + need;
}

// The last string field `number` of `message`: protobuf keeps the last of a singular field.
std::string_view last_string(std::string_view message, uint64_t number) {
  std::string_view out;
  for_each_field(message, [&](const ProtoField& f) {
    if (f.is(number, kLen)) out = f.bytes;
  });
  return out;
}

// An attribute "group" (Conv's) that is not an integer >= 1, described; else "". OpenCV divides
// by it: a group of 0 raised SIGFPE inside readNetFromONNX. AttributeProto: name (1), i (3);
// without i, OpenCV would read the value from another field (a float, a string).
std::string group_problem(std::string_view attribute) {
  if (last_string(attribute, 1) != "group") return "";
  std::optional<int64_t> i;
  for_each_field(attribute, [&](const ProtoField& f) {
    if (f.is(3, kVarint)) i = static_cast<int64_t>(f.value);
  });
  if (i && *i >= 1) return "";
  return "has group " + (i ? std::to_string(*i) : std::string("without an integer value")) + ", not an integer >= 1";
}

// What makes node `index` unreadable, described: a problem of its tensors or of its group, or an
// input that nothing in `defined` defines; else "", and its outputs join `defined`. NodeProto:
// input (1), output (2), op_type (4), attribute (5) > t (5) | tensors (10).
std::string node_problem(std::string_view node, int index, std::set<std::string_view>& defined) {
  std::vector<std::string_view> inputs, outputs;
  std::string tensors, group;
  for_each_field(node, [&](const ProtoField& f) {
    if (f.is(1, kLen)) inputs.push_back(f.bytes);
    if (f.is(2, kLen)) outputs.push_back(f.bytes);
    if (!f.is(5, kLen)) return;
    for_each_field(f.bytes, [&](const ProtoField& a) {
      if ((a.is(5, kLen) || a.is(10, kLen)) && tensors.empty()) tensors = tensor_problem(a.bytes);
    });
    if (group.empty()) group = group_problem(f.bytes);
  });
  if (!tensors.empty()) return tensors;
  const std::string which = "node " + std::to_string(index) + " (" + excerpt(std::string(last_string(node, 4))) + ")";
  if (!group.empty()) return which + " " + group;
  for (std::string_view in : inputs)
    if (!in.empty() && !defined.count(in))
      return which + " reads '" + excerpt(std::string(in)) +
             "', which no graph input, initializer or earlier node defines";
  defined.insert(outputs.begin(), outputs.end());
  return "";
}

}  // namespace

OnnxFile read_onnx_file(const std::string& path) { return {path, read_file(path, "cannot load ONNX model")}; }

std::vector<int64_t> onnx_declared_input_shape(std::string_view onnx, std::string_view name) {
  // ModelProto > graph (7) > input (11) > ValueInfoProto { name (1), type (2) }; the last input
  // of that name counts.
  std::vector<int64_t> dims;
  for_each_field(onnx, [&](const ProtoField& graph) {
    if (!graph.is(7, kLen)) return;
    for_each_field(graph.bytes, [&](const ProtoField& input) {
      if (!input.is(11, kLen)) return;
      if (last_string(input.bytes, 1) != name) return;
      dims.clear();
      for_each_field(input.bytes, [&](const ProtoField& v) {
        if (v.is(2, kLen)) append_declared_dims(v.bytes, dims);
      });
    });
  });
  return dims;
}

std::string onnx_model_problem(std::string_view onnx) {
  // ModelProto > graph (7) > input (11) > name (1) | initializer (5) > name (8) | node (1).
  std::string problem;
  const auto found = [&](std::string p) {
    if (problem.empty()) problem = std::move(p);
  };
  for_each_field(onnx, [&](const ProtoField& graph) {
    if (!graph.is(7, kLen)) return;
    // Graph inputs and initializers may come after the nodes in the file: a first pass takes them.
    std::set<std::string_view> defined;  // graph inputs, initializers, earlier nodes' outputs
    for_each_field(graph.bytes, [&](const ProtoField& g) {
      if (g.is(11, kLen)) defined.insert(last_string(g.bytes, 1));
      if (!g.is(5, kLen)) return;
      defined.insert(last_string(g.bytes, 8));
      found(tensor_problem(g.bytes));
    });
    int index = 0;
    for_each_field(graph.bytes, [&](const ProtoField& g) {
      if (g.is(1, kLen)) found(node_problem(g.bytes, index++, defined));
    });
  });
  return problem;
}

}  // namespace mtfcdd
