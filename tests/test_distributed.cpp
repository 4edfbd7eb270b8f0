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
#include <regex>
#include <sstream>
#include <thread>

#include "collective.hpp"
#include "dist_env.hpp"
#include "export.hpp"
#include "fcdd_math.hpp"
#include "fcdd_model.hpp"
#include "test_util.hpp"
#include "toy_data.hpp"
#include <mtfcdd/bundle.hpp>
#include <mtfcdd/dnn_model.hpp>
#include "train_step.hpp"

using namespace mtfcdd;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

// What a trainer process wrote to LOG.out and LOG.err.
std::string log_text(const std::string& log) {
  std::ifstream o(log + ".out"), e(log + ".err");
  return std::string(std::istreambuf_iterator<char>(o), {}) + std::string(std::istreambuf_iterator<char>(e), {});
}

// A trainer process with its output in LOG.out and LOG.err, killed if the test ends before it.
struct Proc {
  test::Child child;
  std::string log;
  pid_t pid() const { return child.pid(); }
  std::string text() const { return log_text(log); }
};

Proc spawn(const std::vector<std::string>& args, const std::map<std::string, std::string>& env, const std::string& log) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    for (const char* k : {"MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE"}) ::unsetenv(k);
    for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
    ::dup2(::open((log + ".out").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644), 1);
    ::dup2(::open((log + ".err").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644), 2);
    std::vector<char*> argv{const_cast<char*>(MTFCDD_TRAINER)};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(MTFCDD_TRAINER, argv.data());
    std::_Exit(127);
  }
  return Proc{test::Child(pid), log};
}

// The exit code (128 + signal when killed), or -1 when it has not ended within `seconds` (then killed).
int wait_for(Proc& p, double seconds) { return p.child.exit_code_within(seconds); }

int run(const std::vector<std::string>& args, const std::string& log, const std::map<std::string, std::string>& env = {}) {
  Proc p = spawn(args, env, log);
  return wait_for(p, 300);
}

std::vector<std::string> toy_args(const std::string& data, const std::string& out) {
  return {"train", "--data", data, "--out", out, "--preset", "small", "--input-size", "64", "--head-channels", "16",
          "--epochs", "1", "--lr", "1e-3", "--threads", "1", "--workers", "1", "--aug-prob", "0.5", "--flip", "hv"};
}

std::vector<std::string> operator+(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// Whether the process ignores SIGPIPE (its SigIgn mask in /proc).
bool ignores_sigpipe(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("SigIgn:", 0) == 0) return (std::stoull(line.substr(7), nullptr, 16) >> (SIGPIPE - 1)) & 1;
  return false;
}

// The network the toy runs train.
ModelConfig toy_model() {
  ModelConfig mc;
  mc.preset = "small";
  mc.input_size = 64;
  mc.head_channels = 16;
  mc.types = 2;
  return mc;
}

// Largest relative L2 difference over the parameters and floating-point buffers of two networks.
double max_relative_difference(FcddModel& a, FcddModel& b) {
  double worst = 0;
  const auto compare = [&](const torch::OrderedDict<std::string, torch::Tensor>& x,
                           const torch::OrderedDict<std::string, torch::Tensor>& y) {
    for (const auto& p : x) {
      if (!p.value().is_floating_point()) continue;
      const auto d = (p.value() - y[p.key()]).norm().item<double>() / (p.value().norm().item<double>() + 1e-12);
      worst = std::max(worst, d);
    }
  };
  compare(a->named_parameters(), b->named_parameters());
  compare(a->named_buffers(), b->named_buffers());
  return worst;
}

FcddModel saved_model(const std::string& path) {
  FcddModel m(toy_model());
  torch::load(m, path);
  return m;
}

}  // namespace

TEST(Distributed, TwoRanksMatchOneRankOfTheDoubleBatch) {
  test::TempDir dir;
  write_toy_dataset(dir.file("toy"), 2, 64, {40, 12, 0}, 5);
  const auto base = [&](const std::string& out) { return toy_args(dir.file("toy"), dir.file(out)) + std::vector<std::string>{"--batch", "8", "--max-steps", "5"}; };
  // --global-bn: the one process normalises as the two do (its default, the layers' own fused
  // BatchNorm, agrees to float32 accumulation only, which Adam's first steps amplify).
  ASSERT_EQ(run(base("one") + std::vector<std::string>{"--global-bn"}, dir.file("one")), 0)
      << log_text(dir.file("one"));
  ASSERT_EQ(run(base("two") + std::vector<std::string>{"--nproc", "2"}, dir.file("two")), 0)
      << log_text(dir.file("two"));
  // best.pt holds the weights after the 5 steps (the only epoch), BN running statistics included.
  auto one = saved_model(dir.file("one/best.pt")), two = saved_model(dir.file("two/best.pt"));
  EXPECT_LT(max_relative_difference(one, two), 1e-5);
  // Only rank 0 wrote: one history line, one bundle.
  std::ifstream h(dir.file("two/history.jsonl"));
  EXPECT_EQ(std::count(std::istreambuf_iterator<char>(h), {}, '\n'), 1);
  EXPECT_TRUE(fs::exists(dir.file("two/bundle/model.onnx")));
}

namespace {

// Two copies of one toy network in training mode.
std::pair<FcddModel, FcddModel> twin_models() {
  torch::manual_seed(3);
  FcddModel a(toy_model()), b(toy_model());
  b->copy_network_from(*a);
  a->train();
  b->train();
  return {a, b};
}

}  // namespace

