// The LibTorch side of the benchmark: bundle export, eval timing of the same weights (in a child
// process), the machine's GEMM peak and training throughput. The only bench file that includes torch; this
// header stays torch-free.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mtfcdd::bench {

struct ModelFacts {
  int64_t input_size = 0;
  int64_t flops_per_image = 0;  // NetGraph::flops(): multiply-add = 2
  int64_t params = 0;
  int64_t model_bytes = 0;  // model.onnx
  std::string bundle_dir, weights_path;
};

// Builds `preset` with seeded random weights, writes the verified bundle to dir/bundle and the
// weights to dir/weights.pt (so LibTorch can time exactly what the plugin runs).
ModelFacts export_model(const std::string& preset, int64_t types, const std::string& dir);

// LibTorch's timing of `preset` on the weights export_model saved. It runs in a child process (the
// hidden libtorch-only subcommand), as the plugin's does, so that it gets the same environment
// (spin) and takes its turn in the same rounds.
struct LibtorchRequest {
  std::string preset, weights_path;
  int types = 8, batch = 1, runs = 50, warmup = 5, threads = 1;
  bool spin = true;  // false: OpenMP's waiting threads sleep at once, as PluginRequest::spin
};

// Parent: wall time (ms) of each of `runs` calls after `warmup`, measured in a child: eval-mode
// forward plus the FCDD maps, scores and probabilities, under InferenceMode, on a
// [batch, 3, S, S] input.
std::vector<double> run_libtorch_child(const LibtorchRequest& r);

// Child (the hidden libtorch-only subcommand): measures, prints JSON to stdout.
int libtorch_child_main(const LibtorchRequest& r);

extern const char* const kLibtorchIncludes;

// What the libraries' own kernels reach, beside the physical peak (fma_peak.hpp): the same
// n x n x n float32 matrix product through each library at hand, as a GEMM and as a 1x1
// convolution (Debian's LibTorch links the generic reference BLAS, so torch::mm is slow while the
// convolution libraries' kernels are not).
struct PeakKernel {
  std::string name;
  double gflops = 0;
};
struct GemmPeak {
  int n = 0;
  std::vector<PeakKernel> kernels;
};
// Each kernel: the best of up to `repeats` calls after a warm-up call (fewer for slow kernels).
GemmPeak gemm_peak(int n, int repeats);

struct TrainStep {
  bool frozen_backbone = false;  // only the head trains, as the trainer does with --weights
  bool channels_last = true;     // NHWC weights and inputs, as the trainer keeps them
  bool bf16 = false;             // forward passes in bfloat16, as with the trainer's --bf16
};
// Images per second of training steps (forward, FCDD loss, backward, Adam) on random data.
double train_images_per_s(const std::string& preset, int64_t types, const TrainStep& how, int batch, int steps);

// LibTorch's and OpenCV's thread counts in this process.
void set_threads(int n);
std::string torch_version();

}  // namespace mtfcdd::bench
