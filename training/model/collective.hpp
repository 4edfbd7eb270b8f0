// What data-parallel training asks of a process group, seen from the network and the training
// step (LibTorch only; training/dist/ implements it on c10d): this process's rank, how many there
// are, and sums over all of them.
#pragma once

#include <torch/torch.h>

#include <vector>

namespace mtfcdd {

class Collective {
 public:
  virtual ~Collective() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Sums the tensor over all processes, in place. Throws std::runtime_error naming the peer that
  // died or hung (after the group's timeout), never waits forever.
  virtual void allreduce_sum(torch::Tensor& t) = 0;
  // Copies rank `root`'s tensors into everyone's, in place.
  virtual void broadcast(std::vector<torch::Tensor>& tensors, int root) = 0;
};

// A run of one process as a collective: sums and broadcasts leave tensors as they are. Given to
// the step, it makes one process normalise BatchNorm exactly as N processes would.
class SingleProcess final : public Collective {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  void allreduce_sum(torch::Tensor&) override {}
  void broadcast(std::vector<torch::Tensor>&, int) override {}
};

// While one is alive with a collective c, BatchNorm layers in training mode normalise with the
// statistics of the global batch (the union of every process's shard) instead of their own
// shard's, by one implementation whatever the number of processes (reductions in double,
// elementwise steps per image): N processes with B/N images each compute what one process given
// a SingleProcess computes on B images to float rounding. With c null (a run of one process)
// the layers run their own fused kernels (oneDNN, cuDNN), which a whole-network step needs to be
// fast; such a run and an N-process one agree to float32 accumulation, not rounding.
// Process-wide, since backward may run on the autograd engine's threads.
class SyncBatchNormScope {
 public:
  explicit SyncBatchNormScope(Collective* c);
  ~SyncBatchNormScope();
  SyncBatchNormScope(const SyncBatchNormScope&) = delete;
  SyncBatchNormScope& operator=(const SyncBatchNormScope&) = delete;

 private:
  Collective* previous_;
  bool previous_in_scope_;
};

// bn(x): the layer's own forward; in training mode inside a SyncBatchNormScope with a collective,
// the global batch's statistics (the running statistics updated with them, as the layer would),
// float32 out.
torch::Tensor batch_norm(torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& x);

// Copies every parameter and buffer of rank 0 into the others' (the start of a run: all begin
// from the same weights whatever each initialised).
void broadcast_module(torch::nn::Module& m, Collective& c);

}  // namespace mtfcdd