// The hand-written backward of the synchronised BatchNorm against autograd through ATen's layer.
TEST(Distributed, GlobalBatchNormMatchesTheLayerOnOneProcess) {
  auto [a, b] = twin_models();
  const auto x = torch::randn({4, 3, 64, 64});
  const auto y = (torch::rand({4, 2}) < 0.5).to(torch::kFloat);
  const auto loss_of = [&](FcddModel& m) { return fcdd_loss(anomaly_scores(pseudo_huber(m->forward(x))), y); };
  const auto la = loss_of(a);
  la.backward();
  torch::Tensor lb;
  {
    SingleProcess group;
    SyncBatchNormScope one_process(&group);
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

// Without a collective (a run of one process) the step keeps the layers' own fused kernels.
TEST(Distributed, NoCollectiveKeepsTheLayersOwnBatchNorm) {
  auto [a, b] = twin_models();
  const auto x = torch::randn({4, 3, 64, 64});
  const auto plain = a->forward(x);
  SyncBatchNormScope no_group(nullptr);
  EXPECT_TRUE(torch::equal(plain, b->forward(x)));
}

namespace {

std::map<std::string, std::string> rank_env(int rank, int world, int port) {
  return {{"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", std::to_string(port)}, {"WORLD_SIZE", std::to_string(world)},
          {"RANK", std::to_string(rank)}};
}

// The network inside a checkpoint.pt (its "model" archive).
FcddModel checkpoint_model(const std::string& path) {
  FcddModel m(toy_model());
  torch::serialize::InputArchive ar, model_ar;
  ar.load_from(path);
  ar.read("model", model_ar);
  m->load(model_ar);
  return m;
}

}  // namespace

TEST(Distributed, ResumeWithTwoRanksContinuesTheOneRankRun) {
  test::TempDir dir;
  write_toy_dataset(dir.file("toy"), 2, 64, {40, 12, 0}, 5);
  const auto base = toy_args(dir.file("toy"), dir.file("two")) + std::vector<std::string>{"--batch", "8"};
  // Stopped by the step budget mid-epoch on both ranks, then resumed to the epoch's end.
  ASSERT_EQ(run(base + std::vector<std::string>{"--max-steps", "3", "--nproc", "2"}, dir.file("a")), 0);
  // The bundle of the cut run says so, and the run warns; finished, neither.
  const auto completed = [&] { return read_manifest(dir.file("two/bundle")).provenance.at("epochs_completed"); };
  EXPECT_EQ(completed(), 0);
  EXPECT_EQ(read_manifest(dir.file("two/bundle")).provenance.at("epochs_planned"), 1);
  const std::string cut = log_text(dir.file("a"));
  EXPECT_NE(cut.find("after 0 complete epochs of the planned 1; --resume"), std::string::npos) << cut;
  ASSERT_EQ(run(base + std::vector<std::string>{"--resume", "--nproc", "2"}, dir.file("b")), 0)
      << log_text(dir.file("b"));
  EXPECT_EQ(completed(), 1);
  const std::string finished = log_text(dir.file("b"));
  EXPECT_EQ(finished.find("warning: the time or step budget"), std::string::npos) << finished;
  ASSERT_EQ(run(toy_args(dir.file("toy"), dir.file("one")) + std::vector<std::string>{"--batch", "8", "--global-bn"},
                dir.file("c")),
            0);
  auto two = checkpoint_model(dir.file("two/checkpoint.pt")), one = checkpoint_model(dir.file("one/checkpoint.pt"));
  EXPECT_LT(max_relative_difference(one, two), 1e-5);
}

// `calibrate` writes a copy: flips switched on, the choices and thresholds made on the split's
// masks (the toy data has masks), the original bundle untouched; an existing --out is refused.
TEST(Calibrate, ACopyWithFlipsAndThresholdsChosenOnTheSplit) {
  test::TempDir dir;
  write_toy_dataset(dir.file("toy"), 2, 64, {40, 12, 0}, 5);
  ASSERT_EQ(run(toy_args(dir.file("toy"), dir.file("run")) + std::vector<std::string>{"--max-steps", "3"}, dir.file("t")), 0)
      << log_text(dir.file("t"));
  const std::string bundle = dir.file("run/bundle");
  const BundleManifest before = read_manifest(bundle);
  const std::vector<std::string> args{"calibrate", "--model", bundle, "--data", dir.file("toy"), "--out", dir.file("hv"),
                                      "--flip-average", "hv"};
  ASSERT_EQ(run(args, dir.file("c")), 0) << log_text(dir.file("c"));
  const std::string said = log_text(dir.file("c"));
  EXPECT_NE(said.find("smoothing sigma in map cells by validation AUPRO"), std::string::npos) << said;
  const BundleManifest after = read_manifest(dir.file("hv"));
  EXPECT_EQ(after.flip_average, FlipAverage::HV);
  EXPECT_TRUE(after.calibrated);
  EXPECT_NE(after.types[0].pixel_threshold, before.types[0].pixel_threshold);  // calibrated on averaged maps
  EXPECT_EQ(read_manifest(bundle).flip_average, FlipAverage::None);
  EXPECT_EQ(manifest_to_json(read_manifest(bundle)), manifest_to_json(before));
  EXPECT_EQ(run(args, dir.file("again")), 1);
  const std::string refused = log_text(dir.file("again"));
  EXPECT_NE(refused.find("exists; give a new folder"), std::string::npos) << refused;
}

// `ensemble` joins the best epochs of runs with different heads into one checked, calibrated
// bundle whose maps are the mean of the runs' own bundles' maps; what cannot join is named.
TEST(Ensemble, RunsWithDifferentHeadsBecomeOneCalibratedBundle) {
  test::TempDir dir;
  write_toy_dataset(dir.file("toy"), 2, 64, {40, 12, 0}, 5);
  const std::vector<std::string> steps{"--max-steps", "3"};
  ASSERT_EQ(run(toy_args(dir.file("toy"), dir.file("a")) + steps, dir.file("a")), 0);
  ASSERT_EQ(run(toy_args(dir.file("toy"), dir.file("b")) + steps + std::vector<std::string>{"--head-dilation", "2", "--seed", "2"},
                dir.file("b")), 0);
  const std::vector<std::string> args{"ensemble", "--runs", dir.file("a") + "," + dir.file("b"), "--data", dir.file("toy"),
                                      "--out", dir.file("ab")};
  ASSERT_EQ(run(args, dir.file("ab")), 0) << log_text(dir.file("ab"));
  const BundleManifest man = read_manifest(dir.file("ab"));
  EXPECT_TRUE(man.calibrated);
  EXPECT_EQ(man.provenance.at("members"), 2);
  EXPECT_EQ(man.provenance.at("ensemble_of").at(1).at("network").at("head_dilation"), 2);
  const cv::Mat x = blob_from_tensor(torch::rand({2, 3, 64, 64}) * 2 - 1);
  const torch::Tensor mean = (tensor_from_blob(DnnModel(dir.file("a/bundle")).forward(x)) +
                              tensor_from_blob(DnnModel(dir.file("b/bundle")).forward(x))) / 2;
  EXPECT_TRUE(torch::allclose(tensor_from_blob(DnnModel(dir.file("ab")).forward(x)), mean, 1e-4, 1e-6));

  const auto refused = [&](const std::vector<std::string>& a, const std::string& name) {
    EXPECT_NE(run(a, dir.file(name)), 0);
    return log_text(dir.file(name));
  };
  EXPECT_NE(refused(args, "again").find("exists; give a new folder"), std::string::npos);
  EXPECT_NE(refused(args + std::vector<std::string>{"--bundle-size", "big"}, "big").find("--bundle-size big"), std::string::npos);
  const std::vector<std::string> one{"ensemble", "--runs", dir.file("a"), "--data", dir.file("toy"), "--out",
                                     dir.file("one"), "--per-type"};
  EXPECT_NE(refused(one, "one").find("2 to 4 runs"), std::string::npos);
  ASSERT_EQ(run(toy_args(dir.file("toy"), dir.file("f")) + steps + std::vector<std::string>{"--resize", "fit"}, dir.file("f")), 0);
  const std::vector<std::string> af{"ensemble", "--runs", dir.file("a") + "," + dir.file("f"), "--data", dir.file("toy"),
                                    "--out", dir.file("af")};
  EXPECT_NE(refused(af, "af").find("'fit'"), std::string::npos);
  const std::vector<std::string> none{"ensemble", "--runs", dir.file("a") + "," + dir.file("toy"), "--data", dir.file("toy"),
                                      "--out", dir.file("an")};
  EXPECT_NE(refused(none, "an").find("no checkpoint.pt"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir.file("af")));
  EXPECT_FALSE(fs::exists(dir.file("an")));

  // A run trained at 96 px joins one trained at 64: the bundle takes 96 px inputs (the larger
  // side) on the 96 px run's 12x12 grid, with that run's receptive field; the 64 px run sees them
  // resized to its own side. The 96 px run is fine-tuned from the 64 px one (--init), which the
  // provenance names.
  ASSERT_EQ(run(toy_args(dir.file("toy"), dir.file("c")) + steps +
                    std::vector<std::string>{"--input-size", "96", "--init", dir.file("a")},
                dir.file("c")), 0) << log_text(dir.file("c"));
  const std::vector<std::string> ac{"ensemble", "--runs", dir.file("a") + "," + dir.file("c"), "--data", dir.file("toy"),
                                    "--out", dir.file("ac")};
  ASSERT_EQ(run(ac, dir.file("ac")), 0) << log_text(dir.file("ac"));
  const BundleManifest two_sides = read_manifest(dir.file("ac"));
  EXPECT_EQ(two_sides.input_width, 96);
  EXPECT_EQ(two_sides.heatmap_width, 12);
  const ReceptiveField own = read_manifest(dir.file("c/bundle")).receptive_field;
  ASSERT_TRUE(own.known());
  EXPECT_EQ(two_sides.receptive_field.size, own.size);
  EXPECT_EQ(two_sides.receptive_field.stride, own.stride);
  EXPECT_EQ(two_sides.receptive_field.offset, own.offset);
  EXPECT_EQ(two_sides.provenance.at("ensemble_of").at(0).at("run"), dir.file("c"));
  EXPECT_EQ(two_sides.provenance.at("ensemble_of").at(1).at("input_size"), 64);
  EXPECT_EQ(two_sides.provenance.at("ensemble_of").at(0).at("init"), dir.file("a"));
  EXPECT_FALSE(two_sides.provenance.at("ensemble_of").at(1).contains("init"));
  // --per-type over them chooses the upsampling once, on the bundle of both, and measures every
  // other set with it.
  const std::vector<std::string> acp{"ensemble", "--runs", dir.file("a") + "," + dir.file("c"), "--data", dir.file("toy"),
                                     "--out", dir.file("acp"), "--per-type"};
  ASSERT_EQ(run(acp, dir.file("acp")), 0) << log_text(dir.file("acp"));
  const std::string said = log_text(dir.file("acp"));
  std::smatch chose;
  ASSERT_TRUE(std::regex_search(said, chose, std::regex("upsampling (\\S+): validation mean AUPRO bilinear"))) << said;
  EXPECT_EQ(chose.suffix().str().find("validation mean AUPRO bilinear"), std::string::npos) << said;
  EXPECT_EQ(name_of(read_manifest(dir.file("acp")).upsampling), chose[1].str());
}

namespace {

// Two toy runs, a and b (seeds 1 and 2, 3 steps each), and `ensemble --per-type` over them into
// ab with `more` arguments; what it printed.
std::string per_type_over_two_runs(const test::TempDir& dir, const std::vector<std::string>& more) {
  write_toy_dataset(dir.file("toy"), 2, 64, {40, 12, 0}, 5);
  const std::vector<std::string> steps{"--max-steps", "3"};
  EXPECT_EQ(run(toy_args(dir.file("toy"), dir.file("a")) + steps, dir.file("a")), 0);
  EXPECT_EQ(run(toy_args(dir.file("toy"), dir.file("b")) + steps + std::vector<std::string>{"--seed", "2"}, dir.file("b")), 0);
  const std::vector<std::string> args{"ensemble", "--runs", dir.file("a") + "," + dir.file("b"), "--data", dir.file("toy"),
                                      "--out", dir.file("ab"), "--per-type"};
  const int rc = run(args + more, dir.file("ab"));
  const std::string said = log_text(dir.file("ab"));
  EXPECT_EQ(rc, 0) << said;
  return said;
}

}  // namespace

// --per-type bundles every set of the runs (both, a, b), prints each type's validation AUPRO,
// image AUROC, their mean and its standard error for each, and takes, of the sets within one
// standard error of the highest mean, one with the most runs (the highest alone where the standard
// error is NaN); each type's maps in the bundle are then the mean of its chosen runs' maps, and no
// trial folder is left.
TEST(Ensemble, EachTypeTakesTheRunsThatMapItBest) {
  test::TempDir dir;
  const std::string said = per_type_over_two_runs(dir, {});
  ASSERT_FALSE(HasFailure());
  const std::vector<std::string> sets{"a+b", "a", "b"};
  const std::vector<int> runs_in{2, 1, 1};
  std::vector<std::string> chosen;
  const std::string n = "(-?nan|[0-9.]+)", f = n + "/" + n + ": " + n + " \\+- " + n;
  const std::regex line("type (\\S+) from (\\S+) \\(validation AUPRO/image AUROC: figure \\+- its standard error: a\\+b " +
                        f + ", a " + f + ", b " + f + "\\)");
  for (auto it = std::sregex_iterator(said.begin(), said.end(), line); it != std::sregex_iterator(); ++it) {
    const auto figure = [&](size_t i) { return std::stod((*it)[4 * i + 5]); };
    const auto se = [&](size_t i) { return std::stod((*it)[4 * i + 6]); };
    size_t best = 0;
    for (size_t i = 1; i < 3; ++i)
      if (figure(i) > figure(best)) best = i;
    const double floor = figure(best) - (std::isnan(se(best)) ? 0 : se(best));
    const size_t took = std::find(sets.begin(), sets.end(), (*it)[2].str()) - sets.begin();
    ASSERT_LT(took, 3u) << said;
    EXPECT_GE(figure(took), floor - 2e-4) << said;  // printed to 4 places
    for (size_t i = 0; i < 3; ++i)
      if (runs_in[i] > runs_in[took]) EXPECT_LT(figure(i), floor + 2e-4) << said;
    chosen.push_back((*it)[2]);
  }
  ASSERT_EQ(chosen.size(), 2u) << said;
  const cv::Mat x = blob_from_tensor(torch::rand({2, 3, 64, 64}) * 2 - 1);
  const torch::Tensor ma = tensor_from_blob(DnnModel(dir.file("a/bundle")).forward(x));
  const torch::Tensor mb = tensor_from_blob(DnnModel(dir.file("b/bundle")).forward(x));
  const torch::Tensor got = tensor_from_blob(DnnModel(dir.file("ab")).forward(x));
  for (int64_t k = 0; k < 2; ++k) {
    const std::string& c = chosen[static_cast<size_t>(k)];
    const torch::Tensor want = c == "a" ? ma.select(1, k) : c == "b" ? mb.select(1, k) : (ma.select(1, k) + mb.select(1, k)) / 2;
    EXPECT_TRUE(torch::allclose(got.select(1, k), want, 1e-4, 1e-6)) << c;
  }
  for (const int set : {1, 2, 3}) EXPECT_FALSE(fs::exists(dir.file("ab.runs" + std::to_string(set))));
}

// --per-type with --bundle-size auto: the four sides are bundled with both runs, and the chosen
// side's bundle is the first set's, not bundled again: 4 + 2 trial bundles (a, b), one more when
// a type does not take both runs; the bundle inspects at the chosen side; no trial is left.
TEST(Ensemble, PerTypeAtTheAutoSideBundlesTheAllRunsSetOnce) {
  test::TempDir dir;
  const std::string said = per_type_over_two_runs(dir, {"--bundle-size", "auto"});
  ASSERT_FALSE(HasFailure());
  EXPECT_NE(said.find("runs a+b (1 of 3): the bundle at the side chosen above"), std::string::npos) << said;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(said, m, std::regex("bundle size ([0-9]+) px by validation mean AUPRO"))) << said;
  const auto count = [&](const std::string& what) {
    size_t n = 0;
    for (size_t at = said.find(what); at != std::string::npos; at = said.find(what, at + 1)) ++n;
    return n;
  };
  const size_t joined = said.find("each type from its runs") != std::string::npos ? 1 : 0;
  EXPECT_EQ(count("bundle written:"), 6 + joined) << said;
  EXPECT_EQ(read_manifest(dir.file("ab")).input_width, std::stoi(m[1])) << said;
  for (const std::string left : {"size64", "size75", "size85", "size96", "runs1", "runs2", "runs3"})
    EXPECT_FALSE(fs::exists(dir.file("ab." + left))) << left;
}

// One run re-bundled at another input side: the network trained at 64 px inspects at 96 (its
// maps 12x12 instead of 8x8); auto tries 64, 75, 85 and 96 px as whole bundles and keeps the one
// whose validation AUPRO it printed highest, leaving no trial folder behind.
TEST(Ensemble, ARunBundledAtAnotherInputSide) {
  test::TempDir dir;
  write_toy_dataset(dir.file("toy"), 2, 64, {40, 12, 0}, 5);
  ASSERT_EQ(run(toy_args(dir.file("toy"), dir.file("a")) + std::vector<std::string>{"--max-steps", "3"}, dir.file("a")), 0);
  const auto bundle = [&](const std::string& size, const std::string& out) {
    const std::vector<std::string> args{"ensemble", "--runs", dir.file("a"), "--data", dir.file("toy"), "--out",
                                        dir.file(out), "--bundle-size", size};
    EXPECT_EQ(run(args, dir.file(out)), 0) << log_text(dir.file(out));
    return read_manifest(dir.file(out));
  };
  const BundleManifest at96 = bundle("96", "b96");
  EXPECT_EQ(at96.input_width, 96);
  EXPECT_EQ(at96.heatmap_width, 12);
  EXPECT_EQ(at96.provenance.at("trained_input_size"), 64);
  EXPECT_TRUE(at96.calibrated);
  const cv::Mat maps = DnnModel(dir.file("b96")).forward(blob_from_tensor(torch::rand({1, 3, 96, 96}) * 2 - 1));
  EXPECT_EQ(maps.size[3], 12);

  const BundleManifest chosen = bundle("auto", "auto");
  const std::string said = log_text(dir.file("auto"));
  const std::string auroc = R"( \(image AUROC [0-9.]+\))";
  const std::regex line("validation mean AUPRO: 64 px ([0-9.]+)" + auroc + ", 75 px ([0-9.]+)" + auroc +
                        ", 85 px ([0-9.]+)" + auroc + ", 96 px ([0-9.]+)" + auroc + ";");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(said, m, line)) << said;
  const std::vector<int> sides{64, 75, 85, 96};
  size_t best = 0;
  for (size_t i = 1; i < 4; ++i)
    if (std::stod(m[i + 1]) > std::stod(m[best + 1])) best = i;
  EXPECT_EQ(chosen.input_width, sides[best]) << said;
  for (const int s : sides) EXPECT_FALSE(fs::exists(dir.file("auto.size" + std::to_string(s))));
}

