// mtfcdd-step-bench: times forward + backward + Adam step of a preset on a device, with LibTorch
// alone, so that it builds against any LibTorch (a CUDA one: -DTorch_DIR=...) and measures what a
// GPU machine would train at before anyone moves data there.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <string>
#include <thread>

#include "heap_tuning.hpp"
#include "train_step.hpp"

namespace {

using mtfcdd::FcddModel;

struct Options {
  std::string preset = "irv2", device = "cpu";
  int64_t batch = 32, steps = 10, warmup = 2, types = 8, input_size = 0;
  int64_t threads = std::max(1u, std::thread::hardware_concurrency());
  bool head_only = true, bf16 = false, channels_last = true, global_bn = false;
};

const char* kUsage =
    "usage: mtfcdd-step-bench [--preset irv2|mobilenet_v1|small] [--device cpu|cuda|cuda:N] [--batch 32]\n"
    "                         [--steps 10] [--warmup 2] [--types 8] [--input-size S] [--threads N] [--train-backbone]\n"
    "                         [--bf16] [--nchw] [--global-bn]\n"
    "times forward + backward + Adam step of random-weight networks on random images; prints images/s.\n"
    "Weights and images are channels-last, as the trainer keeps them, unless --nchw; --global-bn: BatchNorm\n"
    "by the multi-process implementation (one process), as a run of several processes normalises.\n";

int64_t positive(const std::string& name, const std::string& v) {
  char* end = nullptr;
  const long long n = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || n < 1) throw std::invalid_argument(name + " needs a positive integer, got '" + v + "'");
  return n;
}

Options parse(int argc, char** argv) {
  Options o;
  const std::map<std::string, int64_t*> ints = {{"--batch", &o.batch}, {"--steps", &o.steps}, {"--warmup", &o.warmup},
                                                {"--types", &o.types}, {"--input-size", &o.input_size},
                                                {"--threads", &o.threads}};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::cout << kUsage;
      std::exit(0);
    } else if (a == "--train-backbone") {
      o.head_only = false;
    } else if (a == "--bf16") {
      o.bf16 = true;
    } else if (a == "--nchw") {
      o.channels_last = false;
    } else if (a == "--global-bn") {
      o.global_bn = true;
    } else if (i + 1 >= argc) {
      throw std::invalid_argument("unknown option or missing value: " + a);
    } else if (a == "--preset") {
      o.preset = argv[++i];
    } else if (a == "--device") {
      o.device = argv[++i];
    } else if (ints.count(a)) {
      *ints.at(a) = positive(a, argv[++i]);
    } else {
      throw std::invalid_argument("unknown option " + a);
    }
  }
  return o;
}

void sync(const torch::Device& d) {
  if (d.is_cuda()) torch::cuda::synchronize(d.index() < 0 ? 0 : d.index());
}

int run(const Options& o) {
  const torch::Device device = mtfcdd::parse_device(o.device);
  mtfcdd::keep_freed_memory_in_heap();  // as mtfcdd-train does
  torch::set_num_threads(static_cast<int>(o.threads));
  torch::manual_seed(1);
  mtfcdd::ModelConfig mc;
  mc.preset = o.preset;
  mc.types = o.types;
  mc.input_size = o.input_size;
  FcddModel model(mc);
  model->set_backbone_frozen(o.head_only);
  model->to(device);
  if (o.channels_last) mtfcdd::to_channels_last(*model);  // before the optimizer, as the trainer
  model->train();
  const int64_t side = model->config().input_size;
  torch::optim::Adam opt(mtfcdd::trainable_parameters(*model), torch::optim::AdamOptions(1e-4));
  const auto images = torch::randn({o.batch, 3, side, side});
  const auto labels = (torch::rand({o.batch, o.types}) < 0.3).to(torch::kFloat);
  mtfcdd::SingleProcess one;
  const mtfcdd::StepOptions so{o.bf16, o.global_bn ? &one : nullptr};
  using Clock = std::chrono::steady_clock;
  Clock::time_point t0;
  for (int64_t s = 0; s < o.warmup + o.steps; ++s) {
    if (s == o.warmup) {
      sync(device);
      t0 = Clock::now();
    }
    auto x = mtfcdd::to_device(images, device);  // copied each step, as the trainer's batches
    if (o.channels_last) x = mtfcdd::channels_last(x);
    mtfcdd::train_step(*model, opt, x, mtfcdd::to_device(labels, device), o.batch, 1e-4, {}, so);
  }
  sync(device);
  const double sec = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf("%s %s, %s, batch %lld at %lldx%lld%s%s%s: %.1f images/s (%.1f ms per step, %lld steps; torch %s, %d threads)\n",
              o.preset.c_str(), o.head_only ? "head-only" : "whole network", device.str().c_str(),
              static_cast<long long>(o.batch), static_cast<long long>(side), static_cast<long long>(side),
              o.bf16 ? ", bf16 autocast" : "", o.channels_last ? "" : ", NCHW", o.global_bn ? ", global BN" : "",
              o.batch * o.steps / sec, 1e3 * sec / o.steps,
              static_cast<long long>(o.steps), TORCH_VERSION, torch::get_num_threads());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parse(argc, argv));
  } catch (const std::exception& e) {
    std::cerr << "mtfcdd-step-bench: " << e.what() << "\n";
    return 2;
  }
}
