#include "sampler.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace mtfcdd {

namespace {

constexpr uint64_t kStateMagic = 0x4D54464344444253ULL;  // "MTFCDDBS"
constexpr uint64_t kStateVersion = 1;

uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// Full 64 x 64 -> 128-bit product as (high, low); the portable path gives the same numbers.
inline void mul64(uint64_t a, uint64_t b, uint64_t& hi, uint64_t& lo) {
#if defined(__SIZEOF_INT128__)
  const unsigned __int128 m = static_cast<unsigned __int128>(a) * b;
  hi = static_cast<uint64_t>(m >> 64);
  lo = static_cast<uint64_t>(m);
#else
  const uint64_t a0 = a & 0xFFFFFFFFu, a1 = a >> 32, b0 = b & 0xFFFFFFFFu, b1 = b >> 32;
  const uint64_t p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
  const uint64_t mid = (p00 >> 32) + (p01 & 0xFFFFFFFFu) + (p10 & 0xFFFFFFFFu);
  hi = p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32);
  lo = (mid << 32) | (p00 & 0xFFFFFFFFu);
#endif
}

// Unbiased integer in [0, n), n >= 2, by Lemire's multiply-and-reject ("Fast random integer
// generation in an interval", 2019): the high word of r * n, rejecting r whose low word falls below
// 2^64 mod n. Consumes one generator output except on a rejection (probability < n / 2^64).
inline uint64_t lemire_below(std::mt19937_64& rng, uint64_t n) {
  uint64_t hi, lo;
  mul64(rng(), n, hi, lo);
  if (lo < n) {
    const uint64_t threshold = (0 - n) % n;  // 2^64 mod n
    while (lo < threshold) mul64(rng(), n, hi, lo);
  }
  return hi;
}

uint64_t fnv1a(uint64_t h, uint64_t v) {
  for (int i = 0; i < 8; ++i) {
    h ^= (v >> (8 * i)) & 0xFFu;
    h *= 0x100000001B3ULL;
  }
  return h;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// BalancedSampler

BalancedSampler::BalancedSampler(std::vector<std::vector<int>> pools, uint64_t seed) {
  for (const auto& p : pools) images_.insert(images_.end(), p.begin(), p.end());
  std::sort(images_.begin(), images_.end());
  images_.erase(std::unique(images_.begin(), images_.end()), images_.end());

  fingerprint_ = 0xCBF29CE484222325ULL;
  fingerprint_ = fnv1a(fingerprint_, pools.size());
  pools_ = std::move(pools);
  for (size_t c = 0; c < pools_.size(); ++c) {
    auto& p = pools_[c];
    fingerprint_ = fnv1a(fingerprint_, p.size());
    for (int& v : p) {
      fingerprint_ = fnv1a(fingerprint_, static_cast<uint64_t>(static_cast<int64_t>(v)));
      v = static_cast<int>(std::lower_bound(images_.begin(), images_.end(), v) - images_.begin());
    }
    if (!p.empty()) active_.push_back(static_cast<int>(c));
  }
  order_ = pools_;
  pos_.assign(pools_.size(), 0);
  stamp_.assign(images_.size(), 0);
  reseed(seed);
}

void BalancedSampler::reseed(uint64_t seed) {
  rng_.seed(seed);
  for (size_t c = 0; c < pools_.size(); ++c) {
    std::copy(pools_[c].begin(), pools_[c].end(), order_[c].begin());
    pos_[c] = order_[c].size();  // shuffled lazily at the pool's first draw
  }
  last_class_ = -1;
  begin_epoch();
}

uint64_t BalancedSampler::uniform_below(uint64_t n) {
  return n <= 1 ? 0 : lemire_below(rng_, n);
}

void BalancedSampler::shuffle(std::vector<int>& v) {
  // Fisher-Yates, last position first.
  for (size_t i = v.size(); i > 1; --i) {
    const size_t j = static_cast<size_t>(uniform_below(i));
    std::swap(v[i - 1], v[j]);
  }
}

int BalancedSampler::next() {
  const size_t k = active_.size();
  if (k == 0) throw std::logic_error("BalancedSampler::next: every pool is empty");
  const int c = active_[static_cast<size_t>(uniform_below(k))];
  std::vector<int>& ord = order_[c];
  size_t& p = pos_[c];
  if (p == ord.size()) {
    shuffle(ord);
    p = 0;
  }
  const int id = ord[p++];
  last_class_ = c;
  ++draws_;
  if (stamp_[id] != epoch_id_) {
    stamp_[id] = epoch_id_;
    --unseen_;
  }
  return images_[id];
}

std::vector<int> BalancedSampler::next_batch(int n) {
  if (n < 0) throw std::invalid_argument("BalancedSampler::next_batch: negative n");
  std::vector<int> out;
  out.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) out.push_back(next());
  return out;
}

