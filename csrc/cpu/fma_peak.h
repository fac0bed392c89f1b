// A measuring probe, not part of any engine: the FMA throughput of this CPU,
// against which the benchmarks quote the engine's share of the peak.
#pragma once
#include <cstdint>

namespace hf {

// GFLOP/s of a register-only loop of independent fused multiply-adds on
// n_threads threads (8-wide AVX2 when the CPU has it and avx2 is true).
double fma_peak_gflops(int n_threads, int64_t iterations, bool avx2);

}  // namespace hf
