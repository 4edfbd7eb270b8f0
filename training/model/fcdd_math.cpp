#include "fcdd_math.hpp"

#include <cmath>

namespace mtfcdd {

torch::Tensor pseudo_huber(const torch::Tensor& phi) {
  const auto sq = phi * phi;
  return sq / (torch::sqrt(sq + 1) + 1);
}

torch::Tensor anomaly_scores(const torch::Tensor& maps) { return maps.mean({2, 3}); }

torch::Tensor probabilities(const torch::Tensor& z) { return -torch::expm1(-z); }

torch::Tensor log1mexp(const torch::Tensor& z) {
  // Both branches are evaluated by where(); each is clamped into the range where it is finite
  // so that neither produces inf/NaN gradients that where() would still propagate.
  const auto small = z <= std::log(2.0);
  const auto a = torch::log(-torch::expm1(-z.clamp_max(std::log(2.0))));
  const auto b = torch::log1p(-torch::exp(-z.clamp_min(std::log(2.0))));
  return torch::where(small, a, b);
}

torch::Tensor fcdd_loss(const torch::Tensor& z, const torch::Tensor& y) {
  TORCH_CHECK(z.sizes() == y.sizes(), "fcdd_loss: scores ", z.sizes(), " and labels ", y.sizes(),
              " differ in shape");
  const auto yf = y.to(z.dtype());
  const auto pos = -log1mexp(z.clamp_min(1e-6));
  return ((1 - yf) * z + yf * pos).mean();
}

}  // namespace mtfcdd
