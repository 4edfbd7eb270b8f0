// A data-parallel process group on LibTorch's own distributed engine (c10d): rendezvous through a
// TCPStore hosted by rank 0 at MASTER_ADDR:MASTER_PORT, collectives over Gloo (CPU tensors) or
// NCCL (CUDA tensors, with a CUDA LibTorch), and a heartbeat per rank in the store so that a
// failure names the rank that died or hung.
#pragma once

#include <torch/torch.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "collective.hpp"
#include "dist_env.hpp"

namespace c10d {
class Store;
class ProcessGroup;
}  // namespace c10d

namespace mtfcdd {

class C10dGroup final : public Collective {
 public:
  // Joins the run: rank 0 listens at the master endpoint, the others connect; everyone waits at
  // most cfg.timeout_seconds for all WORLD_SIZE ranks. Throws std::runtime_error naming the
  // endpoint and variables when the port is taken or the master cannot be reached in time.
  C10dGroup(const DistConfig& cfg, const torch::Device& device);
  ~C10dGroup() override;

  int rank() const override { return cfg_.rank; }
  int size() const override { return cfg_.world_size; }
  // A collective that fails (a peer died, or stayed silent past the timeout) ends this process
  // with exit code 3 after a message naming the silent ranks: a data-parallel step cannot go on
  // without them, and unwinding through a broken group can block where a bounded exit cannot.
  // Checkpoints are written whole or not at all, so the last one stays valid.
  void allreduce_sum(torch::Tensor& t) override;
  void broadcast(std::vector<torch::Tensor>& tensors, int root) override;
  void barrier();
  // Bytes through the store (a checkpoint to resume, a bundle, scores to calibrate on): one rank
  // puts, any fetches, waiting as long as rank `from` keeps beating.
  void put(const std::string& key, const std::string& bytes);
  std::string fetch(const std::string& key, int from);
  // The run has ended normally: every rank calls it last; rank 0 (which hosts the store) returns
  // once the others have, or after the timeout.
  void finish();

 private:
  [[noreturn]] void fail(const std::string& during, const std::string& error);
  std::string silent_ranks();
  void beat();

  DistConfig cfg_;
  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<c10d::ProcessGroup> pg_;
  std::atomic<bool> beating_{true};
  std::thread heartbeat_;
};

}  // namespace mtfcdd