// train --bundle-size: RUN/bundle is what `ensemble --runs RUN` makes at that side, calibrated,
// with no folder left beside it; with --snapshots, which best.pt does not hold, or without a
// validation split, it is refused before training.
TEST(Ensemble, TrainBundlesItsRunAtAnotherSide) {
  test::TempDir dir;
  write_toy_dataset(dir.file("toy"), 2, 64, {40, 12, 0}, 5);
  const auto base = toy_args(dir.file("toy"), dir.file("a")) + std::vector<std::string>{"--max-steps", "3"};
  ASSERT_EQ(run(base + std::vector<std::string>{"--bundle-size", "96"}, dir.file("a")), 0)
      << log_text(dir.file("a"));
  const BundleManifest trained = read_manifest(dir.file("a/bundle"));
  EXPECT_EQ(trained.input_width, 96);
  EXPECT_EQ(trained.provenance.at("trained_input_size"), 64);
  EXPECT_TRUE(trained.calibrated);
  EXPECT_FALSE(fs::exists(dir.file("a/bundle.sized")));
  const std::vector<std::string> join{"ensemble", "--runs", dir.file("a"), "--data", dir.file("toy"), "--out",
                                      dir.file("b"), "--bundle-size", "96"};
  ASSERT_EQ(run(join, dir.file("b")), 0);
  const BundleManifest joined = read_manifest(dir.file("b"));
  EXPECT_EQ(joined.types[0].pixel_threshold, trained.types[0].pixel_threshold);
  EXPECT_EQ(joined.types[1].image_threshold, trained.types[1].image_threshold);

  EXPECT_EQ(run(toy_args(dir.file("toy"), dir.file("c")) + std::vector<std::string>{"--bundle-size", "96", "--snapshots", "2"},
                dir.file("c")),
            2);
  const std::string refused = log_text(dir.file("c"));
  EXPECT_NE(refused.find("--bundle-size makes the bundle from best.pt, not from --snapshots"), std::string::npos) << refused;
  EXPECT_FALSE(fs::exists(dir.file("c")));
  // Without a validation split to calibrate on, before any training.
  write_toy_dataset(dir.file("noval"), 2, 64, {40, 0, 0}, 5);
  EXPECT_EQ(run(toy_args(dir.file("noval"), dir.file("d")) + std::vector<std::string>{"--bundle-size", "96"}, dir.file("d")), 2);
  const std::string no_val = log_text(dir.file("d"));
  EXPECT_NE(no_val.find("--bundle-size calibrates the bundle on the val split"), std::string::npos) << no_val;
  EXPECT_FALSE(fs::exists(dir.file("d")));
}

