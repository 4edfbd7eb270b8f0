#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <opencv2/imgcodecs.hpp>

#include "bundle.hpp"
#include "dnn_model.hpp"
#include "evaluate.hpp"
#include "toy_data.hpp"
#include "trainer.hpp"

using namespace mtfcdd;
namespace fs = std::filesystem;

namespace {

// A manifest dataset of generated images: two types with their own stripe patterns.
fs::path write_toy_dataset(const fs::path& dir, int64_t size) {
  fs::remove_all(dir);
  fs::create_directories(dir / "img");
  std::ofstream(dir / "dataset.json")
      << R"({"name": "toy", "manifest": "manifest.csv", "types": [{"name": "stripes"}, {"name": "waves"}]})";
  std::ofstream csv(dir / "manifest.csv");
  csv << "image,split,types,masks\n";
  auto gen = at::detail::createCPUGenerator(5);
  const char* names[] = {"stripes", "waves"};
  int n = 0;
  for (const auto& [split, count] : std::vector<std::pair<std::string, int>>{{"train", 96}, {"val", 32}, {"test", 48}}) {
    const auto b = toy_batch(count, 2, size, gen);
    for (int i = 0; i < count; ++i, ++n) {
      const auto img = ((b.images[i][0] + 1) * 127.5).clamp(0, 255).to(torch::kU8).contiguous();
      const cv::Mat m(static_cast<int>(size), static_cast<int>(size), CV_8UC1, img.data_ptr<uint8_t>());
      const std::string file = "img/" + std::to_string(n) + ".png";
      cv::imwrite((dir / file).string(), m);
      std::string types, masks;
      for (int k = 0; k < 2; ++k) {
        if (b.labels[i][k].item<float>() < 0.5f) continue;
        types = names[k];
        const auto mk = (b.masks[i][k] * 255).to(torch::kU8).contiguous();
        const std::string mfile = "img/" + std::to_string(n) + "_mask.png";
        cv::imwrite((dir / mfile).string(), cv::Mat(static_cast<int>(size), static_cast<int>(size), CV_8UC1, mk.data_ptr<uint8_t>()));
        masks = types + "=" + mfile;
      }
      csv << file << "," << split << "," << types << "," << masks << "\n";
    }
  }
  return dir;
}

}  // namespace

TEST(Training, TinyRunLearnsPlantedTypesAndCalibrates) {
  const auto root = fs::temp_directory_path() / ("mtfcdd_train_" + std::to_string(::getpid()));
  const auto data = write_toy_dataset(root / "data", 64);
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
  const auto report = summarize(score_split(dnn, ds, "test"), {"stripes", "waves"}, 64, 64, false);
  for (const auto& t : report.types) EXPECT_GT(t.vs_normal.auroc, 0.9) << t.name;
  fs::remove_all(root);
}
