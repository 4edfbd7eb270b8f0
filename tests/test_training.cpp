#include <ATen/autocast_mode.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <mtfcdd/bundle.hpp>
#include <mtfcdd/dnn_model.hpp>
#include "ensemble.hpp"
#include "evaluate.hpp"
#include "export.hpp"
#include "sampler.hpp"
#include "toy_data.hpp"
#include "train_step.hpp"
#include "trainer.hpp"
#include "test_util.hpp"
#include "weight_average.hpp"

using namespace mtfcdd;
namespace fs = std::filesystem;

TEST(Training, TinyRunLearnsPlantedTypesAndCalibrates) {
  const test::TempDir tmp;
  const fs::path& root = tmp.path();
  const auto data = root / "data";
  write_toy_dataset(data.string(), 2, 64, {96, 32, 48}, 5);
  TrainConfig cfg;
  cfg.data = data.string();
  cfg.out = (root / "run").string();
  cfg.model.preset = "small";
  cfg.model.input_size = 64;
  cfg.model.head_channels = 32;
  cfg.batch = 16;
  cfg.lr = 1e-3;
  cfg.epochs = 10;
  cfg.aug.probability = 0;
  torch::manual_seed(1);
  ASSERT_EQ(run_training(cfg), 0);

  // The loss went down over the epochs.
  std::ifstream hist(root / "run" / "history.jsonl");
  std::vector<double> val_loss;
  for (std::string line; std::getline(hist, line);) val_loss.push_back(nlohmann::json::parse(line).at("val_loss"));
  ASSERT_EQ(val_loss.size(), 10u);
  EXPECT_LT(*std::min_element(val_loss.begin(), val_loss.end()), 0.7 * val_loss.front());

  // The exported, calibrated bundle tells the planted types apart from normal images.
  const auto bundle = (root / "run" / "bundle").string();
  const auto man = read_manifest(bundle);
  EXPECT_TRUE(man.calibrated);
  DnnModel dnn(bundle);
  const Dataset ds = load_dataset(cfg.data);
  const auto report = summarize(score_split(dnn, ds, "test", upsampler_of(dnn.manifest())), {toy_type_name(0), toy_type_name(1)},
                                upsampler_of(dnn.manifest()), false);
  for (const auto& t : report.types) EXPECT_GT(t.vs_normal.auroc, 0.9) << t.name;
}

TEST(WeightAverage, FollowsTheWarmUpDecayAndSwapsBack) {
  torch::nn::Linear lin(1, 1);
  {
    torch::NoGradGuard ng;
    lin->weight.fill_(0);
    lin->bias.fill_(0);
  }
  WeightAverage avg(*lin, 0.5);
  const auto set = [&](float w) {
    torch::NoGradGuard ng;
    lin->weight.fill_(w);
  };
  // Step 1: d = min(0.5, 1/10) = 0.1: avg = 0.1 * 0 + 0.9 * 10 = 9.
  set(10);
  avg.update(*lin);
  EXPECT_FLOAT_EQ(avg.tensors()[0].item<float>(), 9);
  // Step 2: d = min(0.5, 2/11) = 2/11: avg = 2/11 * 9 + 9/11 * 20 = 198/11 = 18.
  set(20);
  avg.update(*lin);
  EXPECT_FLOAT_EQ(avg.tensors()[0].item<float>(), 18);
  // Later steps use the decay itself: d = min(0.5, 3/12) = 0.25 still warms up; at n = 8,
  // (1 + 8) / (10 + 8) = 0.5.
  avg.set_updates(8);
  set(0);
  avg.update(*lin);
  EXPECT_FLOAT_EQ(avg.tensors()[0].item<float>(), 9);
  avg.swap(*lin);
  EXPECT_FLOAT_EQ(lin->weight.item<float>(), 9);
  EXPECT_FLOAT_EQ(avg.tensors()[0].item<float>(), 0);
  avg.swap(*lin);
  EXPECT_FLOAT_EQ(lin->weight.item<float>(), 0);
  EXPECT_THROW(WeightAverage(*lin, 1.0), std::invalid_argument);
}

