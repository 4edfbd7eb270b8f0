#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "bundle.hpp"
#include "dnn_model.hpp"
#include "evaluate.hpp"
#include "toy_data.hpp"
#include "trainer.hpp"

using namespace mtfcdd;
namespace fs = std::filesystem;

TEST(Training, TinyRunLearnsPlantedTypesAndCalibrates) {
  const auto root = fs::temp_directory_path() / ("mtfcdd_train_" + std::to_string(::getpid()));
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
  const auto report = summarize(score_split(dnn, ds, "test"), {toy_type_name(0), toy_type_name(1)}, 64, 64, false);
  for (const auto& t : report.types) EXPECT_GT(t.vs_normal.auroc, 0.9) << t.name;
  fs::remove_all(root);
}