void BalancedSampler::begin_epoch() {
  if (++epoch_id_ == 0) {  // wrapped: clear the marks once every 2^32 epochs
    std::fill(stamp_.begin(), stamp_.end(), 0u);
    epoch_id_ = 1;
  }
  unseen_ = images_.size();
  draws_ = 0;
  // Every pool starts a fresh pass: a pass left half-done by the last epoch would leave the
  // images it already drew to the pass after, stretching this epoch far past its expected length.
  for (size_t c = 0; c < pos_.size(); ++c) pos_[c] = order_[c].size();
}

// Layout: magic, version, fingerprint, #pools, #images, last_class + 1, draws, #rng words,
// rng words..., then per pool: position, order (dense ids)..., then the seen bitmap (64 per word).
std::vector<uint64_t> BalancedSampler::state() const {
  std::vector<uint64_t> s = {kStateMagic,   kStateVersion, fingerprint_,
                             pools_.size(), images_.size(), static_cast<uint64_t>(last_class_ + 1),
                             draws_};
  std::ostringstream os;
  os << rng_;
  std::istringstream is(os.str());
  std::vector<uint64_t> words;
  for (uint64_t w; is >> w;) words.push_back(w);
  s.push_back(words.size());
  s.insert(s.end(), words.begin(), words.end());
  for (size_t c = 0; c < pools_.size(); ++c) {
    s.push_back(pos_[c]);
    for (int id : order_[c]) s.push_back(static_cast<uint64_t>(id));
  }
  const size_t nwords = (images_.size() + 63) / 64;
  const size_t base = s.size();
  s.resize(base + nwords, 0);
  for (size_t i = 0; i < images_.size(); ++i)
    if (stamp_[i] == epoch_id_) s[base + i / 64] |= uint64_t{1} << (i % 64);
  return s;
}

namespace {

// Reads a state() vector in order; every failure is restore()'s std::invalid_argument.
class StateReader {
 public:
  explicit StateReader(const std::vector<uint64_t>& s) : s_(s) {}
  [[noreturn]] static void fail(const char* why) {
    throw std::invalid_argument(std::string("BalancedSampler::restore: ") + why);
  }
  uint64_t take() {
    if (at_ >= s_.size()) fail("state is truncated");
    return s_[at_++];
  }
  size_t left() const { return s_.size() - at_; }
  // The generator: its word count, then its words (as operator<< wrote them).
  std::mt19937_64 generator() {
    const uint64_t n = take();
    if (n > left()) fail("state is truncated");
    std::ostringstream os;
    for (uint64_t i = 0; i < n; ++i) os << take() << ' ';
    std::istringstream is(os.str());
    std::mt19937_64 rng;
    if (!(is >> rng)) fail("bad generator state");
    return rng;
  }

 private:
  const std::vector<uint64_t>& s_;
  size_t at_ = 0;
};

// Each pool's position and pass order (dense ids), checked to be a permutation of the pool.
void read_orders(StateReader& r, const std::vector<std::vector<int>>& pools, size_t images,
                 std::vector<std::vector<int>>& order, std::vector<size_t>& pos) {
  std::vector<int> sorted_a, sorted_b;
  for (size_t c = 0; c < pools.size(); ++c) {
    const uint64_t p = r.take();
    if (p > pools[c].size()) StateReader::fail("bad pool position");
    pos[c] = static_cast<size_t>(p);
    for (int& id : order[c]) {
      const uint64_t v = r.take();
      if (v >= images) StateReader::fail("bad image id");
      id = static_cast<int>(v);
    }
    sorted_a = order[c];
    sorted_b = pools[c];
    std::sort(sorted_a.begin(), sorted_a.end());
    std::sort(sorted_b.begin(), sorted_b.end());
    if (sorted_a != sorted_b) StateReader::fail("pool order is not a permutation of the pool");
  }
}

// The seen-this-epoch bitmap, the rest of the state, as stamps (1 = seen); returns the unseen count.
size_t read_seen(StateReader& r, size_t images, std::vector<uint32_t>& stamp) {
  const size_t nwords = (images + 63) / 64;
  if (r.left() != nwords) StateReader::fail("bad seen bitmap size");
  std::vector<uint64_t> words(nwords);
  for (auto& w : words) w = r.take();
  if (nwords > 0 && images % 64 != 0 && (words.back() >> (images % 64)) != 0) StateReader::fail("bad seen bitmap");
  stamp.assign(images, 0);
  size_t unseen = images;
  for (size_t i = 0; i < images; ++i)
    if ((words[i / 64] >> (i % 64)) & 1u) {
      stamp[i] = 1;
      --unseen;
    }
  return unseen;
}

}  // namespace

