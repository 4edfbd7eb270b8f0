#include "weight_average.hpp"

#include <algorithm>
#include <stdexcept>

namespace mtfcdd {
namespace {

// Frozen parameters (a pretrained backbone) never change: averaging them would be work on every step.
std::vector<torch::Tensor> model_tensors(torch::nn::Module& model) {
  std::vector<torch::Tensor> out;
  for (auto& p : model.parameters())
    if (p.requires_grad()) out.push_back(p);
  for (auto& b : model.buffers()) out.push_back(b);
  return out;
}

}  // namespace

WeightAverage::WeightAverage(torch::nn::Module& model, double decay) : decay_(decay) {
  if (!(decay > 0 && decay < 1)) throw std::invalid_argument("the weight average's decay must be in (0, 1)");
  for (const auto& t : model_tensors(model)) avg_.push_back(t.detach().clone());
}

void WeightAverage::update(torch::nn::Module& model) {
  torch::NoGradGuard ng;
  const auto now = model_tensors(model);
  if (now.size() != avg_.size()) throw std::logic_error("the model changed shape under its weight average");
  const double d = std::min(decay_, (1.0 + updates_) / (10.0 + updates_));
  for (size_t i = 0; i < now.size(); ++i) {
    if (torch::isFloatingType(avg_[i].scalar_type()))
      avg_[i].mul_(d).add_(now[i].detach(), 1 - d);
    else
      avg_[i].copy_(now[i]);
  }
  ++updates_;
}

void WeightAverage::swap(torch::nn::Module& model) {
  torch::NoGradGuard ng;
  const auto now = model_tensors(model);
  for (size_t i = 0; i < now.size(); ++i) {
    const torch::Tensor kept = now[i].detach().clone();
    now[i].detach().copy_(avg_[i]);
    avg_[i].copy_(kept);
  }
}

}  // namespace mtfcdd
