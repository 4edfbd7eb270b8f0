// An exponential moving average of a model's weights (Polyak averaging, as timm's ModelEma):
// validating and exporting the average instead of the last step's weights damps the swings
// from epoch to epoch that a small training set gives.
#pragma once

#include <torch/torch.h>

#include <vector>

namespace mtfcdd {

class WeightAverage {
 public:
  // Starts from the model's current trainable parameters and buffers; freeze parts before this.
  WeightAverage(torch::nn::Module& model, double decay);

  // After each optimizer step: avg = d * avg + (1 - d) * w with d = min(decay, (1 + n) / (10 + n)),
  // n the updates so far, so that the first steps do not keep the initial weights for long.
  // Integer buffers (BatchNorm's step count) are copied.
  void update(torch::nn::Module& model);

  // Exchanges the model's tensors with the average; calling it twice restores both.
  void swap(torch::nn::Module& model);

  // For checkpoints: the averaged tensors (trainable parameters, then buffers) and the update count.
  std::vector<torch::Tensor>& tensors() { return avg_; }
  int64_t updates() const { return updates_; }
  void set_updates(int64_t n) { updates_ = n; }

 private:
  std::vector<torch::Tensor> avg_;
  double decay_;
  int64_t updates_ = 0;
};

}  // namespace mtfcdd
