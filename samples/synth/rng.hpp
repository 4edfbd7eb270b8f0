// Seeded random helpers. Numbers are drawn from raw mt19937_64 output (not std:: distributions, whose
// algorithms differ between standard libraries) so a seed gives the same dataset with any toolchain.
#pragma once

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <random>

namespace mtfcdd::synth {

inline uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// One well-mixed seed from several keys, e.g. (seed, split, image index): each image gets its own stream,
// so images can be rendered in any order or in parallel and one split can be regenerated alone.
inline uint64_t mix_seed(std::initializer_list<uint64_t> keys) {
  uint64_t h = 0x2545f4914f6cdd1dULL;
  for (uint64_t k : keys) h = splitmix64(h ^ splitmix64(k));
  return h;
}

class Rng {
 public:
  explicit Rng(uint64_t seed) : gen_(seed) {}
  uint64_t bits() { return gen_(); }
  // Uniform in [0, 1).
  double uniform() { return static_cast<double>(gen_() >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  float uniformf(double lo, double hi) { return static_cast<float>(uniform(lo, hi)); }
  // Uniform integer in [lo, hi].
  int randint(int lo, int hi) { return lo + static_cast<int>(uniform() * (hi - lo + 1)); }
  bool chance(double p) { return uniform() < p; }
  // Standard normal (Box-Muller).
  double normal() {
    const double u = 1.0 - uniform(), v = uniform();
    return std::sqrt(-2.0 * std::log(u)) * std::cos(6.283185307179586 * v);
  }
  float angle() { return uniformf(0.0, 6.283185307179586); }

 private:
  std::mt19937_64 gen_;
};

}  // namespace mtfcdd::synth
