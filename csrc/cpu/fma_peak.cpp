// The FMA probe of fma_peak.h: one loop body, built for each vector width by
// target attributes, so the file needs no flags of its own.
#include "fma_peak.h"

#include <omp.h>

#include <chrono>

namespace hf {
namespace {

typedef float v8f __attribute__((vector_size(32)));
typedef float v16f __attribute__((vector_size(64)));

constexpr int kChains = 12;  // independent multiply-adds: more than latency (4) x FMA ports (2)

// kChains chains of acc = acc * mul + add, contracted into FMAs by the caller's fp-contract.
template <class V>
__attribute__((always_inline)) inline float fma_chains(int64_t iterations) {
    V acc[kChains];
    for (int r = 0; r < kChains; ++r) acc[r] = V{} + (1.0f + r * 1e-3f);
    const V mul = V{} + 0.999999f, add = V{} + 1e-7f;
    for (int64_t it = 0; it < iterations; ++it) {
#pragma GCC unroll 12
        for (int r = 0; r < kChains; ++r) acc[r] = acc[r] * mul + add;
    }
    float total = 0.f;
    for (int r = 0; r < kChains; ++r) total += acc[r][0];
    return total;
}

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx512f"), optimize("fp-contract=fast"))) float loop_avx512(int64_t iterations) {
    return fma_chains<v16f>(iterations);
}
__attribute__((target("avx2,fma"), optimize("fp-contract=fast"))) float loop_avx2(int64_t iterations) {
    return fma_chains<v8f>(iterations);
}
#endif
__attribute__((optimize("fp-contract=fast"))) float loop_generic(int64_t iterations) {
    return fma_chains<v8f>(iterations);
}

template <class Loop>
double timed(int n_threads, int64_t iterations, int lanes, Loop loop) {
    volatile float sink = 0.f;
    const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(n_threads)
    sink = sink + loop(iterations);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return 2.0 * lanes * kChains * static_cast<double>(iterations) * n_threads / secs / 1e9;
}

}  // namespace

double fma_peak_gflops(int n_threads, int64_t iterations, const std::string& level) {
#if defined(__x86_64__) || defined(__i386__)
    if (level == "avx512") return timed(n_threads, iterations, 16, loop_avx512);
    if (level == "avx2") return timed(n_threads, iterations, 8, loop_avx2);
#endif
    return timed(n_threads, iterations, 8, loop_generic);
}

}  // namespace hf