namespace {

// A toy run small enough to train several times in a test, with a weight average and flips, so
// that a resume must restore the average, the sampler and the augmentation numbering.
TrainConfig resumable_config(const fs::path& root, const std::string& out, int epochs) {
  TrainConfig cfg;
  cfg.data = (root / "data").string();
  cfg.out = (root / out).string();
  cfg.model.preset = "small";
  cfg.model.input_size = 48;
  cfg.model.head_channels = 8;
  cfg.batch = 8;
  cfg.lr = 1e-3;
  cfg.epochs = epochs;
  cfg.ema = 0.9;
  cfg.aug.flip_horizontal = true;
  return cfg;
}

std::vector<nlohmann::json> history_of(const fs::path& run) {
  std::ifstream hist(run / "history.jsonl");
  std::vector<nlohmann::json> lines;
  for (std::string line; std::getline(hist, line);) lines.push_back(nlohmann::json::parse(line));
  return lines;
}

double last_val_loss(const fs::path& run) { return history_of(run).back().at("val_loss"); }

}  // namespace

// A run with a weight average resumed from its checkpoint continues exactly as an uninterrupted
// run, and the bundle records how it was trained.
TEST(Training, WeightAverageSurvivesResume) {
  const test::TempDir tmp;
  const fs::path& root = tmp.path();
  write_toy_dataset((root / "data").string(), 2, 48, {48, 16, 16}, 7);
  const auto config = [&](const std::string& out, int epochs) { return resumable_config(root, out, epochs); };
  torch::manual_seed(3);
  ASSERT_EQ(run_training(config("straight", 3)), 0);
  torch::manual_seed(3);
  ASSERT_EQ(run_training(config("resumed", 2)), 0);
  TrainConfig more = config("resumed", 3);
  more.resume = true;
  ASSERT_EQ(run_training(more), 0);
  EXPECT_NEAR(last_val_loss(root / "resumed"), last_val_loss(root / "straight"), 1e-5 * last_val_loss(root / "straight"));

  const auto prov = read_manifest((root / "resumed" / "bundle").string()).provenance;
  EXPECT_EQ(prov.at("ema"), 0.9);
  EXPECT_EQ(prov.at("augment").at("flip"), "h");
  // Resuming a run without an average as one with an average is refused, naming the cause.
  TrainConfig plain = config("plain", 1);
  plain.ema = 0;
  ASSERT_EQ(run_training(plain), 0);
  TrainConfig wrong = config("plain", 2);
  wrong.resume = true;
  try {
    run_training(wrong);
    ADD_FAILURE() << "resumed without the average";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("no weight average"), std::string::npos) << e.what();
  }
}

// A rank killed during the final calibration leaves the bundle exported but uncalibrated (the
// export writes it before the ranks score the validation split). --resume with the same epochs
// trains nothing, and exports and calibrates again: the thresholds the lost calibration would
// have written.
TEST(Training, ResumeAfterTheLastEpochCalibratesTheBundleAgain) {
  const test::TempDir tmp;
  const fs::path& root = tmp.path();
  write_toy_dataset((root / "data").string(), 2, 48, {48, 16, 16}, 7);
  torch::manual_seed(5);
  ASSERT_EQ(run_training(resumable_config(root, "run", 2)), 0);
  const std::string bundle = (root / "run" / "bundle").string();
  const BundleManifest calibrated = read_manifest(bundle);
  ASSERT_TRUE(calibrated.calibrated);
  BundleManifest lost = calibrated;  // as the export left it
  lost.calibrated = false;
  for (auto& t : lost.types) t.image_threshold = 0.5;
  write_manifest(lost, bundle);

  TrainConfig again = resumable_config(root, "run", 2);
  again.resume = true;
  ASSERT_EQ(run_training(again), 0);
  const BundleManifest redone = read_manifest(bundle);
  EXPECT_TRUE(redone.calibrated);
  ASSERT_EQ(redone.types.size(), calibrated.types.size());
  for (size_t i = 0; i < redone.types.size(); ++i) {
    EXPECT_DOUBLE_EQ(redone.types[i].image_threshold, calibrated.types[i].image_threshold) << redone.types[i].name;
    EXPECT_DOUBLE_EQ(redone.types[i].pixel_threshold, calibrated.types[i].pixel_threshold) << redone.types[i].name;
  }
  EXPECT_EQ(history_of(root / "run").size(), 2u);  // no epoch trained again
}