// --bundle-size per-type: the run is measured at 64, 85, 107 and 128 px and each type takes the
// side the printed figures give it (of those within one standard error of the best, the smallest);
// --type-sides sets them by hand. Either way type k's map in the bundle is its side's map of the
// input resized to that side, on the grid of the largest side, whose receptive field the bundle
// declares. Neither joins --per-type; --type-sides names every type of the runs once, each at a side in px.
TEST(Ensemble, EachTypeAtItsOwnSide) {
  test::TempDir dir;
  write_toy_dataset(dir.file("toy"), 2, 64, {40, 12, 0}, 5);
  ASSERT_EQ(run(toy_args(dir.file("toy"), dir.file("a")) + std::vector<std::string>{"--max-steps", "3"}, dir.file("a")), 0);
  const auto ensemble = [&](const std::vector<std::string>& more, const std::string& out) {
    const std::vector<std::string> args{"ensemble", "--runs", dir.file("a"), "--data", dir.file("toy"), "--out", dir.file(out)};
    const int rc = run(args + more, dir.file(out));
    return std::make_pair(rc, log_text(dir.file(out)));
  };
  namespace F = torch::nn::functional;
  const auto resized = [](const torch::Tensor& t, int64_t side) {
    return F::interpolate(t, F::InterpolateFuncOptions().size(std::vector<int64_t>{side, side}).mode(torch::kBilinear).align_corners(false));
  };
  // Type k of bundle `out` against the bundle of the run at side_of[k] alone.
  const auto expect_each_type_at = [&](const std::string& out, const std::vector<int>& side_of) {
    const int input = *std::max_element(side_of.begin(), side_of.end());
    const BundleManifest man = read_manifest(dir.file(out));
    EXPECT_EQ(man.input_width, input);
    EXPECT_TRUE(man.calibrated);
    const ReceptiveField own = read_manifest(dir.file("a/bundle")).receptive_field;
    EXPECT_EQ(man.receptive_field.size, own.size);  // one network, at any side
    EXPECT_EQ(man.receptive_field.stride, own.stride);
    const torch::Tensor x = torch::rand({2, 3, input, input}) * 2 - 1;
    const torch::Tensor got = tensor_from_blob(DnnModel(dir.file(out)).forward(blob_from_tensor(x)));
    EXPECT_EQ(got.size(2), input / 8);
    for (size_t k = 0; k < side_of.size(); ++k) {
      const std::string ref = "at" + std::to_string(side_of[k]);
      if (!fs::exists(dir.file(ref))) ASSERT_EQ(ensemble({"--bundle-size", std::to_string(side_of[k])}, ref).first, 0);
      const torch::Tensor alone = tensor_from_blob(DnnModel(dir.file(ref)).forward(blob_from_tensor(resized(x, side_of[k]))));
      const auto t = static_cast<int64_t>(k);
      EXPECT_TRUE(torch::allclose(got.select(1, t), resized(alone, got.size(2)).select(1, t), 1e-4, 1e-6)) << out << " " << ref;
    }
  };

  const auto [rc, said] = ensemble({"--bundle-size", "per-type"}, "pt");
  ASSERT_EQ(rc, 0) << said;
  const std::vector<int> sides{64, 85, 107, 128};
  const std::string n = "(-?nan|[0-9.]+)", f = n + "/" + n + ": " + n + " \\+- " + n;
  std::string figures;
  for (const int side : sides) figures += (side == 64 ? "" : ", ") + std::to_string(side) + " px " + f;
  const std::regex line("type (\\S+) at ([0-9]+) px \\(validation AUPRO/image AUROC: figure \\+- its standard error: " +
                        figures + "\\)");
  std::vector<int> chosen;
  for (auto it = std::sregex_iterator(said.begin(), said.end(), line); it != std::sregex_iterator(); ++it) {
    const auto figure = [&](size_t i) { return std::stod((*it)[4 * i + 5]); };
    size_t best = 0;
    for (size_t i = 1; i < sides.size(); ++i)
      if (figure(i) > figure(best)) best = i;
    const double se = std::stod((*it)[4 * best + 6]);
    const double floor = figure(best) - (std::isnan(se) ? 0 : se);
    chosen.push_back(std::stoi((*it)[2]));
    const size_t took = std::find(sides.begin(), sides.end(), chosen.back()) - sides.begin();
    ASSERT_LT(took, sides.size()) << said;
    EXPECT_GE(figure(took), floor - 2e-4) << said;  // printed to 4 places
    for (size_t i = 0; i < took; ++i) EXPECT_LT(figure(i), floor + 2e-4) << said;
  }
  ASSERT_EQ(chosen.size(), 2u) << said;
  expect_each_type_at("pt", chosen);
  for (const int s : sides) EXPECT_FALSE(fs::exists(dir.file("pt.size" + std::to_string(s))));

  const auto [hand_rc, hand_said] = ensemble({"--type-sides", "stripes_p5=128,stripes_p3=64"}, "hand");
  ASSERT_EQ(hand_rc, 0) << hand_said;
  EXPECT_NE(hand_said.find("bundle of the runs at 128 px, 64 px, each type at its own; inference costs 5.00x"),
            std::string::npos) << hand_said;
  expect_each_type_at("hand", {64, 128});
  const nlohmann::json runs = read_manifest(dir.file("hand")).provenance.at("type_runs");
  EXPECT_EQ(runs.at("stripes_p3").at(0), dir.file("a"));
  EXPECT_EQ(runs.at("stripes_p5").at(0), dir.file("a") + "@128");

  const auto refused = [&](const std::vector<std::string>& more, const std::string& out) {
    const auto [code, text] = ensemble(more, out);
    EXPECT_NE(code, 0) << text;
    EXPECT_FALSE(fs::exists(dir.file(out)));
    return text;
  };
  EXPECT_NE(refused({"--per-type", "--bundle-size", "per-type"}, "r1").find("give one of them"), std::string::npos);
  EXPECT_NE(refused({"--type-sides", "stripes_p3=64,dent=96"}, "r2").find("(stripes_p3,stripes_p5)"), std::string::npos);
  EXPECT_NE(refused({"--type-sides", "stripes_p3=64"}, "r3").find("no side for type stripes_p5"), std::string::npos);
  EXPECT_NE(refused({"--type-sides", "stripes_p3=64,stripes_p5=auto"}, "r4").find("a side in px"), std::string::npos);
  EXPECT_NE(refused({"--type-sides", "stripes_p3=64,stripes_p5=8"}, "r6").find("--type-sides stripes_p5=8: give a side in px"),
            std::string::npos);
  EXPECT_NE(refused({"--type-sides", "stripes_p3=64,stripes_p5=96,stripes_p3=96"}, "r7").find("names stripes_p3 twice"),
            std::string::npos);
  EXPECT_NE(refused({"--type-sides", "stripes_p3=64,stripes_p5=96", "--bundle-size", "96"}, "r5").find("leave --bundle-size out"),
            std::string::npos);
}

