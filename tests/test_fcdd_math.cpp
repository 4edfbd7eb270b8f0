#include <gtest/gtest.h>

#include <cmath>

#include "fcdd_math.hpp"

using namespace mtfcdd;

TEST(PseudoHuber, HandComputedValues) {
  // sqrt(x^2 + 1) - 1: x = 0 -> 0; x = 1 -> sqrt(2) - 1; x = -3 -> sqrt(10) - 1; x = 1e-4 -> 5e-9 (x^2/2).
  const auto a = pseudo_huber(torch::tensor({0.0f, 1.0f, -3.0f, 1e-4f}));
  EXPECT_FLOAT_EQ(a[0].item<float>(), 0.0f);
  EXPECT_FLOAT_EQ(a[1].item<float>(), static_cast<float>(std::sqrt(2.0) - 1));
  EXPECT_FLOAT_EQ(a[2].item<float>(), static_cast<float>(std::sqrt(10.0) - 1));
  // The naive float32 formula gives exactly 0 here; the stable one keeps x^2/2.
  EXPECT_NEAR(a[3].item<float>() / 5e-9f, 1.0f, 1e-5f);
}

TEST(PseudoHuber, GradientFiniteAtZero) {
  auto x = torch::tensor({0.0f, 1e-20f, -2.0f}, torch::requires_grad());
  pseudo_huber(x).sum().backward();
  EXPECT_TRUE(torch::isfinite(x.grad()).all().item<bool>());
  EXPECT_FLOAT_EQ(x.grad()[0].item<float>(), 0.0f);
  // dA/dx = x / sqrt(x^2 + 1) = -2/sqrt(5) at x = -2.
  EXPECT_NEAR(x.grad()[2].item<float>(), -2.0 / std::sqrt(5.0), 1e-6);
}

TEST(Scores, MeanAndProbability) {
  const auto maps = torch::arange(8, torch::kFloat).view({1, 2, 2, 2});  // means 1.5 and 5.5
  const auto z = anomaly_scores(maps);
  EXPECT_FLOAT_EQ(z[0][0].item<float>(), 1.5f);
  EXPECT_FLOAT_EQ(z[0][1].item<float>(), 5.5f);
  const auto p = probabilities(torch::tensor({0.0f, std::log(2.0f), 1e-8f}));
  EXPECT_FLOAT_EQ(p[0].item<float>(), 0.0f);
  EXPECT_NEAR(p[1].item<float>(), 0.5f, 1e-7);
  EXPECT_NEAR(p[2].item<float>() / 1e-8f, 1.0f, 1e-5f);  // 1 - exp(-z) ~ z, kept by expm1
}

TEST(Loss, HandComputedValues) {
  // z = [[1, 2], [0.5, 3]], y = [[0, 1], [1, 0]]:
  // (1 + (-log(1 - e^-2)) + (-log(1 - e^-0.5)) + 3) / 4
  const auto z = torch::tensor({1.0, 2.0, 0.5, 3.0}, torch::kDouble).view({2, 2});
  const auto y = torch::tensor({0.0, 1.0, 1.0, 0.0}, torch::kDouble).view({2, 2});
  const double expected = (1 - std::log(1 - std::exp(-2.0)) - std::log(1 - std::exp(-0.5)) + 3) / 4;
  EXPECT_NEAR(fcdd_loss(z, y).item<double>(), expected, 1e-12);
}

TEST(Loss, Log1mexpBothBranches) {
  const auto z = torch::tensor({1e-3, 0.5, std::log(2.0), 2.0, 40.0}, torch::kDouble);
  const auto r = log1mexp(z);
  for (int i = 0; i < 5; ++i) {
    const double v = z[i].item<double>();
    EXPECT_NEAR(r[i].item<double>(), std::log(-std::expm1(-v)), 1e-12 * (1 + std::fabs(std::log(-std::expm1(-v)))));
  }
}

TEST(Loss, FiniteValueAndGradientAtZero) {
  auto z = torch::tensor({0.0f, 0.0f, 1e-30f, 50.0f}, torch::requires_grad());
  const auto y = torch::tensor({1.0f, 0.0f, 1.0f, 1.0f});
  const auto loss = fcdd_loss(z.view({2, 2}), y.view({2, 2}));
  loss.backward();
  EXPECT_TRUE(std::isfinite(loss.item<float>()));
  EXPECT_TRUE(torch::isfinite(z.grad()).all().item<bool>());
  // A normal image's gradient is (1/MN) whatever z is.
  EXPECT_FLOAT_EQ(z.grad()[1].item<float>(), 0.25f);
  // Positives below the clamp (z < 1e-6): a finite loss, no gradient through the clamp.
  EXPECT_EQ(z.grad()[0].item<float>(), 0.0f);
  EXPECT_EQ(z.grad()[2].item<float>(), 0.0f);
  // A positive far from zero: d/dz -log(1 - e^-z) / MN = -1 / (MN (e^z - 1)) = -4.82e-23 at z = 50.
  EXPECT_NEAR(z.grad()[3].item<float>() / (-1 / (4 * std::expm1(50.0))), 1.0, 1e-5);
}

// Between the two extremes, both branches of log1mexp: d/dz of the mean loss for a positive is
// -1 / (MN (e^z - 1)), for a normal image 1 / MN.
TEST(Loss, HandComputedGradients) {
  auto z = torch::tensor({0.25, 2.0, 0.25, 2.0}, torch::dtype(torch::kDouble).requires_grad(true));
  const auto y = torch::tensor({1.0, 1.0, 0.0, 0.0}, torch::kDouble);
  fcdd_loss(z.view({2, 2}), y.view({2, 2})).backward();
  EXPECT_NEAR(z.grad()[0].item<double>(), -1 / (4 * std::expm1(0.25)), 1e-12);  // -0.8802 (z <= log 2)
  EXPECT_NEAR(z.grad()[1].item<double>(), -1 / (4 * std::expm1(2.0)), 1e-12);   // -0.0391 (z > log 2)
  EXPECT_DOUBLE_EQ(z.grad()[2].item<double>(), 0.25);
  EXPECT_DOUBLE_EQ(z.grad()[3].item<double>(), 0.25);
}

TEST(Loss, RejectsShapeMismatch) {
  EXPECT_THROW(fcdd_loss(torch::zeros({2, 3}), torch::zeros({3, 2})), c10::Error);
}