void BalancedSampler::restore(const std::vector<uint64_t>& s) {
  StateReader r(s);
  if (r.take() != kStateMagic) StateReader::fail("not a sampler state");
  if (r.take() != kStateVersion) StateReader::fail("unsupported state version");
  if (r.take() != fingerprint_ || r.take() != pools_.size() || r.take() != images_.size())
    StateReader::fail("state belongs to different pools");
  const uint64_t last = r.take();
  if (last > pools_.size() || (last > 0 && pools_[last - 1].empty())) StateReader::fail("bad last class");
  const uint64_t draws = r.take();
  const std::mt19937_64 rng = r.generator();
  std::vector<std::vector<int>> order = order_;
  std::vector<size_t> pos(pools_.size());
  read_orders(r, pools_, images_.size(), order, pos);
  std::vector<uint32_t> stamp;
  const size_t unseen = read_seen(r, images_.size(), stamp);
  // Commit: nothing above changed *this.
  rng_ = rng;
  order_ = std::move(order);
  pos_ = std::move(pos);
  stamp_ = std::move(stamp);
  epoch_id_ = 1;
  unseen_ = unseen;
  draws_ = static_cast<size_t>(draws);
  last_class_ = static_cast<int>(last) - 1;
}

// ---------------------------------------------------------------------------------------------
// Monte Carlo

EpochStats balanced_epoch_length(const std::vector<std::vector<int>>& pools, int trials, uint64_t seed) {
  if (trials < 1) throw std::invalid_argument("balanced_epoch_length: trials must be >= 1");
  BalancedSampler sampler(pools, 0);
  EpochStats st;
  st.images = sampler.num_images();
  st.classes = sampler.num_classes();
  st.trials = trials;
  uint64_t stream = seed;
  double mean = 0, m2 = 0;  // Welford
  for (int t = 0; t < trials; ++t) {
    sampler.reseed(splitmix64(stream));
    while (!sampler.epoch_complete()) sampler.next();
    const double x = static_cast<double>(sampler.draws_this_epoch());
    const double d = x - mean;
    mean += d / (t + 1);
    m2 += d * (x - mean);
  }
  st.mean_draws = mean;
  st.stddev_draws = trials > 1 ? std::sqrt(m2 / (trials - 1)) : 0.0;
  return st;
}

// ---------------------------------------------------------------------------------------------
// Integral

