#include "torch_timing.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>

#include "child_process.hpp"
#include "train_step.hpp"
#include "export.hpp"
#include "fcdd_math.hpp"
#include "fcdd_model.hpp"
#include "heap_tuning.hpp"

namespace mtfcdd::bench {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

// As `mtfcdd-train export` builds it: the preset's default input size and head width.
FcddModel make_model(const std::string& preset, int64_t types) {
  ModelConfig c;
  c.preset = preset;
  c.types = types;
  c.head_channels = preset == "small" ? 128 : 512;
  return FcddModel(resolved(c));
}

torch::Tensor input_batch(const FcddModelImpl& m, int batch) {
  const int64_t s = m.config().input_size;
  return torch::randn({batch, 3, s, s});
}

// Best wall time in ms of up to `repeats` calls of f after one warm-up call; a slow kernel
// stops after two calls once it has used kSlowKernelBudgetMs.
template <typename F>
double best_ms(int repeats, F&& f) {
  constexpr double kSlowKernelBudgetMs = 5000;
  f();
  double best = 1e300, spent = 0;
  for (int i = 0; i < repeats && (i < 2 || spent < kSlowKernelBudgetMs); ++i) {
    const auto t0 = Clock::now();
    f();
    const double ms = ms_since(t0);
    best = std::min(best, ms);
    spent += ms;
  }
  return best;
}

}  // namespace

const char* const kLibtorchIncludes =
    "eval-mode forward of the same weights plus the FCDD maps, scores and probabilities, under "
    "torch::InferenceMode, on an already-normalised input tensor";

ModelFacts export_model(const std::string& preset, int64_t types, const std::string& dir) {
  torch::manual_seed(1);
  FcddModel model = make_model(preset, types);
  ExportRequest req;
  req.out_dir = (std::filesystem::path(dir) / "bundle").string();
  for (int64_t k = 0; k < types; ++k) {
    const std::string n = "type" + std::to_string(k);
    req.types.push_back({n, n, std::log(2.0), std::log(2.0)});
  }
  req.provenance = {{"preset", preset}, {"weights", "random"}, {"data", "none (benchmark)"}};
  const ExportResult r = export_bundle(*model, req);
  ModelFacts f;
  f.input_size = model->config().input_size;
  f.flops_per_image = model->to_graph().flops();
  f.params = count_parameters(*model).total;
  f.model_bytes = r.onnx_bytes;
  f.bundle_dir = req.out_dir;
  f.weights_path = (std::filesystem::path(dir) / "weights.pt").string();
  torch::save(model, f.weights_path);
  return f;
}

std::vector<double> run_libtorch_child(const LibtorchRequest& r) {
  const ChildRun run = run_self({"libtorch-only", "--preset", r.preset, "--weights", r.weights_path, "--type-count",
                                 std::to_string(r.types), "--batch", std::to_string(r.batch), "--runs",
                                 std::to_string(r.runs), "--warmup", std::to_string(r.warmup), "--threads",
                                 std::to_string(r.threads)},
                                wait_policy_env(r.spin));
  return stdout_json(run, "LibTorch").at("call_ms").get<std::vector<double>>();
}

int libtorch_child_main(const LibtorchRequest& r) {
  set_threads(r.threads);
  FcddModel model = make_model(r.preset, r.types);
  torch::load(model, r.weights_path);
  model->eval();
  torch::InferenceMode guard;
  const torch::Tensor x = input_batch(*model, r.batch);
  std::vector<double> ms;
  for (int i = 0; i < r.warmup + r.runs; ++i) {
    const auto t0 = Clock::now();
    const auto maps = model->maps(x);
    probabilities(anomaly_scores(maps));
    const double t = ms_since(t0);
    if (i >= r.warmup) ms.push_back(t);
  }
  std::cout << nlohmann::json{{"call_ms", ms}}.dump() << std::endl;
  return 0;
}

GemmPeak gemm_peak(int n, int repeats) {
  const double gflop = 2.0 * n * n * n / 1e9;
  GemmPeak g;
  g.n = n;
  const auto measure = [&](const std::string& name, auto&& f) {
    g.kernels.push_back({name, gflop / (best_ms(repeats, f) / 1e3)});
  };
  {
    torch::InferenceMode guard;
    const auto a = torch::randn({n, n}), b = torch::randn({n, n});
    measure("torch::mm", [&] { torch::mm(a, b); });
    // n output channels over n input channels at n pixels: the same product as a convolution.
    const auto x = torch::randn({1, n, 1, n}), w = torch::randn({n, n, 1, 1});
    measure("torch::conv2d 1x1 (oneDNN)", [&] { torch::conv2d(x, w); });
  }
  cv::Mat a(n, n, CV_32F), b(n, n, CV_32F), c;
  cv::randn(a, 0, 1);
  cv::randn(b, 0, 1);
  measure("cv::gemm", [&] { cv::gemm(a, b, 1.0, cv::noArray(), 0.0, c); });

  cv::dnn::LayerParams conv;
  conv.name = "gemm";
  conv.type = "Convolution";
  conv.set("kernel_size", 1);
  conv.set("num_output", n);
  conv.set("bias_term", false);
  conv.blobs.push_back(cv::Mat({n, n, 1, 1}, CV_32F));
  cv::randn(conv.blobs.back(), 0, 1);
  cv::dnn::Net net;
  net.addLayerToPrev(conv.name, conv.type, conv);
  net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
  cv::Mat x({1, n, 1, n}, CV_32F);
  cv::randn(x, 0, 1);
  net.setInput(x);
  measure("OpenCV DNN conv 1x1", [&] { net.forward(); });
  return g;
}

double train_images_per_s(const std::string& preset, int64_t types, const TrainStep& how, int batch, int steps) {
  keep_freed_memory_in_heap();  // as mtfcdd-train does; training is the bench's last measurement
  torch::manual_seed(1);
  FcddModel model = make_model(preset, types);
  model->set_backbone_frozen(how.frozen_backbone);
  model->train();
  if (how.channels_last) to_channels_last(*model);
  std::vector<torch::Tensor> params;
  for (auto& p : model->parameters())
    if (p.requires_grad()) params.push_back(p);
  torch::optim::Adam opt(params, torch::optim::AdamOptions(1e-4));
  const torch::Tensor x = how.channels_last ? channels_last(input_batch(*model, batch)) : input_batch(*model, batch);
  const torch::Tensor y = torch::randint(0, 2, {batch, types});
  const auto step = [&] {
    torch::Tensor phi;
    {
      AutocastScope cast(how.bf16, torch::kCPU);
      phi = model->forward(x);
    }
    const auto loss = fcdd_loss(anomaly_scores(pseudo_huber(phi.to(torch::kFloat))), y);
    opt.zero_grad();
    loss.backward();
    opt.step();
  };
  step();  // warm-up: allocator, Adam state
  const auto t0 = Clock::now();
  for (int i = 0; i < steps; ++i) step();
  return batch * steps / (ms_since(t0) / 1e3);
}

void set_threads(int n) {
  torch::set_num_threads(n);
  cv::setNumThreads(n);
}

std::string torch_version() { return TORCH_VERSION; }

}  // namespace mtfcdd::bench
