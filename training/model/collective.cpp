#include "collective.hpp"

#include <atomic>
#include <cstdint>
#include <stdexcept>

namespace mtfcdd {
namespace {

// The training step's scope: whether one is open, and over which processes (null: this one alone).
std::atomic<bool> g_in_scope{false};
std::atomic<Collective*> g_bn_sync{nullptr};

Collective* collective_of(int64_t handle) { return reinterpret_cast<Collective*>(handle); }
int64_t handle_of(Collective* c) { return static_cast<int64_t>(reinterpret_cast<intptr_t>(c)); }

torch::Tensor per_channel(const torch::Tensor& v) { return v.view({1, -1, 1, 1}); }
const std::vector<int64_t> kReduce{0, 2, 3};

// BatchNorm's training-mode normalisation with the global batch's statistics, as PyTorch's
// SyncBatchNorm: the mean and inverse deviation come in as inputs; backward sums its two batch
// reductions over the processes. Every reduction accumulates in double and every elementwise step
// is per image, so the gradients do not depend on how the batch is split; weight and bias get the
// local shard's gradient (the step sums parameter gradients over the processes anyway).
struct GlobalBatchNorm : torch::autograd::Function<GlobalBatchNorm> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& weight,
                               const torch::Tensor& bias, const torch::Tensor& mean, const torch::Tensor& invstd,
                               double count, int64_t handle) {
    ctx->save_for_backward({x, weight, mean, invstd});
    ctx->saved_data["count"] = count;
    ctx->saved_data["collective"] = handle;
    const auto scale = invstd * weight.to(torch::kDouble);
    return x * per_channel(scale.to(torch::kFloat)) + per_channel((bias - mean * scale).to(torch::kFloat));
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &x = saved[0], &weight = saved[1], &mean = saved[2], &invstd = saved[3];
    const double n = ctx->saved_data["count"].toDouble();
    const auto dy = grads[0].to(torch::kFloat);
    const auto xmu = x - per_channel(mean.to(torch::kFloat));
    auto sums = torch::cat({dy.sum(kReduce, false, torch::kDouble), (dy * xmu).sum(kReduce, false, torch::kDouble)});
    const int64_t ch = x.size(1);
    const auto grad_weight = (sums.slice(0, ch) * invstd).to(weight.scalar_type());
    const auto grad_bias = sums.slice(0, 0, ch).to(weight.scalar_type());
    collective_of(ctx->saved_data["collective"].toInt())->allreduce_sum(sums);
    const auto mean_dy = sums.slice(0, 0, ch) / n, mean_dy_xmu = sums.slice(0, ch) / n;
    const auto w = weight.to(torch::kDouble);
    const auto grad_x = (dy - per_channel(mean_dy.to(torch::kFloat)) -
                         xmu * per_channel((invstd * invstd * mean_dy_xmu).to(torch::kFloat))) *
                        per_channel((invstd * w).to(torch::kFloat));
    return {grad_x, grad_weight, grad_bias, torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

torch::Tensor global_batch_norm(torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& input, Collective* c) {
  if (!bn.options.affine()) throw std::logic_error("batch_norm: the synchronised layer needs affine weights");
  const auto x = input.to(torch::kFloat);
  const int64_t ch = x.size(1);
  torch::Tensor mean, var;
  double n = 0;
  {
    torch::NoGradGuard no_grad;
    // Sums and the element count in one allreduce; then the variance about the global mean (two
    // passes, as ATen's kernel, not E[x^2] - E[x]^2, which cancels).
    auto sums = torch::cat({x.sum(kReduce, false, torch::kDouble),
                            torch::full({1}, static_cast<double>(x.numel() / ch), x.options().dtype(torch::kDouble))});
    c->allreduce_sum(sums);
    n = sums[ch].item<double>();
    mean = sums.slice(0, 0, ch) / n;
    var = (x - per_channel(mean.to(torch::kFloat))).square().sum(kReduce, false, torch::kDouble);
    c->allreduce_sum(var);
    var /= n;
    if (bn.options.track_running_stats()) {
      const double m = bn.options.momentum().value_or(0.1);
      bn.running_mean.mul_(1 - m).add_(mean.to(torch::kFloat), m);
      bn.running_var.mul_(1 - m).add_((var * (n / std::max(1.0, n - 1))).to(torch::kFloat), m);
      bn.num_batches_tracked.add_(1);
    }
  }
  const auto invstd = torch::rsqrt(var + bn.options.eps());
  return GlobalBatchNorm::apply(x, bn.weight, bn.bias, mean, invstd, n, handle_of(c));
}

}  // namespace

SyncBatchNormScope::SyncBatchNormScope(Collective* c)
    : previous_(g_bn_sync.exchange(c)), previous_in_scope_(g_in_scope.exchange(true)) {}
SyncBatchNormScope::~SyncBatchNormScope() {
  g_bn_sync = previous_;
  g_in_scope = previous_in_scope_;
}

torch::Tensor batch_norm(torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& x) {
  Collective* c = g_bn_sync.load();
  if (!g_in_scope.load() || !bn.is_training() || c == nullptr) return bn.forward(x);
  return global_batch_norm(bn, x, c);
}

void broadcast_module(torch::nn::Module& m, Collective& c) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> all;
  for (auto& p : m.parameters()) all.push_back(p);
  for (auto& b : m.buffers()) all.push_back(b);
  c.broadcast(all, 0);
}

}  // namespace mtfcdd