namespace {

// Kills rank `killed` of a 2-rank run once rank 0 has finished an epoch (its checkpoint is
// written), with the other rank stopped (SIGSTOP) across the kill: when it resumes, Gloo may write
// to the dead peer's socket before it reads of the death, and SIGPIPE must not end it silently (it
// did, under load, before the trainer ignored it). The other must end within the timeout, naming
// the dead rank.
// Waits (up to 120 s) for rank 0 to write run/checkpoint.pt in `dir`, which it does after its first epoch.
bool first_checkpoint(const test::TempDir& dir) {
  return test::wait_until([&] { return fs::exists(dir.file("run/checkpoint.pt")); }, 120);
}

void kill_one_rank(int killed, const std::string& named) {
  test::TempDir dir;
  write_toy_dataset(dir.file("toy"), 2, 64, {40, 12, 0}, 5);
  const ReservedPort port;
  // A send in flight to the dead rank ends at the timeout, not at the death.
  const auto args = toy_args(dir.file("toy"), dir.file("run")) +
                    std::vector<std::string>{"--batch", "8", "--epochs", "10000", "--dist-timeout", "10"};
  Proc ranks[2] = {spawn(args, rank_env(0, 2, port.port()), dir.file("r0")),
                   spawn(args, rank_env(1, 2, port.port()), dir.file("r1"))};
  Proc &dead = ranks[killed], &alive = ranks[1 - killed];
  ASSERT_TRUE(first_checkpoint(dir)) << ranks[0].text();
  EXPECT_TRUE(ignores_sigpipe(alive.pid()));
  ::kill(alive.pid(), SIGSTOP);
  ::kill(dead.pid(), SIGKILL);
  const auto t_kill = Clock::now();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ::kill(alive.pid(), SIGCONT);
  EXPECT_EQ(wait_for(dead, 10), 128 + SIGKILL);
  const int code = wait_for(alive, 60);
  EXPECT_EQ(code, 3);
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - t_kill).count(), 60);
  const std::string said = alive.text(), rank = "rank " + std::to_string(1 - killed);
  const size_t last = said.rfind("mtfcdd-train " + rank);
  ASSERT_NE(last, std::string::npos) << rank << " ended with " << code << " and said nothing on the peer:\n" << said;
  EXPECT_NE(said.find(named, last), std::string::npos) << said;
  std::printf("%s said, %.1f s after the kill: %s\n", rank.c_str(),
              std::chrono::duration<double>(Clock::now() - t_kill).count(), said.substr(last).c_str());
  EXPECT_NO_THROW(checkpoint_model(dir.file("run/checkpoint.pt")));  // the last one written stays whole
}

}  // namespace

