// Balanced sampling over K = M + 1 classes (normal and each of the M defect types), as in the paper:
// every draw picks a class uniformly at random, then the next image of that class's pool; a pool is
// reshuffled each time it is exhausted, so within one pass every image of the pool appears once.
// An image that carries several types is listed in each of those pools.
//
// A "balanced epoch" ends once every training image has been drawn at least once (a quota coupon
// collector). balanced_epoch_length() estimates its expected length by Monte Carlo;
// expected_epoch_length_integral() evaluates the closed Poissonised integral for disjoint pools.
//
// Pure STL; the draws depend only on the seed, never on the standard library: the generator is
// std::mt19937_64 (fully specified by the standard) and the mapping to [0, n) is our own (Lemire's
// multiply-and-reject; exactly uniform). Per draw: one output picks the class (none when K == 1); a
// pool about to be drawn from when exhausted (or never yet drawn) is first Fisher-Yates shuffled,
// last position first, one output per position.
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

namespace mtfcdd {

class BalancedSampler {
 public:
  // pools[c] = indices of the images in class c (c = 0 normal, c = 1..M the types). An index may be
  // in several pools (and, if listed twice in one pool, is drawn twice per pass of that pool).
  // Empty pools are never chosen. Any int is a valid image index.
  BalancedSampler(std::vector<std::vector<int>> pools, uint64_t seed);

  // One image index. Throws std::logic_error when every pool is empty.
  int next();
  // n consecutive draws; throws std::invalid_argument for n < 0.
  std::vector<int> next_batch(int n);
  // Pool (class) of the last draw; -1 before the first draw.
  int last_class() const { return last_class_; }

  // Epoch bookkeeping. An epoch starts at construction, at reseed() and at begin_epoch();
  // epoch_complete() is true once every distinct image of any pool has been drawn since then
  // (trivially true when there are no images). begin_epoch() also starts every pool on a fresh
  // shuffled pass, so each epoch has the length balanced_epoch_length() estimates.
  void begin_epoch();
  bool epoch_complete() const { return unseen_ == 0; }
  size_t draws_this_epoch() const { return draws_; }
  // Distinct images not yet drawn this epoch.
  size_t unseen_this_epoch() const { return unseen_; }

  // Restarts exactly as if freshly constructed with the same pools and this seed (no allocation).
  void reseed(uint64_t seed);

  // Checkpoint / resume: the complete state (generator, pool orders and positions, last class,
  // epoch progress) as plain numbers. restore() accepts only a state taken from a sampler built
  // on the same pools (any seed) and throws std::invalid_argument otherwise, leaving *this unchanged.
  // After restore(), the sampler continues identically to the one the state was taken from.
  std::vector<uint64_t> state() const;
  void restore(const std::vector<uint64_t>& s);

  int num_pools() const { return static_cast<int>(pools_.size()); }
  int num_classes() const { return static_cast<int>(active_.size()); }  // non-empty pools
  size_t num_images() const { return images_.size(); }                 // distinct indices

 private:
  uint64_t uniform_below(uint64_t n);  // exactly uniform in [0, n), n >= 1; no output used when n == 1
  void shuffle(std::vector<int>& v);

  std::vector<int> images_;               // dense id -> image index (sorted, distinct)
  std::vector<std::vector<int>> pools_;   // pools as given, in dense ids (never modified)
  std::vector<std::vector<int>> order_;   // current pass order of each pool, dense ids
  std::vector<size_t> pos_;               // next position in order_[c]; == size: reshuffle first
  std::vector<int> active_;               // indices of the non-empty pools
  uint64_t fingerprint_ = 0;              // hash of the pools, guards restore()
  std::mt19937_64 rng_;
  int last_class_ = -1;
  // Seen-this-epoch marks: stamp_[id] == epoch_id_ (begin_epoch() is O(1)).
  std::vector<uint32_t> stamp_;
  uint32_t epoch_id_ = 1;
  size_t unseen_ = 0;
  size_t draws_ = 0;
};

struct EpochStats {
  size_t images = 0;          // distinct images over all pools
  int classes = 0;            // non-empty pools (K)
  double mean_draws = 0;      // mu_T: mean draws until every image was seen
  double stddev_draws = 0;    // sample standard deviation of T over the trials
  int trials = 0;
};

// Monte Carlo: `trials` (>= 1, else std::invalid_argument) independent balanced epochs, each from a
// fresh sampler state seeded from a deterministic stream derived from `seed`.
EpochStats balanced_epoch_length(const std::vector<std::vector<int>>& pools, int trials, uint64_t seed);

// E[T] = integral_0^inf [1 - prod_c P(Poisson(t/K) >= n_c)] dt for pool sizes n_c, i.e. the exact
// expected balanced-epoch length for disjoint pools without repeated indices (an upper bound when
// pools overlap). Zero quotas are skipped, like empty pools (K = number of positive quotas); all zero
// or empty gives 0. Supported: quotas in [0, kMaxIntegralQuota] and K <= kMaxIntegralClasses; outside
// that (or any negative quota) the result is NaN. Relative accuracy ~1e-10.
constexpr int kMaxIntegralQuota = 10000;
constexpr int kMaxIntegralClasses = 64;
double expected_epoch_length_integral(const std::vector<int>& quotas);

}  // namespace mtfcdd