// A checkpoint records the input it was trained on: resuming it with another resize is refused.
TEST(Training, ResumeWithAnotherResizeIsRefused) {
  const test::TempDir tmp;
  const fs::path& root = tmp.path();
  write_toy_dataset((root / "data").string(), 2, 48, {48, 16, 16}, 7);
  ASSERT_EQ(run_training(resumable_config(root, "run", 1)), 0);
  TrainConfig other = resumable_config(root, "run", 2);
  other.resume = true;
  other.resize = other.resize == Resize::Fit ? Resize::Stretch : Resize::Fit;
  const std::string why = test::message_of([&] { run_training(other); });
  EXPECT_NE(why.find("\"resize\""), std::string::npos) << why;
}

// An ensemble trains and exports as one model; its checkpoint cannot be resumed as another size.
TEST(Training, EnsembleTrainsExportsAndResumesOnlyAsItself) {
  const test::TempDir tmp;
  const fs::path& root = tmp.path();
  write_toy_dataset((root / "data").string(), 2, 48, {48, 16, 16}, 7);
  TrainConfig cfg = resumable_config(root, "run", 1);
  cfg.model.members = 2;
  ASSERT_EQ(run_training(cfg), 0);
  const auto bundle = (root / "run" / "bundle").string();
  EXPECT_EQ(read_manifest(bundle).provenance.at("members"), 2);
  EXPECT_EQ(DnnModel(bundle).manifest().types.size(), 2u);
  TrainConfig other = resumable_config(root, "run", 2);
  other.resume = true;
  const std::string why = test::message_of([&] { run_training(other); });
  EXPECT_NE(why.find("\"members\":2"), std::string::npos) << why;
}

// --init starts a run from another run's best network, here trained at another side: with a
// learning rate too small to move it, the new run's parameters are the old run's.
TEST(Training, InitStartsFromAnotherRunsBestNetworkAtAnotherSide) {
  const test::TempDir tmp;
  const fs::path& root = tmp.path();
  write_toy_dataset((root / "data").string(), 2, 48, {48, 16, 16}, 7);
  torch::manual_seed(1);
  ASSERT_EQ(run_training(resumable_config(root, "small", 1)), 0);
  const auto larger = [&](const std::string& out) {
    TrainConfig cfg = resumable_config(root, out, 1);
    cfg.model.input_size = 64;
    cfg.lr = 1e-12;
    cfg.ema = 0;
    return cfg;
  };
  TrainConfig init = larger("init");
  init.init = (root / "small").string();
  ASSERT_EQ(run_training(init), 0);
  torch::manual_seed(2);  // another start than the first run's, for the comparison below
  ASSERT_EQ(run_training(larger("fresh")), 0);
  const auto best_of = [&](const std::string& run) {
    FcddModel m(run_network((root / run).string()).model);
    torch::load(m, (root / run / "best.pt").string());
    return m;
  };
  const auto from = best_of("small"), started = best_of("init"), fresh = best_of("fresh");
  EXPECT_EQ(run_network((root / "init").string()).model.input_size, 64);
  double moved = 0, fresh_apart = 0;
  for (size_t i = 0; i < from->parameters().size(); ++i) {
    moved = std::max(moved, (started->parameters()[i] - from->parameters()[i]).abs().max().item<double>());
    fresh_apart = std::max(fresh_apart, (fresh->parameters()[i] - from->parameters()[i]).abs().max().item<double>());
  }
  EXPECT_LT(moved, 1e-6);
  EXPECT_GT(fresh_apart, 1e-2);
  EXPECT_EQ(read_manifest((root / "init" / "bundle").string()).provenance.at("init"), init.init);

  // Refused, naming the cause: with --resume, another network, a folder that holds no run, a
  // broken best.pt.
  TrainConfig both = init;
  both.resume = true;
  EXPECT_NE(test::message_of([&] { run_training(both); }).find("give one"), std::string::npos);
  TrainConfig other = init;
  other.out = (root / "other").string();
  other.model.members = 2;
  const std::string why = test::message_of([&] { run_training(other); });
  EXPECT_NE(why.find("only --input-size may differ"), std::string::npos) << why;
  EXPECT_NE(why.find("\"input_size\":48"), std::string::npos) << why;
  TrainConfig none = init;
  none.out = (root / "none").string();
  none.init = (root / "data").string();
  EXPECT_NE(test::message_of([&] { run_training(none); }).find("--init: "), std::string::npos);
  TrainConfig broken = init;
  broken.out = (root / "broken").string();
  std::ofstream((root / "small" / "best.pt").string()) << "not a network";
  const std::string unreadable = test::message_of([&] { run_training(broken); });
  EXPECT_NE(unreadable.find("is not a readable network"), std::string::npos) << unreadable;
}

