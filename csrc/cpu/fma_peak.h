// A measuring probe, not part of any engine: the FMA throughput of this CPU,
// against which the benchmarks quote the engine's share of the peak.
#pragma once
#include <cstdint>
#include <string>

namespace hf {

// GFLOP/s of a register-only loop of independent fused multiply-adds on
// n_threads threads, with the vectors of a kernel level: "avx512" (16 floats),
// "avx2" (8 floats, FMA), anything else the portable build (8 floats, no FMA
// instruction on baseline x86-64). The caller checks the CPU has the level.
double fma_peak_gflops(int n_threads, int64_t iterations, const std::string& level);

}  // namespace hf