TEST(Distributed, AKilledRankEndsTheOtherNamingIt) { kill_one_rank(1, "rank 1 stopped (died or hung)"); }

TEST(Distributed, AKilledRankZeroEndsTheOtherNamingItsStore) {
  kill_one_rank(0, "rank 0 stopped (died or hung): the store it hosts at");
}

namespace {

// A process's state letter and parent from /proc/PID/stat (the fields after the parenthesised name);
// false once it is gone.
bool process_stat(const std::string& pid, char& state, pid_t& parent) {
  std::ifstream f("/proc/" + pid + "/stat");
  std::string stat;
  if (!std::getline(f, stat) || stat.rfind(')') == std::string::npos) return false;
  std::istringstream rest(stat.substr(stat.rfind(')') + 2));
  return static_cast<bool>(rest >> state >> parent);
}

// The processes whose parent is `pid`.
std::vector<pid_t> children_of(pid_t pid) {
  std::vector<pid_t> out;
  for (const auto& e : fs::directory_iterator("/proc")) {
    char state = 0;
    pid_t parent = 0;
    if (process_stat(e.path().filename().string(), state, parent) && parent == pid)
      out.push_back(std::stoi(e.path().filename().string()));
  }
  return out;
}

// Gone, or a zombie no one has reaped yet.
bool ended(pid_t pid) {
  char state = 0;
  pid_t parent = 0;
  return !process_stat(std::to_string(pid), state, parent) || state == 'Z';
}

}  // namespace