TEST(Training, SnapshotEpochsAreEvenlySpacedAndEndAtTheLast) {
  EXPECT_EQ(snapshot_epochs(65, 5), (std::vector<int>{13, 26, 39, 52, 65}));
  EXPECT_EQ(snapshot_epochs(4, 3), (std::vector<int>{2, 3, 4}));
  EXPECT_EQ(snapshot_epochs(2, 5), (std::vector<int>{1, 2}));
  EXPECT_EQ(snapshot_epochs(7, 1), (std::vector<int>{7}));
}

TEST(Training, SnapshotSpanKeepsTheSnapshotsInTheRunsLastPart) {
  EXPECT_EQ(snapshot_epochs(80, 5, 0.5), (std::vector<int>{48, 56, 64, 72, 80}));   // window 40 from 40
  EXPECT_EQ(snapshot_epochs(80, 5, 0.25), (std::vector<int>{64, 68, 72, 76, 80}));  // window 20 from 60
  EXPECT_EQ(snapshot_epochs(80, 5, 0.4), (std::vector<int>{55, 61, 68, 74, 80}));   // 48 + ceil(32i / 5)
  EXPECT_EQ(snapshot_epochs(10, 5, 0.1), (std::vector<int>{6, 7, 8, 9, 10}));       // at least 5 epochs
  EXPECT_EQ(snapshot_epochs(65, 5, 1), snapshot_epochs(65, 5));
}

// A snapshot ensemble's bundle is the mean map of the chosen epochs' weights; a run that kept no
// snapshots cannot be resumed into one.
TEST(Training, SnapshotEnsembleExportsTheMeanOfTheChosenEpochs) {
  const test::TempDir tmp;
  const fs::path& root = tmp.path();
  write_toy_dataset((root / "data").string(), 2, 48, {48, 16, 16}, 7);
  TrainConfig cfg = resumable_config(root, "run", 4);
  cfg.snapshots = 3;
  ASSERT_EQ(run_training(cfg), 0);
  const auto bundle = (root / "run" / "bundle").string();
  EXPECT_EQ(read_manifest(bundle).provenance.at("snapshot_epochs"), nlohmann::json({2, 3, 4}));

  {
    ModelConfig mc = cfg.model;
    mc.types = 2;
    torch::NoGradGuard no_grad;
    const torch::Tensor x = torch::rand({2, 3, 48, 48}) * 2 - 1;
    torch::Tensor mean = torch::zeros({2, 2, 6, 6});
    for (int epoch : {2, 3, 4}) {
      FcddModel m(mc);
      torch::load(m, (root / "run" / "snapshots" / ("epoch_" + std::to_string(epoch) + ".pt")).string());
      m->eval();
      mean += m->maps(x) / 3;
    }
    const torch::Tensor maps = tensor_from_blob(DnnModel(bundle).forward(blob_from_tensor(x)));
    EXPECT_TRUE(torch::allclose(maps, mean, 1e-4, 1e-6));
  }

  ASSERT_EQ(run_training(resumable_config(root, "plain", 1)), 0);
  TrainConfig more = resumable_config(root, "plain", 2);
  more.resume = true;
  more.snapshots = 2;
  const std::string why = test::message_of([&] { run_training(more); });
  EXPECT_NE(why.find("no snapshot of epoch 1"), std::string::npos) << why;
}

