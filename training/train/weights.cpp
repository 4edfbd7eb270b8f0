#include "weights.hpp"

#include <iostream>
#include <set>
#include <sstream>

namespace mtfcdd {
namespace {

bool is_counter(const std::string& name) {
  const std::string suffix = "num_batches_tracked";
  return name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string shape_str(c10::IntArrayRef s) {
  std::ostringstream o;
  o << s;
  return o.str();
}

std::map<std::string, torch::Tensor> named_state(const torch::nn::Module& module) {
  std::map<std::string, torch::Tensor> state;
  for (const auto& p : module.named_parameters()) state[p.key()] = p.value();
  for (const auto& b : module.named_buffers())
    if (!is_counter(b.key())) state[b.key()] = b.value();
  return state;
}

}  // namespace

LoadReport load_weights(torch::nn::Module& module, const TensorMap& tensors, const std::string& source) {
  const auto state = named_state(module);
  std::set<std::string> roots;
  for (const auto& c : module.named_children()) roots.insert(c.key());
  std::vector<std::string> problems;
  for (const auto& [name, t] : state) {
    const auto it = tensors.find(name);
    if (it == tensors.end()) {
      problems.push_back("missing tensor '" + name + "' " + shape_str(t.sizes()));
    } else if (c10::IntArrayRef(it->second.shape) != t.sizes()) {
      problems.push_back("tensor '" + name + "' has shape " + shape_str(it->second.shape) +
                         ", the model needs " + shape_str(t.sizes()));
    }
  }
  LoadReport report;
  for (const auto& [name, t] : tensors) {
    if (state.count(name) || is_counter(name)) continue;
    if (roots.count(name.substr(0, name.find('.'))))
      problems.push_back("unexpected tensor '" + name + "' inside a layer the model builds");
    else
      ++report.ignored;
  }
  if (!problems.empty()) {
    std::string msg = source + ": weights do not fit the model (" + std::to_string(problems.size()) + " problems):";
    for (size_t i = 0; i < problems.size() && i < 20; ++i) msg += "\n  " + problems[i];
    if (problems.size() > 20) msg += "\n  ...";
    throw std::runtime_error(msg);
  }
  torch::NoGradGuard no_grad;
  for (auto& [name, t] : state) {
    const auto& src = tensors.at(name);
    t.copy_(torch::from_blob(const_cast<float*>(src.data.data()), t.sizes(), torch::kFloat));
    ++report.loaded;
  }
  return report;
}

TensorMap state_tensors(const torch::nn::Module& module) {
  TensorMap out;
  for (const auto& [name, t] : named_state(module)) {
    const auto c = t.detach().to(torch::kCPU, torch::kFloat).contiguous();
    out[name] = {c.sizes().vec(), {c.data_ptr<float>(), c.data_ptr<float>() + c.numel()}};
  }
  return out;
}

std::string setup_backbone(FcddModelImpl& model, const std::string& path, bool say) {
  if (path.empty()) {
    if (say && model.config().preset != "small")
      std::cerr << "WARNING: no --weights given: the " << model.config().preset
                << " backbone is randomly initialised and is trained from scratch, not frozen\n";
    model.set_backbone_frozen(false);
    return "random";
  }
  const auto tensors = read_safetensors(path);
  LoadReport report;
  for (auto* member : model.member_list()) report = load_weights(*member->backbone, tensors, path);
  if (say)
    std::cerr << "loaded " << report.loaded << " backbone tensors from " << path << " (" << report.ignored
              << " tensors of later layers ignored); backbone frozen\n";
  model.set_backbone_frozen(true);
  return path;
}

}  // namespace mtfcdd