namespace {

// m log(l) - l - log(m!) for m >= 0, l > 0: the log of the Poisson(l) mass at m. For large m the
// Stirling form n (log1p(x) - x) with x = (l - m) / m keeps the error at ~eps * |l - m| instead of
// ~eps * m log m (the plain form subtracts two numbers of that size).
double log_poisson_pmf(int m, double l) {
  if (m < 30) return m * std::log(l) - l - std::lgamma(m + 1.0);
  const double dm = m;
  const double x = (l - dm) / dm;
  const double inv = 1.0 / dm, inv2 = inv * inv;
  const double corr = inv * (1.0 / 12 - inv2 * (1.0 / 360 - inv2 * (1.0 / 1260 - inv2 / 1680)));
  return dm * (std::log1p(x) - x) - 0.5 * std::log(6.283185307179586476925286766559 * dm) - corr;
}

// log P(Poisson(l) >= n) = log P(n, l) (regularised lower incomplete gamma), n >= 1, l >= 0.
// Each branch sums the smaller tail directly; the prefactor is a pmf in log space.
double log_poisson_tail_ge(int n, double l) {
  if (l <= 0) return -std::numeric_limits<double>::infinity();
  if (l < n) {
    // P(X >= n) = pmf(n) * sum_{k>=0} l^k / ((n+1)...(n+k))
    double term = 1, sum = 1;
    for (int k = 1; k < 1000000; ++k) {
      term *= l / (n + k);
      sum += term;
      if (term < sum * 1e-17) break;
    }
    return log_poisson_pmf(n, l) + std::log(sum);
  }
  // Q = P(X < n) = pmf(n-1) * sum_{j=0}^{n-1} (n-1)!/(n-1-j)! l^{-j}  (<= ~1/2 here)
  double term = 1, sum = 1;
  for (int j = n - 1; j > 0; --j) {
    term *= j / l;
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return std::log1p(-std::exp(log_poisson_pmf(n - 1, l)) * sum);
}

struct Integrand {
  std::vector<int> n;
  double inv_k;
  double operator()(double t) const {
    const double l = t * inv_k;
    double s = 0;
    for (int q : n) {
      s += log_poisson_tail_ge(q, l);
      if (s == -std::numeric_limits<double>::infinity()) return 1.0;
    }
    return -std::expm1(s);  // 1 - prod_c P_c, accurate when the product is close to 1
  }
};

// 15-point Gauss-Kronrod (QUADPACK qk15): Kronrod nodes/weights and the embedded 7-point Gauss weights.
constexpr double kXgk[8] = {0.991455371120812639206854697526329, 0.949107912342758524526189684047851,
                            0.864864423359769072789712788640926, 0.741531185599394439863864773280788,
                            0.586087235467691130294144845693013, 0.405845151377397166906606412076961,
                            0.207784955007898467600689403773245, 0.000000000000000000000000000000000};
constexpr double kWgk[8] = {0.022935322010529224963732008058970, 0.063092092629978553290700663189204,
                            0.104790010322250183839876322541518, 0.140653259715525918745189590510238,
                            0.169004726639267902826583426598550, 0.190350578064785409913256402421014,
                            0.204432940075298892414161999234649, 0.209482141084727828012999174891714};
constexpr double kWg[4] = {0.129484966168869693270611432679082, 0.279705391489276667901467771423780,
                           0.381830050505118944950369775488975, 0.417959183673469387755102040816327};

template <class F>
void gk15(const F& f, double a, double b, double& result, double& err) {
  const double c = 0.5 * (a + b), h = 0.5 * (b - a);
  const double fc = f(c);
  double rk = fc * kWgk[7], rg = fc * kWg[3];
  for (int j = 0; j < 7; ++j) {
    const double x = h * kXgk[j];
    const double s = f(c - x) + f(c + x);
    rk += kWgk[j] * s;
    if (j % 2 == 1) rg += kWg[j / 2] * s;
  }
  result = rk * h;
  err = std::fabs((rk - rg) * h);
}

// Recursive bisection until the Gauss-Kronrod error estimate is below tol_per_unit * width; a
// budget of GK15 evaluations (shared by all calls) guards against a tolerance that rounding makes
// unreachable.
template <class F>
double integrate_adaptive(const F& f, double a, double b, double tol_per_unit, int& budget) {
  double r, e;
  gk15(f, a, b, r, e);
  --budget;
  if (e <= tol_per_unit * (b - a) || budget <= 0) return r;
  const double m = 0.5 * (a + b);
  return integrate_adaptive(f, a, m, tol_per_unit, budget) +
         integrate_adaptive(f, m, b, tol_per_unit, budget);
}

}  // namespace

double expected_epoch_length_integral(const std::vector<int>& quotas) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  Integrand f;
  int nmax = 0;
  for (int q : quotas) {
    if (q < 0 || q > kMaxIntegralQuota) return nan;
    if (q > 0) f.n.push_back(q);
    nmax = std::max(nmax, q);
  }
  if (f.n.empty()) return 0.0;
  if (static_cast<int>(f.n.size()) > kMaxIntegralClasses) return nan;
  const double k = static_cast<double>(f.n.size());
  f.inv_k = 1.0 / k;

  // Upper bound: past it the integrand (<= sum_c P(Poisson(t/K) < n_c)) is below 1e-20 and falls
  // faster than e^{-t/(2K)}, so the neglected tail is < 1e-18 * K.
  double hi = k * nmax;
  const double step = k * (std::sqrt(static_cast<double>(nmax)) + 1.0);
  while (f(hi) > 1e-20) hi += step;

  // Initial panels so that the transition region is always resolved, then adaptive refinement.
  const int panels = 64;
  const double tol_per_unit = 1e-13;
  int budget = 100000;
  double total = 0;
  for (int i = 0; i < panels; ++i) {
    const double a = hi * i / panels, b = hi * (i + 1) / panels;
    total += integrate_adaptive(f, a, b, tol_per_unit, budget);
  }
  return total;
}

}  // namespace mtfcdd