// --select last keeps the last epoch's weight average, whether the run selected so from its start
// or a finished run selected by validation AUROC is resumed with it (best.pt then follows).
TEST(Training, SelectLastKeepsTheLastWeightAverageAlsoOnResume) {
  const test::TempDir tmp;
  const fs::path& root = tmp.path();
  write_toy_dataset((root / "data").string(), 2, 48, {48, 16, 16}, 7);
  TrainConfig last = resumable_config(root, "last", 3);
  last.select = Select::Last;
  torch::manual_seed(3);
  ASSERT_EQ(run_training(last), 0);
  torch::manual_seed(3);
  TrainConfig by_auroc = resumable_config(root, "by_auroc", 3);
  by_auroc.select = Select::Auroc;
  ASSERT_EQ(run_training(by_auroc), 0);
  // The test needs a run whose selected epoch is not the last, for --select last to change it.
  ASSERT_LT(read_manifest((root / "by_auroc" / "bundle").string()).provenance.at("best_epoch").get<int>(), 3);
  TrainConfig again = by_auroc;
  again.resume = true;
  again.select = Select::Last;
  ASSERT_EQ(run_training(again), 0);

  ModelConfig mc = last.model;
  mc.types = 2;
  const torch::Tensor x = torch::rand({2, 3, 48, 48}) * 2 - 1;
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> maps;
  for (const char* run : {"last", "by_auroc"}) {
    const auto prov = read_manifest((root / run / "bundle").string()).provenance;
    EXPECT_EQ(prov.at("best_epoch"), 3) << run;
    EXPECT_EQ(prov.at("selected_by"), "last epoch") << run;
    FcddModel m(mc);
    torch::load(m, (root / run / "best.pt").string());
    m->eval();
    maps.push_back(m->maps(x));
  }
  EXPECT_TRUE(torch::allclose(maps[0], maps[1], 1e-4, 1e-6));
}

// An epoch cut short by --max-minutes is validated, marked partial, and finished by --resume as
// the uninterrupted run would have trained it.
TEST(Training, TimeBudgetCutResumesInsideTheEpoch) {
  const test::TempDir tmp;
  const fs::path& root = tmp.path();
  write_toy_dataset((root / "data").string(), 2, 48, {48, 16, 16}, 7);
  torch::manual_seed(3);
  ASSERT_EQ(run_training(resumable_config(root, "straight", 2)), 0);
  torch::manual_seed(3);
  TrainConfig cut = resumable_config(root, "cut", 2);
  cut.max_minutes = 1e-9;  // spent after the first batch
  ASSERT_EQ(run_training(cut), 0);
  const auto partial = history_of(root / "cut");
  ASSERT_EQ(partial.size(), 1u);
  EXPECT_EQ(partial[0].at("iterations"), 1);
  EXPECT_EQ(partial[0].value("partial", false), true);
  TrainConfig more = resumable_config(root, "cut", 2);
  more.resume = true;
  ASSERT_EQ(run_training(more), 0);
  const auto whole = history_of(root / "straight"), resumed = history_of(root / "cut");
  ASSERT_EQ(resumed.size(), 3u);  // the partial line, the rest of epoch 1, epoch 2
  EXPECT_EQ(resumed[1].at("epoch"), 1);
  EXPECT_EQ(resumed[0].at("iterations").get<int>() + resumed[1].at("iterations").get<int>(),
            whole[0].at("iterations").get<int>());
  EXPECT_NEAR(last_val_loss(root / "cut"), last_val_loss(root / "straight"), 1e-5 * last_val_loss(root / "straight"));

  // A step budget spent on the epoch's last batch ends that epoch as any other (not partial), and
  // --resume trains the next one as the uninterrupted run did: no batch drawn past the epoch's end.
  torch::manual_seed(3);
  TrainConfig at_end = resumable_config(root, "at_end", 2);
  at_end.max_steps = whole[0].at("iterations").get<int>();
  ASSERT_EQ(run_training(at_end), 0);
  ASSERT_EQ(history_of(root / "at_end").size(), 1u);
  EXPECT_FALSE(history_of(root / "at_end")[0].value("partial", false));
  EXPECT_EQ(read_manifest((root / "at_end" / "bundle").string()).provenance.at("epochs_completed"), 1);
  TrainConfig rest = resumable_config(root, "at_end", 2);
  rest.resume = true;
  ASSERT_EQ(run_training(rest), 0);
  const auto ended = history_of(root / "at_end");
  ASSERT_EQ(ended.size(), 2u);
  EXPECT_EQ(ended[1].at("iterations"), whole[1].at("iterations"));
  EXPECT_NEAR(last_val_loss(root / "at_end"), last_val_loss(root / "straight"), 1e-5 * last_val_loss(root / "straight"));
}