// A launcher killed outright (kill -9, the OOM killer) leaves no rank training on: each gets SIGINT and
// stops as on Ctrl-C, its checkpoint written.
TEST(Distributed, RanksStopWhenTheirLauncherIsKilled) {
  test::TempDir dir;
  write_toy_dataset(dir.file("toy"), 2, 64, {40, 12, 0}, 5);
  Proc launcher = spawn(toy_args(dir.file("toy"), dir.file("run")) +
                            std::vector<std::string>{"--batch", "8", "--epochs", "10000", "--nproc", "2"},
                        {}, dir.file("launcher"));
  ASSERT_TRUE(first_checkpoint(dir)) << launcher.text();
  const std::vector<pid_t> ranks = children_of(launcher.pid());
  struct KillLeftOver {  // when the check fails: no rank trains on into the next tests
    const std::vector<pid_t>& pids;
    ~KillLeftOver() {
      for (pid_t p : pids)
        if (!ended(p)) ::kill(p, SIGKILL);
    }
  } left_over{ranks};
  ASSERT_EQ(ranks.size(), 2u) << launcher.text();
  ::kill(launcher.pid(), SIGKILL);
  EXPECT_EQ(wait_for(launcher, 10), 128 + SIGKILL);
  for (pid_t r : ranks) EXPECT_TRUE(test::wait_until([&] { return ended(r); }, 60)) << "rank pid " << r;
  EXPECT_NE(launcher.text().find("interrupted: checkpoint written to"), std::string::npos) << launcher.text();
}

