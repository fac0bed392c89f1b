// The FMA probe of fma_peak.h: one loop body, built for AVX2+FMA by a target
// attribute and for the baseline, so the file needs no flags of its own.
#include "fma_peak.h"

#include <omp.h>

#include <chrono>

namespace hf {
namespace {

typedef float v8f __attribute__((vector_size(32)));

constexpr int kChains = 12;  // enough independent FMAs to cover latency x ports

template <class Step>
double timed(int n_threads, int64_t iterations, Step step) {
    volatile float sink = 0.f;
    const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(n_threads)
    sink = sink + step(iterations);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return 2.0 * 8 * kChains * static_cast<double>(iterations) * n_threads / secs / 1e9;
}

#define HF_FMA_LOOP                                                                          \
    v8f acc[kChains];                                                                        \
    for (int r = 0; r < kChains; ++r) acc[r] = v8f{} + (1.0f + r * 1e-3f);                  \
    const v8f mul = v8f{} + 0.999999f, add = v8f{} + 1e-7f;                                  \
    for (int64_t it = 0; it < iterations; ++it) {                                            \
        _Pragma("GCC unroll 12") for (int r = 0; r < kChains; ++r) acc[r] = acc[r] * mul + add; \
    }                                                                                        \
    float total = 0.f;                                                                       \
    for (int r = 0; r < kChains; ++r) total += acc[r][0];                                    \
    return total;

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx2,fma"), optimize("fp-contract=fast"))) float loop_avx2(int64_t iterations) { HF_FMA_LOOP }
#endif
__attribute__((optimize("fp-contract=fast"))) float loop_generic(int64_t iterations) { HF_FMA_LOOP }

#undef HF_FMA_LOOP

}  // namespace

double fma_peak_gflops(int n_threads, int64_t iterations, bool avx2) {
#if defined(__x86_64__) || defined(__i386__)
    if (avx2) return timed(n_threads, iterations, loop_avx2);
#endif
    (void)avx2;
    return timed(n_threads, iterations, loop_generic);
}

}  // namespace hf