// --resume of a run that has taken its --max-steps takes no step beyond them: it bundles again.
TEST(Training, ResumeAtTheStepBudgetTakesNoStep) {
  const test::TempDir tmp;
  const fs::path& root = tmp.path();
  write_toy_dataset((root / "data").string(), 2, 48, {48, 16, 16}, 7);
  TrainConfig cfg = resumable_config(root, "run", 2);
  cfg.max_steps = 2;
  ASSERT_EQ(run_training(cfg), 0);
  TrainConfig again = cfg;
  again.resume = true;
  ASSERT_EQ(run_training(again), 0);
  EXPECT_EQ(history_of(root / "run").size(), 1u);
  EXPECT_EQ(read_manifest((root / "run" / "bundle").string()).provenance.at("iterations"), 2);
}

namespace {

// A Collective of two processes whose other one asks to stop as `peer` says: the step's last
// two summed slots are the interrupt and budget flags, in that order.
struct PeerAsking final : Collective {
  StopFlags peer;
  int rank() const override { return 0; }
  int size() const override { return 2; }
  void allreduce_sum(torch::Tensor& t) override {
    t = t * 2;  // the peer's gradients and loss: the same as ours
    t[-2] = t[-2] / 2 + (peer.interrupted ? 1 : 0);
    t[-1] = t[-1] / 2 + (peer.out_of_budget ? 1 : 0);
  }
  void broadcast(std::vector<torch::Tensor>&, int) override {}
};

}  // namespace

// Ctrl-C on one rank stops every rank as interrupted (checkpoint, exit 130), also when another
// rank ran out of budget at the same step: the flags are summed in separate slots, so the reason
// is the same everywhere.
TEST(Training, OneRanksCtrlCStopsEveryRankAsInterrupted) {
  EXPECT_TRUE(agreed_stop(1, 0).interrupted);
  EXPECT_TRUE(agreed_stop(1, 1).interrupted);
  EXPECT_FALSE(agreed_stop(1, 1).out_of_budget);
  EXPECT_TRUE(agreed_stop(0, 2).out_of_budget);
  EXPECT_FALSE(agreed_stop(0, 0).any());

  ModelConfig mc;
  mc.preset = "small";
  mc.input_size = 32;
  mc.head_channels = 8;
  mc.types = 2;
  FcddModel model(mc);
  torch::optim::Adam opt(model->parameters(), torch::optim::AdamOptions(1e-3));
  PeerAsking peer;
  const auto step = [&](StopFlags mine, StopFlags theirs) {
    peer.peer = theirs;
    return train_step(*model, opt, torch::rand({2, 3, 32, 32}), torch::tensor({{1.f, 0.f}, {0.f, 0.f}}), 4, 1e-3, mine,
                      {false, &peer})
        .stop;
  };
  const StopFlags ctrl_c{true, false}, budget{false, true};
  EXPECT_TRUE(step({}, ctrl_c).interrupted);
  EXPECT_TRUE(step(budget, ctrl_c).interrupted);
  EXPECT_FALSE(step(budget, ctrl_c).out_of_budget);
  EXPECT_TRUE(step({}, budget).out_of_budget);
  EXPECT_FALSE(step({}, {}).any());
}

