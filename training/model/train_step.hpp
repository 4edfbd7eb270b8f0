// One optimisation step of the FCDD network on a device, alone or as one of several data-parallel
// processes: the part of training that needs LibTorch and nothing else (no OpenCV, no ONNX), so
// that it builds against any LibTorch, a CUDA one included.
#pragma once

#include <torch/torch.h>

#include <string>

#include "collective.hpp"
#include "fcdd_model.hpp"

namespace mtfcdd {

// "cpu", "cuda" or "cuda:N". Throws std::invalid_argument on another spelling and
// std::runtime_error, before any work, when this LibTorch was built without CUDA or sees no
// such GPU.
torch::Device parse_device(const std::string& spec);

// Moves a CPU batch to the device: on CUDA through pinned memory, asynchronously (the copy
// overlaps the previous step's kernels); on the CPU unchanged.
torch::Tensor to_device(const torch::Tensor& cpu, const torch::Device& device);

// Forward passes inside are autocast to bfloat16 on the device's type (weights, gradients and the
// loss stay float32); off = a no-op scope.
class AutocastScope {
 public:
  AutocastScope(bool on, torch::DeviceType device);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool on_;
  torch::DeviceType device_;
};

struct StepOptions {
  bool bf16 = false;                  // autocast forward passes to bfloat16
  Collective* collective = nullptr;  // several processes: gradients and BN statistics summed
};

// Why training stops after a step: Ctrl-C, or a time or step budget spent.
struct StopFlags {
  bool interrupted = false;
  bool out_of_budget = false;
  bool any() const { return interrupted || out_of_budget; }
};

// What every process concludes from the flags summed over the processes (how many raised each):
// one rank's Ctrl-C makes every rank stop as interrupted, also when another ran out of budget at
// the same step; else any rank's spent budget stops all as out of budget.
StopFlags agreed_stop(double interrupted_sum, double out_of_budget_sum);

struct StepOutcome {
  double loss = 0;  // the global batch's mean loss (the same on every process)
  StopFlags stop;   // agreed_stop over the processes: every process stops after this same step
};

// images [n, 3, H, W] and labels [n, M] (multi-hot) on the model's device are this process's
// shard of a global batch of `global_batch` images. The loss is scaled by n / global_batch, so
// that its gradients summed over the processes are the gradients of the global batch's mean
// loss: N processes with B/N images take the step one process takes with B. `stop`, this
// process's request, travels in the same allreduce as the gradients (no extra round trip), each
// flag in its own slot.
StepOutcome train_step(FcddModelImpl& model, torch::optim::Adam& opt, const torch::Tensor& images,
                       const torch::Tensor& labels, int64_t global_batch, double lr, const StopFlags& stop,
                       const StepOptions& o);

// The parameters the optimizer trains (requires_grad), in module order.
std::vector<torch::Tensor> trainable_parameters(torch::nn::Module& m);

}  // namespace mtfcdd
