// Data-parallel training on c10d (Gloo on 127.0.0.1): ranks are real processes of the trainer.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "collective.hpp"
#include "dist_env.hpp"
#include "fcdd_math.hpp"
#include "fcdd_model.hpp"
#include "test_util.hpp"
#include "toy_data.hpp"
#include "train_step.hpp"

using namespace mtfcdd;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

// A trainer process with its output in files.
struct Proc {
  pid_t pid = -1;
  std::string out, err;
  std::string text() const {
    std::ifstream o(out), e(err);
    return std::string(std::istreambuf_iterator<char>(o), {}) + std::string(std::istreambuf_iterator<char>(e), {});
  }
};

Proc spawn(const std::vector<std::string>& args, const std::map<std::string, std::string>& env, const std::string& log) {
  Proc p{-1, log + ".out", log + ".err"};
  p.pid = ::fork();
  if (p.pid == 0) {
    for (const char* k : {"MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE"}) ::unsetenv(k);
    for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
    ::dup2(::open(p.out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644), 1);
    ::dup2(::open(p.err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644), 2);
    std::vector<char*> argv{const_cast<char*>(MTFCDD_TRAINER)};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(MTFCDD_TRAINER, argv.data());
    std::_Exit(127);
  }
  return p;
}

// The exit code (128 + signal when killed), or -1 when it has not ended within `seconds` (then killed).
int wait_for(const Proc& p, double seconds) {
  const auto end = Clock::now() + std::chrono::duration<double>(seconds);
  int status = 0;
  while (Clock::now() < end) {
    if (::waitpid(p.pid, &status, WNOHANG) == p.pid)
      return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ::kill(p.pid, SIGKILL);
  ::waitpid(p.pid, &status, 0);
  return -1;
}

int run(const std::vector<std::string>& args, const std::string& log, const std::map<std::string, std::string>& env = {}) {
  return wait_for(spawn(args, env, log), 300);
}

std::vector<std::string> toy_args(const std::string& data, const std::string& out) {
  return {"train", "--data", data, "--out", out, "--preset", "small", "--input-size", "64", "--head-channels", "16",
          "--epochs", "1", "--lr", "1e-3", "--threads", "1", "--workers", "1", "--aug-prob", "0.5", "--flip", "hv"};
}

std::vector<std::string> operator+(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// Largest relative L2 difference over the parameters and buffers of two saved networks.
double max_relative_difference(const std::string& a, const std::string& b) {
  ModelConfig mc;
  mc.preset = "small";
  mc.input_size = 64;
  mc.head_channels = 16;
  mc.types = 2;
  FcddModel ma(mc), mb(mc);
  torch::load(ma, a);
  torch::load(mb, b);
  double worst = 0;
  const auto pb = mb->named_parameters();
  for (const auto& p : ma->named_parameters()) {
    const auto d = (p.value() - pb[p.key()]).norm().item<double>() / (p.value().norm().item<double>() + 1e-12);
    worst = std::max(worst, d);
  }
  const auto bb = mb->named_buffers();
  for (const auto& p : ma->named_buffers()) {
    if (!p.value().is_floating_point()) continue;
    const auto d = (p.value() - bb[p.key()]).norm().item<double>() / (p.value().norm().item<double>() + 1e-12);
    worst = std::max(worst, d);
  }
  return worst;
}

}  // namespace

TEST(Distributed, TwoRanksMatchOneRankOfTheDoubleBatch) {
  test::TempDir dir;
  write_toy_dataset(dir.file("toy"), 2, 64, {40, 12, 0}, 5);
  const auto base = [&](const std::string& out) { return toy_args(dir.file("toy"), dir.file(out)) + std::vector<std::string>{"--batch", "8", "--max-steps", "5"}; };
  ASSERT_EQ(run(base("one"), dir.file("one")), 0) << Proc{-1, dir.file("one.out"), dir.file("one.err")}.text();
  ASSERT_EQ(run(base("two") + std::vector<std::string>{"--nproc", "2"}, dir.file("two")), 0)
      << Proc{-1, dir.file("two.out"), dir.file("two.err")}.text();
  // best.pt holds the weights after the 5 steps (the only epoch), BN running statistics included.
  EXPECT_LT(max_relative_difference(dir.file("one/best.pt"), dir.file("two/best.pt")), 1e-5);
  // Only rank 0 wrote: one history line, one bundle.
  std::ifstream h(dir.file("two/history.jsonl"));
  EXPECT_EQ(std::count(std::istreambuf_iterator<char>(h), {}, '\n'), 1);
  EXPECT_TRUE(fs::exists(dir.file("two/bundle/model.onnx")));
}

// The hand-written backward of the synchronised BatchNorm against autograd through ATen's layer.
TEST(Distributed, GlobalBatchNormMatchesTheLayerOnOneProcess) {
  torch::manual_seed(3);
  ModelConfig mc;
  mc.preset = "small";
  mc.input_size = 64;
  mc.head_channels = 16;
  mc.types = 2;
  FcddModel a(mc), b(mc);
  b->copy_network_from(*a);
  a->train();
  b->train();
  const auto x = torch::randn({4, 3, 64, 64});
  const auto y = (torch::rand({4, 2}) < 0.5).to(torch::kFloat);
  const auto loss_of = [&](FcddModel& m) { return fcdd_loss(anomaly_scores(pseudo_huber(m->forward(x))), y); };
  const auto la = loss_of(a);
  la.backward();
  torch::Tensor lb;
  {
    SyncBatchNormScope one_process(nullptr);
    lb = loss_of(b);
    lb.backward();
  }
  EXPECT_NEAR(la.item<double>(), lb.item<double>(), 1e-5);
  const auto pa = a->named_parameters();
  for (const auto& p : b->named_parameters()) {
    const auto ga = pa[p.key()].grad(), gb = p.value().grad();
    EXPECT_LT(((ga - gb).norm() / ga.norm()).item<double>(), 1e-4) << p.key();
  }
  const auto ba = a->named_buffers();
  for (const auto& p : b->named_buffers())
    if (p.value().is_floating_point())
      EXPECT_LT(((ba[p.key()] - p.value()).norm() / ba[p.key()].norm()).item<double>(), 1e-5) << p.key();
}