// bfloat16 forward passes still train the network; weights, validation and the exported model
// stay float32 (the export's own check against LibTorch would fail if autocast leaked into it).
TEST(Training, Bf16ForwardPassesTrainFloat32Weights) {
  const test::TempDir tmp;
  const fs::path& root = tmp.path();
  write_toy_dataset((root / "data").string(), 2, 48, {48, 16, 16}, 7);
  TrainConfig cfg = resumable_config(root, "run", 4);
  cfg.bf16 = true;
  torch::manual_seed(3);
  ASSERT_EQ(run_training(cfg), 0);
  const auto hist = history_of(root / "run");
  ASSERT_EQ(hist.size(), 4u);
  EXPECT_LT(hist.back().at("train_loss").get<double>(), hist.front().at("train_loss").get<double>());
  EXPECT_EQ(read_manifest((root / "run" / "bundle").string()).provenance.at("bf16"), true);
  EXPECT_FALSE(at::autocast::is_cpu_enabled());
}

// The cosine schedule follows the iteration count: each epoch ends at the rate the formula gives
// for the iterations done, the rate falls to near zero by the planned end, and a run cut by the
// time budget and resumed continues on the same curve.
TEST(Training, CosineScheduleAnnealsByIterationAndResumesOnItsCurve) {
  const test::TempDir tmp;
  const fs::path& root = tmp.path();
  write_toy_dataset((root / "data").string(), 2, 48, {48, 16, 16}, 7);
  const auto config = [&](const std::string& out) {
    TrainConfig cfg = resumable_config(root, out, 3);
    cfg.lr_schedule = LrSchedule::cosine;
    return cfg;
  };
  torch::manual_seed(3);
  ASSERT_EQ(run_training(config("straight")), 0);
  torch::manual_seed(3);
  TrainConfig cut = config("cut");
  cut.max_minutes = 1e-9;
  ASSERT_EQ(run_training(cut), 0);
  TrainConfig more = config("cut");
  more.resume = true;
  ASSERT_EQ(run_training(more), 0);

  const Dataset ds = load_dataset((root / "data").string());
  const double planned = balanced_epoch_length(class_pools(ds, "train"), 200, 1).mean_draws / 8 * 3;
  const auto whole = history_of(root / "straight");
  ASSERT_EQ(whole.size(), 3u);
  int done = 0;
  for (const auto& line : whole) {
    done += line.at("iterations").get<int>();
    // The rate of the epoch's last step, taken after done - 1 earlier steps.
    EXPECT_NEAR(line.at("lr").get<double>(), scheduled_lr(LrSchedule::cosine, 1e-3, done - 1, planned), 1e-12);
  }
  EXPECT_LT(whole.back().at("lr").get<double>(), 0.1e-3);
  const auto resumed = history_of(root / "cut");
  ASSERT_EQ(resumed.size(), 4u);  // the partial line, the rest of epoch 1, epochs 2 and 3
  for (size_t e = 1; e < 3; ++e) EXPECT_DOUBLE_EQ(resumed[e + 1].at("lr").get<double>(), whole[e].at("lr").get<double>());
  EXPECT_NEAR(last_val_loss(root / "cut"), last_val_loss(root / "straight"), 1e-5 * last_val_loss(root / "straight"));
  EXPECT_EQ(read_manifest((root / "straight" / "bundle").string()).provenance.at("lr_schedule"), "cosine");
}

