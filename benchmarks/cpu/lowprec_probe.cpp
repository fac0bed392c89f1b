// Register-only throughput of the AVX2 multiply-add forms a low-precision
// CPU candidate pass could use, in multiply-adds per second on one core:
// fp32 FMA (the engine today), int16 vpmaddwd, int8 vpmaddubsw + vpmaddwd.
// Build and run: g++ -O3 -mavx2 -mfma benchmarks/cpu/lowprec_probe.cpp -o /tmp/probe && /tmp/probe
#include <immintrin.h>

#include <chrono>
#include <cstdio>

template <class F>
double rate(F body, double macs_per_iter, long iters) {
    body(iters / 10);  // warm-up
    const auto t0 = std::chrono::steady_clock::now();
    body(iters);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return macs_per_iter * iters / s;
}

int main() {
    const long n = 200'000'000;
    volatile float sink_f = 0;
    volatile int sink_i = 0;
    // 12 independent accumulators hide the 4-cycle FMA latency on 2 ports.
    const double fp32 = rate(
        [&](long it) {
            __m256 a[12], b = _mm256_set1_ps(1.0001f), c = _mm256_set1_ps(0.9999f);
            for (auto& v : a) v = _mm256_setzero_ps();
            for (long i = 0; i < it; ++i) {
#pragma GCC unroll 12
                for (int j = 0; j < 12; ++j) a[j] = _mm256_fmadd_ps(b, a[j], c);
            }
            __m256 s = a[0];
            for (int j = 1; j < 12; ++j) s = _mm256_add_ps(s, a[j]);
            sink_f = _mm256_cvtss_f32(s);
        },
        12 * 8, n / 12);
    const double i16 = rate(
        [&](long it) {
            __m256i a[12], b = _mm256_set1_epi16(3), c = _mm256_set1_epi16(5);
            for (auto& v : a) v = _mm256_setzero_si256();
            for (long i = 0; i < it; ++i) {
#pragma GCC unroll 12
                for (int j = 0; j < 12; ++j) a[j] = _mm256_add_epi32(a[j], _mm256_madd_epi16(b, c));
                b = _mm256_add_epi16(b, c);  // keeps the products from being hoisted out of the loop
            }
            __m256i s = a[0];
            for (int j = 1; j < 12; ++j) s = _mm256_add_epi32(s, a[j]);
            sink_i = _mm256_cvtsi256_si32(s);
        },
        12 * 16, n / 12);
    const double i8 = rate(
        [&](long it) {
            __m256i a[12], b = _mm256_set1_epi8(3), c = _mm256_set1_epi8(5), ones = _mm256_set1_epi16(1);
            for (auto& v : a) v = _mm256_setzero_si256();
            for (long i = 0; i < it; ++i) {
#pragma GCC unroll 12
                for (int j = 0; j < 12; ++j)
                    a[j] = _mm256_add_epi32(a[j], _mm256_madd_epi16(_mm256_maddubs_epi16(b, c), ones));
                b = _mm256_add_epi8(b, c);
            }
            __m256i s = a[0];
            for (int j = 1; j < 12; ++j) s = _mm256_add_epi32(s, a[j]);
            sink_i = _mm256_cvtsi256_si32(s);
        },
        12 * 32, n / 12);
    std::printf("multiply-adds per second on one core (register-only loops)\n");
    std::printf("fp32 FMA            %7.1f G/s  1.00x\n", fp32 / 1e9);
    std::printf("int16 vpmaddwd      %7.1f G/s  %.2fx\n", i16 / 1e9, i16 / fp32);
    std::printf("int8 vpmaddubsw+wd  %7.1f G/s  %.2fx\n", i8 / 1e9, i8 / fp32);
    return 0;
}
