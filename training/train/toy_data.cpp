#include "toy_data.hpp"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

namespace mtfcdd {

ToyBatch toy_batch(int64_t n, int64_t types, int64_t size, torch::Generator& gen) {
  using torch::indexing::Slice;
  auto tex = torch::rand({n, 1, size / 8, size / 8}, gen) * 0.4 - 0.2;
  auto images = torch::upsample_bilinear2d(tex, {size, size}, false).repeat({1, 3, 1, 1});
  images = images + torch::randn({n, 3, size, size}, gen) * 0.05;
  auto labels = torch::zeros({n, types});
  auto masks = torch::zeros({n, types, size, size});
  const int64_t p = std::max<int64_t>(size / 6, 4);
  const auto coords = torch::arange(p, torch::kFloat);
  for (int64_t i = 0; i < n; ++i) {
    if (torch::rand({1}, gen).item<float>() < 0.5f) continue;
    const int64_t k = torch::randint(types, {1}, gen).item<int64_t>();
    const int64_t y = torch::randint(size - p, {1}, gen).item<int64_t>();
    const int64_t x = torch::randint(size - p, {1}, gen).item<int64_t>();
    // Type k: stripes of period 3 + 2k pixels, at an angle that also depends on k.
    const double ang = 0.7 * static_cast<double>(k);
    auto phase = coords.view({p, 1}) * std::cos(ang) + coords.view({1, p}) * std::sin(ang);
    auto patch = torch::sin(phase * (2 * M_PI / (3.0 + 2.0 * static_cast<double>(k))) + 0.25 * M_PI) * 0.8;
    images.index_put_({i, Slice(), Slice(y, y + p), Slice(x, x + p)}, patch);
    labels.index_put_({i, k}, 1.0);
    masks.index_put_({i, k, Slice(y, y + p), Slice(x, x + p)}, 1.0);
  }
  return {images.clamp(-1, 1), labels, masks};
}

std::string toy_type_name(int64_t k) { return "stripes_p" + std::to_string(3 + 2 * k); }

namespace {
cv::Mat to_gray8(const torch::Tensor& t, double scale, double offset) {
  const auto u8 = (t * scale + offset).clamp(0, 255).to(torch::kU8).contiguous();
  return cv::Mat(static_cast<int>(t.size(0)), static_cast<int>(t.size(1)), CV_8UC1, u8.data_ptr<uint8_t>()).clone();
}
}  // namespace

void write_toy_dataset(const std::string& dir, int64_t types, int64_t size, const std::array<int, 3>& counts,
                       uint64_t seed) {
  namespace fs = std::filesystem;
  nlohmann::json decl = nlohmann::json::array();
  for (int64_t k = 0; k < types; ++k) decl.push_back({{"name", toy_type_name(k)}});
  fs::create_directories(dir);
  std::ofstream(fs::path(dir) / "dataset.json")
      << nlohmann::json{{"name", "toy-stripes"}, {"manifest", "manifest.csv"}, {"types", decl}}.dump(2) << "\n";
  std::ofstream csv(fs::path(dir) / "manifest.csv");
  csv << "image,split,types,masks\n";
  auto gen = at::detail::createCPUGenerator(seed);
  const char* splits[] = {"train", "val", "test"};
  for (int s = 0; s < 3; ++s) {
    fs::create_directories(fs::path(dir) / "img" / splits[s] / "masks");
    const auto b = toy_batch(counts[s], types, size, gen);
    for (int i = 0; i < counts[s]; ++i) {
      const std::string folder = std::string("img/") + splits[s] + "/", stem = std::to_string(i);
      std::string type, mask;
      for (int64_t k = 0; k < types; ++k) {
        if (b.labels[i][k].item<float>() < 0.5f) continue;
        type = toy_type_name(k);
        mask = type + "=" + folder + "masks/" + stem + ".png";
        cv::imwrite((fs::path(dir) / folder / "masks" / (stem + ".png")).string(), to_gray8(b.masks[i][k], 255, 0));
      }
      const std::string file = folder + stem + (type.empty() ? "_normal" : "_" + type) + ".png";
      cv::imwrite((fs::path(dir) / file).string(), to_gray8(b.images[i][0], 127.5, 127.5));
      csv << file << "," << splits[s] << "," << type << "," << mask << "\n";
    }
  }
  if (!csv.flush()) throw std::runtime_error("cannot write " + dir + "/manifest.csv");
}

}  // namespace mtfcdd
