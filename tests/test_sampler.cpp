// Balanced sampler: hand-checked epoch lengths, Monte Carlo vs the Poissonised integral, class
// balance, per-pass reshuffling, overlapping and empty pools, determinism and checkpoint/resume.
#include "sampler.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <set>
#include <stdexcept>
#include <vector>

namespace mtfcdd {
namespace {

// Disjoint pools of consecutive indices with the given sizes.
std::vector<std::vector<int>> disjoint_pools(const std::vector<int>& sizes) {
  std::vector<std::vector<int>> pools;
  int next = 0;
  for (int n : sizes) {
    std::vector<int> p(static_cast<size_t>(n));
    std::iota(p.begin(), p.end(), next);
    next += n;
    pools.push_back(std::move(p));
  }
  return pools;
}

double harmonic(int k) {
  double h = 0;
  for (int i = 1; i <= k; ++i) h += 1.0 / i;
  return h;
}

// P(chi^2_{2m} > x) = P(Poisson(x/2) < m), to check the tabulated critical values used below.
double chi2_even_df_tail(int m, double x) {
  double term = 1, sum = 1;
  for (int j = 1; j < m; ++j) sum += (term *= (x / 2) / j);
  return std::exp(-x / 2) * sum;
}

// Chi-square statistic of the class counts over `draws` draws, against uniform over the non-empty pools.
double class_chi_square(BalancedSampler& s, int draws) {
  std::map<int, long> counts;
  for (int i = 0; i < draws; ++i) {
    s.next();
    ++counts[s.last_class()];
  }
  EXPECT_EQ(static_cast<int>(counts.size()), s.num_classes());
  const double expected = static_cast<double>(draws) / s.num_classes();
  double chi2 = 0;
  for (const auto& kv : counts) chi2 += (kv.second - expected) * (kv.second - expected) / expected;
  return chi2;
}

// ---------------------------------------------------------------------------------------------
// Hand-checked epoch lengths

TEST(BalancedSampler, OneClassEpochEndsAfterExactlyNDraws) {
  for (int n : {1, 2, 7, 50}) {
    BalancedSampler s(disjoint_pools({n}), 3);
    for (int epoch = 0; epoch < 3; ++epoch) {
      s.begin_epoch();
      for (int i = 0; i < n; ++i) {
        EXPECT_FALSE(s.epoch_complete()) << "n=" << n << " after " << i << " draws";
        s.next();
      }
      EXPECT_TRUE(s.epoch_complete()) << "n=" << n;
      EXPECT_EQ(s.draws_this_epoch(), static_cast<size_t>(n));
    }
    const EpochStats st = balanced_epoch_length(disjoint_pools({n}), 50, 1);
    EXPECT_DOUBLE_EQ(st.mean_draws, n);
    EXPECT_DOUBLE_EQ(st.stddev_draws, 0.0);
  }
}

TEST(BalancedSampler, IntegralOneClassEqualsQuota) {
  for (int n = 1; n <= 200; ++n)
    EXPECT_NEAR(expected_epoch_length_integral({n}), n, 1e-9 * n) << "n=" << n;
  EXPECT_NEAR(expected_epoch_length_integral({1000}), 1000, 1e-6);
  EXPECT_NEAR(expected_epoch_length_integral({kMaxIntegralQuota}), kMaxIntegralQuota, 1e-5);
}

TEST(BalancedSampler, IntegralKSingletonClassesIsKTimesHarmonic) {
  for (int k = 1; k <= 10; ++k)
    EXPECT_NEAR(expected_epoch_length_integral(std::vector<int>(k, 1)), k * harmonic(k), 1e-6)
        << "K=" << k;
}

TEST(BalancedSampler, MonteCarloKSingletonClassesIsKTimesHarmonic) {
  for (int k : {1, 2, 3, 6, 10}) {
    const EpochStats st = balanced_epoch_length(disjoint_pools(std::vector<int>(k, 1)), 40000, 100 + k);
    EXPECT_EQ(st.classes, k);
    EXPECT_EQ(st.images, static_cast<size_t>(k));
    EXPECT_NEAR(st.mean_draws, k * harmonic(k), 0.01 * k * harmonic(k)) << "K=" << k;
  }
}

// Quotas {1, 2}: E[T] = 2 * int_0^inf [2a + b - a^2 - ab] du with a = e^-u, b = u e^-u, = 2 * 9/4.
TEST(BalancedSampler, TwoClassesQuotasOneAndTwoByHand) {
  EXPECT_NEAR(expected_epoch_length_integral({1, 2}), 4.5, 1e-9);
  EXPECT_NEAR(expected_epoch_length_integral({2, 1}), 4.5, 1e-9);
  const EpochStats st = balanced_epoch_length(disjoint_pools({1, 2}), 40000, 7);
  EXPECT_NEAR(st.mean_draws, 4.5, 0.045);
}

TEST(BalancedSampler, MonteCarloAgreesWithIntegralForSmallQuotas) {
  const std::vector<std::vector<int>> cases = {{5, 3, 2, 4}, {20, 10, 7}, {1, 1, 30}, {3, 3, 3, 3, 3, 3, 3, 3, 3}};
  uint64_t seed = 11;
  for (const auto& q : cases) {
    const double integral = expected_epoch_length_integral(q);
    const EpochStats st = balanced_epoch_length(disjoint_pools(q), 20000, seed++);
    EXPECT_NEAR(st.mean_draws, integral, 0.01 * integral) << "quotas of size " << q.size();
    EXPECT_GT(st.stddev_draws, 0.0);
  }
}

// The Magnetic Tile train split (normal + 5 types). The largest pool dominates: E[T] ~ K * 581.
TEST(BalancedSampler, MagneticTilePoolsMonteCarloAgreesWithIntegral) {
  const std::vector<int> q = {581, 67, 51, 36, 15, 59};
  const double integral = expected_epoch_length_integral(q);
  EXPECT_NEAR(integral, 6 * 581.0, 1.0);
  const EpochStats st = balanced_epoch_length(disjoint_pools(q), 10000, 2024);
  EXPECT_EQ(st.images, 809u);
  EXPECT_EQ(st.classes, 6);
  EXPECT_EQ(st.trials, 10000);
  EXPECT_NEAR(st.mean_draws, integral, 0.01 * integral);
  // The length of an epoch is about K * 581 draws; its sd about sqrt(581 * (1 - 1/6)) * 6 ~ 132.
  EXPECT_NEAR(st.stddev_draws, 132, 15);
}

TEST(BalancedSampler, LaterEpochsAreAsLongAsTheFirst) {
  // Drawing whole batches overshoots the end of an epoch into the next pass of the largest pool;
  // that half-done pass must not stretch the next epoch. Over 40 consecutive epochs of one
  // sampler the mean length equals the fresh-sampler expectation (6 * 581, sd ~132 each, so the
  // mean of 40 has sd ~21; the overshoot adds at most 15).
  const std::vector<int> q = {581, 67, 51, 36, 15, 59};
  BalancedSampler s(disjoint_pools(q), 99);
  double total = 0;
  for (int e = 0; e < 40; ++e) {
    s.begin_epoch();
    while (!s.epoch_complete()) s.next_batch(16);
    total += static_cast<double>(s.draws_this_epoch());
  }
  EXPECT_NEAR(total / 40, expected_epoch_length_integral(q), 0.03 * 6 * 581);
}

TEST(BalancedSampler, IntegralEdgeCases) {
  EXPECT_EQ(expected_epoch_length_integral({}), 0.0);
  EXPECT_EQ(expected_epoch_length_integral({0, 0}), 0.0);
  EXPECT_NEAR(expected_epoch_length_integral({5, 0}), 5.0, 1e-9);  // zero quotas are skipped
  EXPECT_NEAR(expected_epoch_length_integral({0, 1, 0, 1}), 3.0, 1e-9);
  EXPECT_TRUE(std::isnan(expected_epoch_length_integral({3, -1})));
  EXPECT_TRUE(std::isnan(expected_epoch_length_integral({kMaxIntegralQuota + 1})));
  EXPECT_TRUE(std::isnan(expected_epoch_length_integral(std::vector<int>(kMaxIntegralClasses + 1, 2))));
  // Symmetric in the order of the quotas.
  EXPECT_NEAR(expected_epoch_length_integral({5, 3, 2, 4}), expected_epoch_length_integral({2, 4, 5, 3}), 1e-9);
}

// ---------------------------------------------------------------------------------------------
// Balance and reshuffling

TEST(BalancedSampler, ClassesAreUniformChiSquare) {
  // 0.999 quantiles of chi^2 with 4 and 6 degrees of freedom, checked against the closed form.
  const double crit4 = 18.467, crit6 = 22.458;
  EXPECT_NEAR(chi2_even_df_tail(2, crit4), 0.001, 2e-6);
  EXPECT_NEAR(chi2_even_df_tail(3, crit6), 0.001, 2e-6);

  BalancedSampler five(disjoint_pools({10, 3, 7, 1, 5}), 99);
  EXPECT_LT(class_chi_square(five, 100000), crit4);

  // Seven non-empty pools of very different sizes plus an empty one (df = 6).
  auto pools = disjoint_pools({581, 67, 51, 36, 15, 59, 2});
  pools.insert(pools.begin() + 3, std::vector<int>{});
  BalancedSampler seven(pools, 12345);
  EXPECT_EQ(seven.num_classes(), 7);
  EXPECT_LT(class_chi_square(seven, 100000), crit6);
}

TEST(BalancedSampler, EveryImageOncePerPassAndPassesAreReshuffled) {
  const auto pools = disjoint_pools({7, 3, 11, 1});
  BalancedSampler s(pools, 5);
  std::vector<std::vector<int>> seq(pools.size());
  for (int i = 0; i < 5000; ++i) {
    const int v = s.next();
    seq[static_cast<size_t>(s.last_class())].push_back(v);
  }
  for (size_t c = 0; c < pools.size(); ++c) {
    const size_t n = pools[c].size();
    std::set<std::vector<int>> distinct_passes;
    ASSERT_GE(seq[c].size(), 3 * n);
    for (size_t start = 0; start + n <= seq[c].size(); start += n) {
      std::vector<int> pass(seq[c].begin() + static_cast<long>(start), seq[c].begin() + static_cast<long>(start + n));
      distinct_passes.insert(pass);
      std::sort(pass.begin(), pass.end());
      EXPECT_EQ(pass, pools[c]) << "class " << c << " pass at " << start;
    }
    if (n >= 3) {
      EXPECT_GT(distinct_passes.size(), 1u) << "class " << c << " is never reshuffled";
    }
  }
}

TEST(BalancedSampler, ImagesWithinAPoolAreUniform) {
  // Over whole passes each image of a pool is drawn equally often; check the first position of
  // each pass is uniform (chi-square, 6 dof for a pool of 7).
  BalancedSampler s(disjoint_pools({7}), 8);
  std::vector<long> first(7, 0);
  const int passes = 20000;
  for (int p = 0; p < passes; ++p) {
    ++first[static_cast<size_t>(s.next())];
    for (int i = 1; i < 7; ++i) s.next();
  }
  double chi2 = 0;
  const double e = passes / 7.0;
  for (long c : first) chi2 += (c - e) * (c - e) / e;
  EXPECT_LT(chi2, 22.458);
}

// ---------------------------------------------------------------------------------------------
// Overlapping and empty pools

TEST(BalancedSampler, ImageInTwoPools) {
  const std::vector<std::vector<int>> pools = {{0, 1, 2}, {2, 3}};
  BalancedSampler s(pools, 21);
  EXPECT_EQ(s.num_images(), 4u);
  EXPECT_EQ(s.num_classes(), 2);
  long from0 = 0, from1 = 0, twos = 0;
  const int draws = 100000;
  for (int i = 0; i < draws; ++i) {
    const int v = s.next();
    if (v == 2) {
      ++twos;
      (s.last_class() == 0 ? from0 : from1)++;
    }
  }
  EXPECT_GT(from0, 0);
  EXPECT_GT(from1, 0);
  // P(image 2) = 1/2 * 1/3 + 1/2 * 1/2 = 5/12.
  EXPECT_NEAR(static_cast<double>(twos) / draws, 5.0 / 12, 0.01);

  // Seen through either pool counts: one shared image completes the epoch in one draw.
  BalancedSampler shared({{5}, {5}}, 1);
  EXPECT_EQ(shared.num_images(), 1u);
  EXPECT_FALSE(shared.epoch_complete());
  EXPECT_EQ(shared.next(), 5);
  EXPECT_TRUE(shared.epoch_complete());
  EXPECT_EQ(shared.draws_this_epoch(), 1u);

  // Overlap only shortens the epoch: the disjoint quota integral is an upper bound.
  const EpochStats st = balanced_epoch_length(pools, 20000, 3);
  EXPECT_EQ(st.images, 4u);
  EXPECT_LT(st.mean_draws, 0.97 * expected_epoch_length_integral({3, 2}));
}

TEST(BalancedSampler, EmptyPoolsAreSkipped) {
  BalancedSampler s({{}, {1, 2}, {}, {3}, {}}, 4);
  EXPECT_EQ(s.num_pools(), 5);
  EXPECT_EQ(s.num_classes(), 2);
  EXPECT_EQ(s.num_images(), 3u);
  EXPECT_EQ(s.last_class(), -1);
  for (int i = 0; i < 1000; ++i) {
    s.next();
    EXPECT_TRUE(s.last_class() == 1 || s.last_class() == 3) << s.last_class();
  }
  const EpochStats st = balanced_epoch_length({{}, {1, 2}, {}, {3}, {}}, 1000, 4);
  EXPECT_EQ(st.classes, 2);
  EXPECT_EQ(st.images, 3u);

  BalancedSampler none({{}, {}}, 1);
  EXPECT_EQ(none.num_classes(), 0);
  EXPECT_TRUE(none.epoch_complete());
  EXPECT_THROW(none.next(), std::logic_error);
  BalancedSampler nothing({}, 1);
  EXPECT_THROW(nothing.next(), std::logic_error);
}

// ---------------------------------------------------------------------------------------------
// Epoch bookkeeping, batches, determinism, checkpoint/resume

TEST(BalancedSampler, BeginEpochResetsBookkeeping) {
  BalancedSampler s(disjoint_pools({4, 2}), 9);
  while (!s.epoch_complete()) s.next();
  EXPECT_GE(s.draws_this_epoch(), 4u);
  EXPECT_EQ(s.unseen_this_epoch(), 0u);
  s.begin_epoch();
  EXPECT_FALSE(s.epoch_complete());
  EXPECT_EQ(s.draws_this_epoch(), 0u);
  EXPECT_EQ(s.unseen_this_epoch(), 6u);
  s.next();
  EXPECT_EQ(s.draws_this_epoch(), 1u);
  EXPECT_EQ(s.unseen_this_epoch(), 5u);
}

TEST(BalancedSampler, NextBatchEqualsRepeatedNext) {
  BalancedSampler a(disjoint_pools({5, 3, 2}), 77), b(disjoint_pools({5, 3, 2}), 77);
  const std::vector<int> batch = a.next_batch(64);
  ASSERT_EQ(batch.size(), 64u);
  for (int v : batch) EXPECT_EQ(v, b.next());
  EXPECT_EQ(a.last_class(), b.last_class());
  EXPECT_TRUE(a.next_batch(0).empty());
  EXPECT_THROW(a.next_batch(-1), std::invalid_argument);
}

TEST(BalancedSampler, DeterministicForASeed) {
  const auto pools = disjoint_pools({581, 67, 51, 36, 15, 59});
  BalancedSampler a(pools, 42), b(pools, 42), c(pools, 43);
  bool differs = false;
  for (int i = 0; i < 5000; ++i) {
    const int va = a.next(), vb = b.next(), vc = c.next();
    ASSERT_EQ(va, vb);
    ASSERT_EQ(a.last_class(), b.last_class());
    differs |= va != vc;
  }
  EXPECT_TRUE(differs);

  const EpochStats s1 = balanced_epoch_length(pools, 200, 5), s2 = balanced_epoch_length(pools, 200, 5);
  EXPECT_EQ(s1.mean_draws, s2.mean_draws);
  EXPECT_EQ(s1.stddev_draws, s2.stddev_draws);
}

// Pins the exact stream (mt19937_64 + our own integer mapping + lazy Fisher-Yates), so that a
// change of standard library or of the algorithm cannot go unnoticed.
TEST(BalancedSampler, GoldenSequence) {
  BalancedSampler s({{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {10, 11, 12}, {13}}, 12345);
  const std::vector<std::pair<int, int>> expected = {
      {10, 1}, {12, 1}, {11, 1}, {4, 0},  {12, 1}, {2, 0},  {11, 1}, {7, 0},  {13, 2}, {13, 2}, {13, 2}, {10, 1},
      {13, 2}, {11, 1}, {13, 2}, {13, 2}, {13, 2}, {10, 1}, {8, 0},  {13, 2}, {13, 2}, {13, 2}, {12, 1}, {10, 1}};
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(s.next(), expected[i].first) << "draw " << i;
    EXPECT_EQ(s.last_class(), expected[i].second) << "draw " << i;
  }
}

TEST(BalancedSampler, ReseedEqualsFreshConstruction) {
  const auto pools = disjoint_pools({9, 4, 2});
  BalancedSampler a(pools, 1);
  a.next_batch(100);
  a.reseed(31);
  BalancedSampler b(pools, 31);
  EXPECT_EQ(a.last_class(), -1);
  EXPECT_EQ(a.draws_this_epoch(), 0u);
  EXPECT_EQ(a.state(), b.state());
  EXPECT_EQ(a.next_batch(200), b.next_batch(200));
}

TEST(BalancedSampler, StateRestoreContinuesIdentically) {
  const std::vector<std::vector<int>> pools = {{0, 1, 2, 3, 4, 5, 6}, {6, 7, 8}, {}, {9, 10, 11, 12, 13}};
  for (int warmup : {0, 1, 6, 137}) {
    BalancedSampler a(pools, 2718);
    a.next_batch(warmup);
    const std::vector<uint64_t> st = a.state();

    struct Draw { int v, c; size_t n; bool done; };
    std::vector<Draw> want;
    for (int i = 0; i < 300; ++i) {
      const int v = a.next();
      want.push_back({v, a.last_class(), a.draws_this_epoch(), a.epoch_complete()});
      if (i == 150) a.begin_epoch();
    }

    BalancedSampler b(pools, 999);  // another seed: everything must come from the state
    b.next_batch(17);
    b.restore(st);
    EXPECT_EQ(b.state(), st);
    BalancedSampler probe(pools, 2718);
    probe.next_batch(warmup);
    EXPECT_EQ(b.last_class(), probe.last_class());
    EXPECT_EQ(b.draws_this_epoch(), probe.draws_this_epoch());
    EXPECT_EQ(b.epoch_complete(), probe.epoch_complete());
    for (int i = 0; i < 300; ++i) {
      const int v = b.next();
      ASSERT_EQ(v, want[static_cast<size_t>(i)].v) << "warmup " << warmup << " draw " << i;
      ASSERT_EQ(b.last_class(), want[static_cast<size_t>(i)].c);
      ASSERT_EQ(b.draws_this_epoch(), want[static_cast<size_t>(i)].n);
      ASSERT_EQ(b.epoch_complete(), want[static_cast<size_t>(i)].done);
      if (i == 150) b.begin_epoch();
    }
    EXPECT_EQ(a.state(), b.state());
  }
}

TEST(BalancedSampler, RestoreRejectsForeignOrCorruptState) {
  const auto pools = disjoint_pools({5, 3});
  BalancedSampler a(pools, 1);
  a.next_batch(11);
  const std::vector<uint64_t> st = a.state();

  BalancedSampler other(disjoint_pools({5, 4}), 1);
  EXPECT_THROW(other.restore(st), std::invalid_argument);
  BalancedSampler reordered({{0, 1, 2, 4, 3}, {5, 6, 7}}, 1);  // same images, listed in another order
  EXPECT_THROW(reordered.restore(st), std::invalid_argument);

  BalancedSampler b(pools, 8);
  b.next_batch(3);
  const std::vector<uint64_t> before = b.state();
  EXPECT_THROW(b.restore({}), std::invalid_argument);
  EXPECT_THROW(b.restore(std::vector<uint64_t>(st.begin(), st.end() - 1)), std::invalid_argument);
  std::vector<uint64_t> longer = st;
  longer.push_back(0);
  EXPECT_THROW(b.restore(longer), std::invalid_argument);
  std::vector<uint64_t> bad_magic = st;
  bad_magic[0] ^= 1;
  EXPECT_THROW(b.restore(bad_magic), std::invalid_argument);
  // Duplicate an id inside the first pool's order: no longer a permutation of the pool.
  std::vector<uint64_t> bad_order = st;
  const size_t order0 = 8 + static_cast<size_t>(st[7]) + 1;  // header, rng words, pool 0 position
  bad_order[order0 + 1] = bad_order[order0];
  EXPECT_THROW(b.restore(bad_order), std::invalid_argument);
  std::vector<uint64_t> bad_pos = st;
  bad_pos[order0 - 1] = 6;
  EXPECT_THROW(b.restore(bad_pos), std::invalid_argument);
  // A failed restore leaves the sampler untouched.
  EXPECT_EQ(b.state(), before);
}

TEST(BalancedSampler, EpochStatsReportsCountsAndRejectsNoTrials) {
  const EpochStats st = balanced_epoch_length(disjoint_pools({5, 3, 2, 4}), 123, 0);
  EXPECT_EQ(st.images, 14u);
  EXPECT_EQ(st.classes, 4);
  EXPECT_EQ(st.trials, 123);
  EXPECT_GE(st.mean_draws, 14.0);
  EXPECT_THROW(balanced_epoch_length(disjoint_pools({2}), 0, 0), std::invalid_argument);
  const EpochStats empty = balanced_epoch_length({{}, {}}, 5, 0);
  EXPECT_EQ(empty.images, 0u);
  EXPECT_EQ(empty.mean_draws, 0.0);
}

}  // namespace
}  // namespace mtfcdd
