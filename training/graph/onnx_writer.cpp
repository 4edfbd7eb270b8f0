#include "onnx_writer.hpp"

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>

#include <cstdio>
#include <fstream>
#include <stdexcept>

namespace mtfcdd {
namespace {

void set_nchw(onnx::ValueInfoProto* v, const std::string& name, const Shape& s) {
  v->set_name(name);
  auto* tt = v->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(onnx::TensorProto::FLOAT);
  auto* shape = tt->mutable_shape();
  shape->add_dim()->set_dim_param("N");
  shape->add_dim()->set_dim_value(s.c);
  shape->add_dim()->set_dim_value(s.h);
  shape->add_dim()->set_dim_value(s.w);
}

void add_attr(onnx::NodeProto* n, const Attr& a) {
  auto* p = n->add_attribute();
  p->set_name(a.name);
  switch (a.kind) {
    case Attr::Kind::Int:
      p->set_type(onnx::AttributeProto::INT);
      p->set_i(a.i);
      break;
    case Attr::Kind::Float:
      p->set_type(onnx::AttributeProto::FLOAT);
      p->set_f(a.f);
      break;
    case Attr::Kind::Ints:
      p->set_type(onnx::AttributeProto::INTS);
      for (int64_t v : a.ints) p->add_ints(v);
      break;
    case Attr::Kind::String:
      p->set_type(onnx::AttributeProto::STRING);
      p->set_s(a.s);
      break;
  }
}

}  // namespace

void write_onnx(const NetGraph& graph, const std::string& path, const std::string& producer) {
  onnx::ModelProto model;
  model.set_ir_version(6);  // the IR version that goes with opset 11
  model.set_producer_name(producer);
  auto* opset = model.add_opset_import();
  opset->set_domain("");
  opset->set_version(kOnnxOpset);

  auto* g = model.mutable_graph();
  g->set_name("mtfcdd");
  set_nchw(g->add_input(), graph.input_name(), graph.input_shape());
  for (const auto& init : graph.initializers()) {
    auto* t = g->add_initializer();
    t->set_name(init.name);
    t->set_data_type(onnx::TensorProto::FLOAT);
    for (int64_t d : init.dims) t->add_dims(d);
    t->set_raw_data(init.data.data(), init.data.size() * sizeof(float));
  }
  for (const auto& node : graph.nodes()) {
    auto* n = g->add_node();
    n->set_op_type(node.op);
    n->set_name(node.name);
    for (const auto& in : node.inputs) n->add_input(in);
    n->add_output(node.output);
    for (const auto& a : node.attrs) add_attr(n, a);
  }
  for (const auto& out : graph.outputs())
    set_nchw(g->add_output(), out.name, graph.shape(out.id));

  try {
    onnx::checker::check_model(model);
    onnx::ShapeInferenceOptions strict(/*check_type=*/true, /*error_mode=*/1);
    onnx::shape_inference::InferShapes(model, onnx::OpSchemaRegistry::Instance(), strict);
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string("ONNX validation failed: ") + e.what());
  }

  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f || !model.SerializeToOstream(&f) || !f.flush())
      throw std::runtime_error("cannot write " + tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    throw std::runtime_error("cannot move " + tmp + " to " + path);
}

}  // namespace mtfcdd
