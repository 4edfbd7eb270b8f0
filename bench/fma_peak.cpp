#include "fma_peak.hpp"

#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

namespace mtfcdd::bench {
namespace {

using Clock = std::chrono::steady_clock;

// Two FMA ports with a latency of 4 cycles need 8 chains in flight. AVX-512 has 32 vector
// registers: 16 chains leave room. AVX2 has 16, which must also hold m and c: 12 chains, so that
// no chain goes through memory.
constexpr int kChainsAvx512 = 16;
constexpr int kChainsAvx2 = 12;

// x = x * m + c on each chain; the sum is returned so the loop cannot be dropped. m < 1 keeps the
// values finite however long it runs. 1.0 is the map's fixed point, which a compiler that sees
// it folds away (one chain of 16 did), so the chains start elsewhere and the empty asm hides
// their values from the compiler.
__attribute__((target("avx512f"))) float fma_loop_avx512(long iterations) {
  __m512 acc[kChainsAvx512];
  for (int k = 0; k < kChainsAvx512; ++k) {
    acc[k] = _mm512_set1_ps(0.5f * static_cast<float>(k) + 0.25f);
    asm volatile("" : "+v"(acc[k]));
  }
  const __m512 m = _mm512_set1_ps(0.999f), c = _mm512_set1_ps(0.001f);
  for (long i = 0; i < iterations; ++i)
    for (int k = 0; k < kChainsAvx512; ++k) acc[k] = _mm512_fmadd_ps(acc[k], m, c);
  __m512 s = acc[0];
  for (int k = 1; k < kChainsAvx512; ++k) s = _mm512_add_ps(s, acc[k]);
  return _mm512_reduce_add_ps(s);
}

__attribute__((target("avx2,fma"))) float fma_loop_avx2(long iterations) {
  __m256 acc[kChainsAvx2];
  for (int k = 0; k < kChainsAvx2; ++k) {
    acc[k] = _mm256_set1_ps(0.5f * static_cast<float>(k) + 0.25f);
    asm volatile("" : "+v"(acc[k]));
  }
  const __m256 m = _mm256_set1_ps(0.999f), c = _mm256_set1_ps(0.001f);
  for (long i = 0; i < iterations; ++i)
    for (int k = 0; k < kChainsAvx2; ++k) acc[k] = _mm256_fmadd_ps(acc[k], m, c);
  __m256 s = acc[0];
  for (int k = 1; k < kChainsAvx2; ++k) s = _mm256_add_ps(s, acc[k]);
  alignas(32) float v[8];
  _mm256_store_ps(v, s);
  float sum = 0;
  for (float x : v) sum += x;
  return sum;
}

struct Loop {
  const char* isa;
  int lanes, chains;
  float (*run)(long);
};

Loop widest_loop() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return {"AVX-512F vfmadd231ps (zmm, 16 float32 lanes)", 16, kChainsAvx512, fma_loop_avx512};
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    return {"AVX2 FMA3 vfmadd231ps (ymm, 8 float32 lanes)", 8, kChainsAvx2, fma_loop_avx2};
  throw std::runtime_error("this CPU has neither AVX-512F nor AVX2 FMA: no FMA peak to measure");
}

// Seconds for `threads` threads to run `iterations` turns each, started together.
double timed_run(const Loop& loop, int threads, long iterations) {
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<float> sink(threads);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      ready.fetch_add(1);
      while (!go.load()) std::this_thread::yield();
      sink[t] = loop.run(iterations);
    });
  while (ready.load() < threads) std::this_thread::yield();
  const auto t0 = Clock::now();
  go.store(true);
  for (auto& th : pool) th.join();
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  volatile float keep = sink[0];  // the results are used
  (void)keep;
  return s;
}

}  // namespace

FmaPeak fma_peak(int threads, int bursts, double seconds) {
  const Loop loop = widest_loop();
  // Calibrate the turns to about `seconds` on one thread, then run them on all.
  long iterations = 1 << 12;
  while (timed_run(loop, 1, iterations) < seconds / 4) iterations *= 2;
  iterations = static_cast<long>(iterations * seconds / std::max(1e-6, timed_run(loop, 1, iterations)));
  double best = 0;
  for (int r = 0; r < bursts; ++r) {
    const double s = timed_run(loop, threads, iterations);
    const double flops = fma_loop_flops(static_cast<double>(iterations), loop.chains, loop.lanes, threads);
    best = std::max(best, flops / s / 1e9);
  }
  return {loop.isa, threads, bursts, seconds, best};
}

}  // namespace mtfcdd::bench
