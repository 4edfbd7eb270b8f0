#include "toy_data.hpp"

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

}  // namespace mtfcdd
