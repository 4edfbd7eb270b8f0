#include "train_step.hpp"

#include <ATen/autocast_mode.h>
#include <torch/version.h>

#include <stdexcept>

#include "fcdd_math.hpp"

namespace mtfcdd {

torch::Device parse_device(const std::string& spec) {
  if (spec != "cpu" && spec != "cuda" && spec.rfind("cuda:", 0) != 0)
    throw std::invalid_argument("--device must be cpu, cuda or cuda:N, not '" + spec + "'");
  if (spec == "cpu") return torch::kCPU;
  const torch::Device d(spec);  // throws on "cuda:x"
  if (!torch::cuda::is_available())
    throw std::runtime_error("--device " + spec +
                             ": this LibTorch has no CUDA or sees no GPU (Debian's libtorch is CPU-only); "
                             "build against a CUDA LibTorch with -DTorch_DIR=..., or train with --device cpu");
  const int64_t n = static_cast<int64_t>(torch::cuda::device_count());
  if (d.has_index() && d.index() >= n)
    throw std::runtime_error("--device " + spec + ": this machine has " + std::to_string(n) + " GPU(s)");
  return d;
}

torch::Tensor to_device(const torch::Tensor& cpu, const torch::Device& device) {
  if (device.is_cpu()) return cpu;
  return cpu.pin_memory().to(device, /*non_blocking=*/true);
}

namespace {

// LibTorch 2.4 replaced the per-device autocast setters (set_enabled for CUDA, set_cpu_enabled)
// with ones that take the device type; both spellings are kept so that Debian's 1.13 and a CUDA
// LibTorch of today build the same step.
void set_bf16_autocast(torch::DeviceType device, bool on) {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
  at::autocast::set_autocast_dtype(device, at::kBFloat16);
  at::autocast::set_autocast_enabled(device, on);
#else
  if (device == torch::kCUDA) {
    at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
    at::autocast::set_enabled(on);
  } else {
    at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
    at::autocast::set_cpu_enabled(on);
  }
#endif
}

}  // namespace

AutocastScope::AutocastScope(bool on, torch::DeviceType device) : on_(on), device_(device) {
  if (on_) set_bf16_autocast(device_, true);
}

AutocastScope::~AutocastScope() {
  if (!on_) return;
  set_bf16_autocast(device_, false);
  at::autocast::clear_cache();
}

std::vector<torch::Tensor> trainable_parameters(torch::nn::Module& m) {
  std::vector<torch::Tensor> out;
  for (auto& p : m.parameters())
    if (p.requires_grad()) out.push_back(p);
  return out;
}

namespace {

// Sums every gradient, the loss and the stop flags over the processes in one flat allreduce.
void sum_over_processes(std::vector<torch::Tensor>& params, torch::Tensor& loss_and_stop, Collective& c) {
  std::vector<torch::Tensor> flat;
  for (auto& p : params) flat.push_back(p.grad().defined() ? p.grad().reshape(-1) : torch::zeros({p.numel()}, p.options()));
  flat.push_back(loss_and_stop.to(params.front().device()));
  auto buffer = torch::cat(flat);
  c.allreduce_sum(buffer);
  int64_t at = 0;
  for (auto& p : params) {
    const auto part = buffer.slice(0, at, at + p.numel()).view(p.sizes());
    if (p.grad().defined()) p.mutable_grad().copy_(part);
    else p.mutable_grad() = part.clone();
    at += p.numel();
  }
  loss_and_stop = buffer.slice(0, at).cpu();
}

}  // namespace

StepOutcome train_step(FcddModelImpl& model, torch::optim::Adam& opt, const torch::Tensor& images,
                       const torch::Tensor& labels, int64_t global_batch, double lr, const StopFlags& stop,
                       const StepOptions& o) {
  const int64_t members = model.config().members;
  torch::Tensor phi;
  {
    AutocastScope cast(o.bf16, images.device().type());
    SyncBatchNormScope sync(o.collective);
    phi = model.forward(images);
  }
  // Each member is scored on its own channels: the loss is the mean of the members' losses.
  const auto z = anomaly_scores(pseudo_huber(phi.to(torch::kFloat)));
  const double share = static_cast<double>(images.size(0)) / static_cast<double>(global_batch);
  const auto loss = fcdd_loss(z, labels.repeat({1, members})) * share;
  opt.zero_grad();
  loss.backward();  // synced BN layers sum their statistics' gradients here too
  auto loss_and_stop = torch::stack({loss.detach().to(torch::kFloat).cpu(), torch::tensor(stop.interrupted ? 1.f : 0.f),
                                     torch::tensor(stop.out_of_budget ? 1.f : 0.f)});
  if (o.collective != nullptr && o.collective->size() > 1) {
    auto params = trainable_parameters(model);
    sum_over_processes(params, loss_and_stop, *o.collective);
  }
  for (auto& g : opt.param_groups()) static_cast<torch::optim::AdamOptions&>(g.options()).lr(lr);
  opt.step();
  return {loss_and_stop[0].item<double>(), agreed_stop(loss_and_stop[1].item<double>(), loss_and_stop[2].item<double>())};
}

StopFlags agreed_stop(double interrupted_sum, double out_of_budget_sum) {
  const bool interrupted = interrupted_sum > 0;
  return {interrupted, !interrupted && out_of_budget_sum > 0};
}

}  // namespace mtfcdd
