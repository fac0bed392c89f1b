// Centring, scaling and the bf16 split of the AMX pass's operands (amx.h).
// Portable code: the layouts need no AMX instruction, and the reference reads
// the same packs as the tiles.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "amx.h"

namespace hf {
namespace {

// v rounded to 8 significant bits, to nearest even, on the double's bits (no
// double rounding through fp32), flushed to signed zero below 2^-126 (tdpbf16ps
// reads denormal inputs as zero: none is ever fed to it). |v| < 2^17 here.
inline double round_bf16(double v) {
    uint64_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    constexpr int kDrop = 52 - 7;  // stored significand bits of a double minus those of a bf16
    bits += ((uint64_t{1} << (kDrop - 1)) - 1) + ((bits >> kDrop) & 1);  // ties to even; a carry bumps the exponent
    bits &= ~((uint64_t{1} << kDrop) - 1);
    double r;
    std::memcpy(&r, &bits, sizeof r);
    return std::fabs(r) < kFp32MinNormal ? std::copysign(0.0, v) : r;
}

// The bf16 bit pattern of a double that is exactly a bf16 value (or zero).
inline uint16_t bf16_bits(double exact) {
    const float f = static_cast<float>(exact);  // exact
    uint32_t bits;
    std::memcpy(&bits, &f, sizeof bits);
    return static_cast<uint16_t>(bits >> 16);
}

Bf16Buffer bf16_buffer(size_t n) {
    void* p = std::aligned_alloc(64, (n * sizeof(uint16_t) + 63) / 64 * 64);
    if (!p) throw std::bad_alloc();
    return Bf16Buffer(static_cast<uint16_t*>(p));
}

// One point's d features, centred and scaled (v = fl64(x - c) * s: one
// rounding, 2^-53 relative; the power of two scales exactly; cosine rows are
// normalised first, x = fl64(x_raw * row_scale), one rounding more), zero-padded to
// d_pad and split into hi and mid parts; its norms (squared norm, part norms,
// residual norm) into out[0..4). The sums are reduced in lanes (#pragma omp
// simd): any order is within the bound's float64 allowance.
template <class T>
__attribute__((always_inline)) inline void split_row_impl(const T* x, double row_scale, int64_t d, const double* centre,
                                                          double scale, int64_t d_pad, uint16_t* hi, uint16_t* mid,
                                                          double* out) {
    double alpha = 0, nh = 0, nm = 0, nr = 0;
#pragma omp simd reduction(+ : alpha, nh, nm, nr)
    for (int64_t c = 0; c < d; ++c) {
        const double v = (static_cast<double>(x[c]) * row_scale - centre[c]) * scale;  // row_scale 1: exact
        const double h = round_bf16(v), m = round_bf16(v - h), r = (v - h) - m;  // both differences exact
        alpha += v * v;
        nh += h * h;
        nm += m * m;
        nr += r * r;
        hi[c] = bf16_bits(h);
        mid[c] = bf16_bits(m);
    }
    for (int64_t c = d; c < d_pad; ++c) hi[c] = mid[c] = 0;
    out[0] = alpha;
    out[1] = nh;
    out[2] = nm;
    out[3] = nr;
}

// Cloned for AVX-512 where the CPU has it (same results: every step is exact
// or one IEEE operation, and -ffp-contract=off forbids fusing).
#if defined(__x86_64__) && defined(__linux__)
#define HF_SPLIT_CLONES __attribute__((target_clones("arch=x86-64-v4", "default")))
#else
#define HF_SPLIT_CLONES
#endif
HF_SPLIT_CLONES void split_row(const float* x, double row_scale, int64_t d, const double* centre, double scale, int64_t d_pad,
                               uint16_t* hi, uint16_t* mid, double* out) {
    split_row_impl(x, row_scale, d, centre, scale, d_pad, hi, mid, out);
}
HF_SPLIT_CLONES void split_row(const double* x, double row_scale, int64_t d, const double* centre, double scale, int64_t d_pad,
                               uint16_t* hi, uint16_t* mid, double* out) {
    split_row_impl(x, row_scale, d, centre, scale, d_pad, hi, mid, out);
}

}  // namespace

// What a row's values are multiplied by before centring: 1/|x| for cosine (its
// rows are compared normalised), 1 otherwise.
template <class T>
inline double row_scale(const Side<T>& s, int64_t i) {
    return s.inv_norm.empty() ? 1.0 : s.inv_norm[i];
}

template <class T>
AmxTransform amx_transform(const Side<T>& db, const Side<T>* queries, int64_t d, int threads, bool dot) {
    AmxTransform t;
    t.dot = dot;
    t.centre.assign(d, 0.0);
    if (!dot) {
#pragma omp parallel num_threads(threads)
        {
            std::vector<double> part(d, 0.0);
#pragma omp for schedule(static)
            for (int64_t i = 0; i < db.n; ++i)
                for (int64_t c = 0; c < d; ++c) part[c] += static_cast<double>(db.x[i * d + c]) * row_scale(db, i);
#pragma omp critical(hf_amx_centre)
            for (int64_t c = 0; c < d; ++c) t.centre[c] += part[c];
        }
    }
    // Any shared centre keeps distances exact; its rounding (and the order of the sums above) does not matter.
    double centre2 = 0;
    for (int64_t c = 0; c < d && !dot; ++c) {
        t.centre[c] /= static_cast<double>(db.n);
        centre2 += t.centre[c] * t.centre[c];
    }
    // |x - c| <= |x| + |c| bounds every centred norm without another pass (the
    // squared norms come from Side::stat; 1 for cosine's normalised rows). s = 2^e puts that bound's square in
    // [2^29, 2^32): parts stay below 2^16.1 and sums below 2^35 (no overflow),
    // and a smaller actual norm (data far from the origin, centred) only makes
    // the flush of parts below 2^-126 relatively larger, still far under the
    // bound's absolute term. A power of two scales exactly.
    // Side::stat is |x| for inner products (their norms), |x|^2 otherwise.
    auto squared = [dot](double stat) { return dot ? stat * stat : stat; };
    double largest = squared(db.max_stat);
    if (queries) largest = std::max(largest, squared(queries->max_stat));
    largest = std::pow(std::sqrt(largest) + std::sqrt(centre2), 2);
    int e = 0;
    if (largest > 0) {
        int ex;
        std::frexp(largest, &ex);  // largest in [2^(ex-1), 2^ex)
        const int twice = kBf16x3Log2MaxNorm2 - ex;
        e = twice >= 0 ? twice / 2 : -((-twice + 1) / 2);  // floor(twice / 2): ex + 2e in {31, 32}
    }
    t.scale = std::ldexp(1.0, e);
    return t;
}

template <class T>
AmxSide amx_pack(const Side<T>& s, int64_t d, const AmxTransform& t, bool a_layout, bool b_layout, int threads) {
    AmxSide p;
    p.n = s.n;
    p.n_pad = (s.n + kAmxStrip - 1) / kAmxStrip * kAmxStrip;
    p.d_pad = (d + kAmxChunk - 1) / kAmxChunk * kAmxChunk;
    p.nch = p.d_pad / kAmxChunk;
    p.scale = t.scale;
    const size_t elems = static_cast<size_t>(p.n_pad) * p.d_pad;
    for (int part = 0; part < 2; ++part) {
        if (a_layout) p.a[part] = bf16_buffer(elems);
        if (b_layout) p.b[part] = bf16_buffer(elems);
    }
    p.offset.assign(p.n_pad + TopKSet::kThrPad, std::numeric_limits<float>::quiet_NaN());
    p.stats.assign(p.n, Bf16x3Stats{});
    const int64_t nch = p.nch;
    const int64_t dp = p.d_pad;
#pragma omp parallel num_threads(threads)
    {
        // The parts of one tile's 16 points, row after row: each tile of either layout is then written in order.
        std::vector<uint16_t> hi(16 * dp), mid(16 * dp);
#pragma omp for schedule(static)
        for (int64_t tile = 0; tile < p.n_pad / 16; ++tile) {
            for (int r = 0; r < 16; ++r) {
                const int64_t i = tile * 16 + r;
                double norms[4];
                const bool point = i < s.n;  // padding rows are zeros
                split_row(s.x + (point ? i : 0) * d, point ? row_scale(s, i) : 1.0, point ? d : 0, t.centre.data(),
                          t.scale, dp, &hi[r * dp], &mid[r * dp], norms);
                if (point) {
                    p.stats[i] = {norms[0], std::sqrt(norms[0]), std::sqrt(norms[1]), std::sqrt(norms[2]),
                                  std::sqrt(norms[3])};
                    p.offset[i] = t.dot ? 0.f : static_cast<float>(norms[0]);
                }
            }
            for (int part = 0; part < 2; ++part) {
                const uint16_t* src = part == 0 ? hi.data() : mid.data();
                for (int64_t c = 0; c < nch; ++c) {
                    const int64_t base = (tile * nch + c) * kAmxTile;
                    if (a_layout)
                        for (int r = 0; r < 16; ++r)
                            std::memcpy(&p.a[part][base + r * kAmxChunk], src + r * dp + c * kAmxChunk,
                                        kAmxChunk * sizeof(uint16_t));
                    if (b_layout) {  // VNNI: features (2e, 2e + 1) of point r at row e, columns 2r, 2r + 1
                        uint16_t* dst = &p.b[part][base];
                        for (int e = 0; e < kAmxChunk; e += 2)
                            for (int r = 0; r < 16; ++r, dst += 2)
                                std::memcpy(dst, src + r * dp + c * kAmxChunk + e, 2 * sizeof(uint16_t));
                    }
                }
            }
        }
    }
    for (const Bf16x3Stats& st : p.stats) p.max_stats = max_stats(p.max_stats, st);
    return p;
}

template AmxTransform amx_transform<float>(const Side<float>&, const Side<float>*, int64_t, int, bool);
template AmxTransform amx_transform<double>(const Side<double>&, const Side<double>*, int64_t, int, bool);
template AmxSide amx_pack<float>(const Side<float>&, int64_t, const AmxTransform&, bool, bool, int);
template AmxSide amx_pack<double>(const Side<double>&, int64_t, const AmxTransform&, bool, bool, int);

}  // namespace hf