// Runs whose types have the same count but other names or order are refused, naming both lists:
// on --resume, on --init and in an ensemble.
TEST(Training, TypesInAnotherOrderAreRefusedNamingBothLists) {
  test::TempDir dir;
  write_toy_dataset(dir.file("data"), 2, 48, {48, 16, 16}, 7);
  const auto tiny = [&](const std::string& out, std::vector<std::string> types) {
    TrainConfig cfg = resumable_config(dir.file(""), out, 1);
    cfg.max_steps = 1;
    cfg.load.types = std::move(types);
    return cfg;
  };
  const std::string p3 = toy_type_name(0), p5 = toy_type_name(1);
  ASSERT_EQ(run_training(tiny("ab", {})), 0);
  ASSERT_EQ(run_training(tiny("ba", {p5, p3})), 0);
  const std::string ab = "\"type_names\":[\"" + p3 + "\",\"" + p5 + "\"]", ba = "\"type_names\":[\"" + p5 + "\",\"" + p3 + "\"]";

  TrainConfig resumed = tiny("ab", {p5, p3});
  resumed.resume = true;
  resumed.max_steps = 0;
  const std::string on_resume = test::message_of([&] { run_training(resumed); });
  EXPECT_NE(on_resume.find(ab), std::string::npos) << on_resume;
  EXPECT_NE(on_resume.find(ba), std::string::npos) << on_resume;

  TrainConfig init = tiny("init", {p5, p3});
  init.init = dir.file("ab");
  const std::string on_init = test::message_of([&] { run_training(init); });
  EXPECT_NE(on_init.find(ab), std::string::npos) << on_init;
  EXPECT_NE(on_init.find(ba), std::string::npos) << on_init;

  EnsembleOptions e;
  e.runs = {dir.file("ab"), dir.file("ba")};
  e.data = dir.file("data");
  e.out = dir.file("joined");
  const std::string joined = test::message_of([&] { make_ensemble(e, {}); });
  EXPECT_NE(joined.find("[" + p5 + ", " + p3 + "], " + dir.file("ab") + " [" + p3 + ", " + p5 + "]"), std::string::npos)
      << joined;
  EXPECT_FALSE(fs::exists(e.out));
}

// --select auroc ranks val defect images against normal ones: a val split without normal images
// is refused at the start, naming the cause, instead of keeping epoch 1 on NaN figures.
TEST(Training, SelectAurocWithoutNormalValImagesIsRefused) {
  test::TempDir dir;
  write_toy_dataset(dir.file("data"), 2, 48, {48, 16, 16}, 7);
  std::ifstream in(dir.file("data/manifest.csv"));
  std::string kept;
  for (std::string line; std::getline(in, line);)
    if (line.find(",val,,") == std::string::npos) kept += line + "\n";  // val rows without types: the normal ones
  in.close();
  std::ofstream(dir.file("data/manifest.csv")) << kept;
  TrainConfig cfg = resumable_config(dir.file(""), "run", 1);
  cfg.select = Select::Auroc;
  const std::string why = test::message_of([&] { run_training(cfg); });
  EXPECT_NE(why.find("--select auroc ranks val defect images against normal ones"), std::string::npos) << why;
  EXPECT_NE(why.find("val split has no normal images"), std::string::npos) << why;
}

// The ranks' fingerprint leaves out where the dataset lies, also when --data is relative: the same
// data at two places (two machines' folders) gives the same fingerprint.
TEST(Training, FingerprintIsTheSameForTheSameDataElsewhere) {
  test::TempDir dir;
  write_toy_dataset(dir.file("a/data"), 2, 48, {8, 4, 0}, 7);
  fs::create_directories(dir.file("b"));
  fs::copy(dir.file("a/data"), dir.file("b/copy"), fs::copy_options::recursive);
  const test::WorkingDirectory in_dir(dir.path());
  const auto fingerprint = [](const std::string& data) {
    TrainConfig cfg;
    cfg.data = data;
    return run_fingerprint(load_dataset(data), cfg);
  };
  const std::string a = fingerprint("a/data"), b = fingerprint("b/copy"), absolute = fingerprint(dir.file("b/copy"));
  const std::string json = fingerprint("b/copy/dataset.json");
  EXPECT_EQ(a, b);
  EXPECT_EQ(a, absolute);
  EXPECT_EQ(a, json);
}
