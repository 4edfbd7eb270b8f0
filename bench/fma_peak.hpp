// The machine's physical float32 peak: a loop of fused multiply-adds on registers only (no
// memory traffic), on independent accumulators so that no FMA waits for another, on every
// thread at once. It is what the FMA units can do; a real kernel gets a fraction of it.
#pragma once

#include <string>

namespace mtfcdd::bench {

struct FmaPeak {
  std::string isa;  // the instructions the loop used, e.g. "AVX-512F vfmadd (zmm)"
  int threads = 0;
  int bursts = 0;
  double seconds = 0;  // of one burst
  double gflops = 0;   // the best burst, all threads together
};

// FLOPs of `iterations` loop turns per thread: each FMA is a multiply and an add on every lane.
constexpr double fma_loop_flops(double iterations, int accumulators, int lanes, int threads) {
  return iterations * accumulators * lanes * 2.0 * threads;
}

// The widest FMA this CPU has (AVX-512F, else AVX2 FMA); throws std::runtime_error on a CPU
// with neither. Best of `bursts` runs of about `seconds` each: short bursts, many of them, so
// that on cores other processes share some burst runs while they are off the cores.
FmaPeak fma_peak(int threads, int bursts = 200, double seconds = 0.002);

}  // namespace mtfcdd::bench