TEST(Distributed, RanksWithDifferentDataAreRefusedNamingBothHashes) {
  test::TempDir dir;
  write_toy_dataset(dir.file("a"), 2, 64, {40, 12, 0}, 5);
  write_toy_dataset(dir.file("b"), 2, 64, {41, 12, 0}, 5);
  const ReservedPort port;
  Proc r0 = spawn(toy_args(dir.file("a"), dir.file("run")), rank_env(0, 2, port.port()), dir.file("r0"));
  Proc r1 = spawn(toy_args(dir.file("b"), dir.file("run")), rank_env(1, 2, port.port()), dir.file("r1"));
  EXPECT_EQ(wait_for(r1, 60), 1);
  EXPECT_NE(wait_for(r0, 60), 0);
  const std::string msg = r1.text();
  EXPECT_NE(msg.find("but rank 0 sees"), std::string::npos) << msg;
  EXPECT_NE(msg.find("(53 images"), std::string::npos) << msg;
  EXPECT_NE(msg.find("(52 images"), std::string::npos) << msg;
}

TEST(Distributed, UnreachableMasterIsNamedWithinTheTimeout) {
  test::TempDir dir;
  write_toy_dataset(dir.file("toy"), 2, 64, {16, 4, 0}, 5);
  const ReservedPort reserved;  // nobody listens there
  const int port = reserved.port();
  const auto t0 = Clock::now();
  Proc r1 = spawn(toy_args(dir.file("toy"), dir.file("run")) + std::vector<std::string>{"--dist-timeout", "3"},
                  rank_env(1, 2, port), dir.file("r1"));
  EXPECT_EQ(wait_for(r1, 60), 1);
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - t0).count(), 30);
  EXPECT_NE(r1.text().find("cannot reach the master 127.0.0.1:" + std::to_string(port) + " (MASTER_ADDR:MASTER_PORT)"),
            std::string::npos)
      << r1.text();
  EXPECT_FALSE(fs::exists(dir.file("run")));  // ranks other than 0 write nothing
}

TEST(Distributed, APortInUseIsNamed) {
  test::TempDir dir;
  write_toy_dataset(dir.file("toy"), 2, 64, {16, 4, 0}, 5);
  // Hold a port: bind and listen on it.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  const int port = ntohs(a.sin_port);
  Proc r0 = spawn(toy_args(dir.file("toy"), dir.file("run")) + std::vector<std::string>{"--dist-timeout", "3"},
                  rank_env(0, 2, port), dir.file("r0"));
  EXPECT_EQ(wait_for(r0, 60), 1);
  ::close(fd);
  EXPECT_NE(r0.text().find("rank 0 cannot listen at the master 127.0.0.1:" + std::to_string(port)), std::string::npos)
      << r0.text();
}

TEST(Distributed, BadVariablesAreNamedAndNothingIsWritten) {
  test::TempDir dir;
  write_toy_dataset(dir.file("toy"), 2, 64, {16, 4, 0}, 5);
  const auto args = toy_args(dir.file("toy"), dir.file("run"));
  Proc a = spawn(args, {{"WORLD_SIZE", "2"}, {"RANK", "2"}}, dir.file("a"));
  EXPECT_EQ(wait_for(a, 60), 2);
  EXPECT_NE(a.text().find("RANK = 2 must be below WORLD_SIZE = 2"), std::string::npos) << a.text();
  Proc b = spawn(args, {{"WORLD_SIZE", "two"}, {"RANK", "0"}}, dir.file("b"));
  EXPECT_EQ(wait_for(b, 60), 2);
  EXPECT_NE(b.text().find("WORLD_SIZE must be an integer, not 'two'"), std::string::npos) << b.text();
  EXPECT_FALSE(fs::exists(dir.file("run")));
}

TEST(Distributed, CudaWithoutCudaIsAClearErrorBeforeAnyWork) {
  if (torch::cuda::is_available()) GTEST_SKIP() << "this LibTorch has CUDA and a GPU";
  test::TempDir dir;
  write_toy_dataset(dir.file("toy"), 2, 64, {16, 4, 0}, 5);
  Proc p = spawn(toy_args(dir.file("toy"), dir.file("run")) + std::vector<std::string>{"--device", "cuda"}, {}, dir.file("p"));
  EXPECT_EQ(wait_for(p, 60), 1);
  EXPECT_NE(p.text().find("--device cuda: this LibTorch has no CUDA or sees no GPU"), std::string::npos) << p.text();
  EXPECT_FALSE(fs::exists(dir.file("run")));
  EXPECT_NE(test::message_of([] { parse_device("gpu"); }).find("--device must be cpu, cuda or cuda:N"), std::string::npos);
}

TEST(Distributed, AHungRankEndsTheOtherAfterTheTimeout) {
  test::TempDir dir;
  write_toy_dataset(dir.file("toy"), 2, 64, {40, 12, 0}, 5);
  const ReservedPort port;
  const auto args = toy_args(dir.file("toy"), dir.file("run")) +
                    std::vector<std::string>{"--batch", "8", "--epochs", "10000", "--dist-timeout", "5"};
  Proc r0 = spawn(args, rank_env(0, 2, port.port()), dir.file("r0"));
  Proc r1 = spawn(args, rank_env(1, 2, port.port()), dir.file("r1"));
  ASSERT_TRUE(first_checkpoint(dir)) << r0.text();  // both ranks are training
  ::kill(r1.pid(), SIGSTOP);  // alive but silent: no collective, no heartbeat
  const int code = wait_for(r0, 60);
  r1.child.kill();
  EXPECT_EQ(code, 3) << r0.text();
  EXPECT_NE(r0.text().find("rank 1 stopped (died or hung)"), std::string::npos) << r0.text();
}
