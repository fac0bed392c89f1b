// Centring, scaling and the bf16 or int8 split of the AMX pass's operands (amx.h).
// Portable code: the layouts need no AMX instruction, and the reference reads
// the same packs as the tiles.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "../common/knobs.h"
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


// The int8x4 split of one point (amx.h): v as in split_row_impl, then sigma =
// 2^e, the least power of two with max |v_c| <= 127 sigma (e >= kInt8MinExp:
// a row that small quantizes to zeros and keeps all of itself in res), q1 =
// round(v / sigma), q2 = round((v - sigma q1) 2^8 / sigma) clamped to
// [-127, 127], res = v - sigma (q1 + 2^-8 q2) (both differences exact). Norms
// into out[0..4) as split_row; returns sigma. v_buf: 2 d doubles of scratch.
constexpr int kInt8MinExp = -60;  // sigma_i sigma_j >= 2^-120 stays a normal fp32

template <class T>
__attribute__((always_inline)) inline double split_row_int8_impl(const T* x, double row_scale, int64_t d,
                                                                 const double* centre, double scale, int64_t d_pad,
                                                                 int8_t* hi, int8_t* mid, double* v_buf, double* out) {
    double largest = 0;
#pragma omp simd reduction(max : largest)
    for (int64_t c = 0; c < d; ++c) {
        v_buf[c] = (static_cast<double>(x[c]) * row_scale - centre[c]) * scale;
        largest = std::max(largest, std::fabs(v_buf[c]));
    }
    int e = kInt8MinExp;
    if (largest > 127 * std::ldexp(1.0, e)) {
        std::frexp(largest / 127, &e);  // largest / 127 < 2^e, up to the division's rounding
        while (127 * std::ldexp(1.0, e - 1) >= largest) --e;
        while (127 * std::ldexp(1.0, e) < largest) ++e;
    }
    const double sigma = std::ldexp(1.0, e), inv = std::ldexp(1.0, -e), inv_mid = std::ldexp(1.0, 8 - e),
                 step = std::ldexp(1.0, e - 8);
    // Rounding to the nearest integer (ties to even) by adding and taking away 1.5 * 2^52: exact for
    // |t| < 2^51 (here |t| <= 128) and, unlike std::nearbyint, vectorised (-ffp-contract=off keeps it apart).
    constexpr double kRound = 0x1.8p52;
    double alpha = 0, nh = 0, nm = 0, nr = 0;
#pragma omp simd reduction(+ : alpha, nh, nm, nr)
    for (int64_t c = 0; c < d; ++c) {
        const double v = v_buf[c];
        const double q1 = (v * inv + kRound) - kRound, r1 = v - q1 * sigma;
        double q2 = (r1 * inv_mid + kRound) - kRound;
        q2 = q2 > 127.0 ? 127.0 : (q2 < -127.0 ? -127.0 : q2);  // spelled out: std::min / max stay scalar in the clone
        const double r = r1 - q2 * step;
        alpha += v * v;
        nh += q1 * q1;
        nm += q2 * q2;
        nr += r * r;
        v_buf[c] = q1;
        v_buf[d + c] = q2;
    }
    // Apart from the sums: GCC vectorises the narrowing to int8 on its own only.
#pragma omp simd
    for (int64_t c = 0; c < d; ++c) {
        hi[c] = static_cast<int8_t>(static_cast<int32_t>(v_buf[c]));
        mid[c] = static_cast<int8_t>(static_cast<int32_t>(v_buf[d + c]));
    }
    for (int64_t c = d; c < d_pad; ++c) hi[c] = mid[c] = 0;
    out[0] = alpha;
    out[1] = nh * sigma * sigma;
    out[2] = nm * step * step;
    out[3] = nr;
    return sigma;
}

HF_SPLIT_CLONES double split_row_int8(const float* x, double row_scale, int64_t d, const double* centre, double scale,
                                      int64_t d_pad, int8_t* hi, int8_t* mid, double* v_buf, double* out) {
    return split_row_int8_impl(x, row_scale, d, centre, scale, d_pad, hi, mid, v_buf, out);
}
HF_SPLIT_CLONES double split_row_int8(const double* x, double row_scale, int64_t d, const double* centre, double scale,
                                      int64_t d_pad, int8_t* hi, int8_t* mid, double* v_buf, double* out) {
    return split_row_int8_impl(x, row_scale, d, centre, scale, d_pad, hi, mid, v_buf, out);
}

// One tile's 16 points (rows of `src`, dp values of `bytes` each, row after
// row) into both layouts of one part, chunk by chunk, each tile written in
// order: A rows of 64 bytes; B rows of VNNI groups (4 bytes: 2 bf16 or 4 int8).
void write_tile(const uint8_t* src, int64_t dp_bytes, int64_t nch, int64_t tile, uint16_t* a, uint16_t* b) {
    for (int64_t c = 0; c < nch; ++c) {
        const int64_t base = (tile * nch + c) * kAmxTile * 2;  // bytes
        const uint8_t* chunk = src + c * 64;
        if (a) {
            uint8_t* dst = reinterpret_cast<uint8_t*>(a) + base;
            for (int r = 0; r < 16; ++r) std::memcpy(dst + r * 64, chunk + r * dp_bytes, 64);
        }
        if (b) {  // the 4-byte group g of point r at row g, bytes 4r .. 4r + 3
            uint8_t* dst = reinterpret_cast<uint8_t*>(b) + base;
            for (int g = 0; g < 16; ++g)
                for (int r = 0; r < 16; ++r, dst += 4) std::memcpy(dst, chunk + r * dp_bytes + 4 * g, 4);
        }
    }
}

}  // namespace

// What a row's values are multiplied by before centring: 1/|x| for cosine (its
// rows are compared normalised), 1 otherwise.
template <class T>
inline double row_scale(const Side<T>& s, int64_t i) {
    return s.inv_norm.empty() ? 1.0 : s.inv_norm[i];
}

template <class T>
AmxTransform amx_transform(const Side<T>& db, const Side<T>* queries, int64_t d, int threads, bool dot,
                           AmxScheme scheme) {
    AmxTransform t;
    t.dot = dot;
    t.scheme = scheme;
    t.centre = dot ? std::vector<double>(d, 0.0) : column_sums(db, d, threads);
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
    const bool int8 = t.scheme == AmxScheme::Int8x4;
    AmxSide p;
    p.n = s.n;
    p.n_pad = (s.n + kAmxStrip - 1) / kAmxStrip * kAmxStrip;
    p.scheme = t.scheme;
    p.d_pad = amx_d_pad(d, t.scheme);
    p.nch = p.d_pad / amx_chunk(t.scheme);
    p.scale = t.scale;
    const size_t words = static_cast<size_t>(p.n_pad) * p.nch * (kAmxTile / 16);  // 32 words (64 bytes) per point and chunk
    for (int part = 0; part < 2; ++part) {
        if (a_layout) p.a[part] = bf16_buffer(words);
        if (b_layout) p.b[part] = bf16_buffer(words);
    }
    p.offset.assign(p.n_pad + TopKSet::kThrPad, std::numeric_limits<float>::quiet_NaN());
    if (int8) p.sigma.assign(p.n_pad + TopKSet::kThrPad, 1.f);
    p.stats.assign(p.n, AmxStats{});
    const int64_t nch = p.nch;
    const int64_t dp = p.d_pad;
    const int64_t dp_bytes = int8 ? dp : 2 * dp;
#pragma omp parallel num_threads(threads)
    {
        // The parts of one tile's 16 points, row after row: each tile of either layout is then written in order.
        std::vector<uint8_t> hi(16 * dp_bytes), mid(16 * dp_bytes);
        std::vector<double> v_buf(int8 ? 2 * d : 0);
#pragma omp for schedule(static)
        for (int64_t tile = 0; tile < p.n_pad / 16; ++tile) {
            for (int r = 0; r < 16; ++r) {
                const int64_t i = tile * 16 + r;
                double norms[4];
                const bool point = i < s.n;  // padding rows are zeros
                const T* x = s.x + (point ? i : 0) * d;
                const double rs = point ? row_scale(s, i) : 1.0;
                const int64_t dd = point ? d : 0;
                if (int8) {
                    const double sigma = split_row_int8(x, rs, dd, t.centre.data(), t.scale, dp,
                                                        reinterpret_cast<int8_t*>(&hi[r * dp_bytes]),
                                                        reinterpret_cast<int8_t*>(&mid[r * dp_bytes]), v_buf.data(), norms);
                    if (point) p.sigma[i] = static_cast<float>(sigma);  // a power of two in [2^-60, 2^11]: exact
                } else {
                    split_row(x, rs, dd, t.centre.data(), t.scale, dp, reinterpret_cast<uint16_t*>(&hi[r * dp_bytes]),
                              reinterpret_cast<uint16_t*>(&mid[r * dp_bytes]), norms);
                }
                if (point) {
                    p.stats[i] = {norms[0], std::sqrt(norms[0]), std::sqrt(norms[1]), std::sqrt(norms[2]),
                                  std::sqrt(norms[3])};
                    p.offset[i] = t.dot ? 0.f : static_cast<float>(norms[0]);
                }
            }
            for (int part = 0; part < 2; ++part)
                write_tile(part == 0 ? hi.data() : mid.data(), dp_bytes, nch, tile, a_layout ? p.a[part].get() : nullptr,
                           b_layout ? p.b[part].get() : nullptr);
        }
    }
    for (const AmxStats& st : p.stats) p.max_stats = max_stats(p.max_stats, st);
    return p;
}

template <class T>
bool amx_pack_database(const Side<T>& s, int64_t d, AmxTransform& t, bool a_layout, int threads,
                       int64_t point_layouts, AmxSide& out) {
    out = amx_pack(s, d, t, a_layout, true, threads);
    if (t.scheme != AmxScheme::Int8x4 || amx_keep_int8(out)) return true;
    t.scheme = AmxScheme::Bf16x3;
    out = AmxSide();  // the int8 parts go before bf16x3's come
    if (point_layouts * amx_part_bytes(d, t.scheme) > kAmxMaxPackBytes) return false;
    out = amx_pack(s, d, t, a_layout, true, threads);
    return true;
}

AmxScheme amx_scheme_for(int64_t d) {
    const int64_t d_pad = amx_d_pad(d, AmxScheme::Int8x4);
    if (d_pad > kInt8x4MaxDepth) return AmxScheme::Bf16x3;
    // HUBNESS_FAST_AMX_SCHEME, as the binding read it (knobs.h).
    if (knobs::amx_force() != knobs::AmxForce::None)
        return knobs::amx_force() == knobs::AmxForce::Int8x4 ? AmxScheme::Int8x4 : AmxScheme::Bf16x3;
    return d_pad >= kInt8x4MinDepth ? AmxScheme::Int8x4 : AmxScheme::Bf16x3;
}

bool amx_keep_int8(const AmxSide& db) {
    constexpr double kRatio = 4;  // measured: 2.6-3.1x on Gaussian, ReLU and mapping-network data; 9x on features scaled e^N(0,1)
    if (knobs::amx_force() != knobs::AmxForce::None || db.n == 0) return true;
    const AmxBound int8 = amx_bound(db), bf16 = AmxBound::bf16x3(amx_d_pad(db.d_pad, AmxScheme::Bf16x3));
    // bf16x3's parts from a norm: hi about |a|, mid and res about 2^-9 and 2^-17 of it (rounding to 8 bits, twice).
    auto bf16_like = [](const AmxStats& st) {
        return AmxStats{st.alpha, st.norm, st.norm, st.norm * 0x1p-9, st.norm * 0x1p-17};
    };
    const AmxStats bf16_max = bf16_like(db.max_stats);
    const int64_t step = std::max<int64_t>(1, db.n / 257);
    int64_t rows = 0, loose = 0;
    for (int64_t i = 0; i < db.n; i += step, ++rows)
        loose += int8.key(db.stats[i], db.max_stats) > kRatio * bf16.key(bf16_like(db.stats[i]), bf16_max);
    return 2 * loose < rows;
}

template AmxTransform amx_transform<float>(const Side<float>&, const Side<float>*, int64_t, int, bool, AmxScheme);
template AmxTransform amx_transform<double>(const Side<double>&, const Side<double>*, int64_t, int, bool, AmxScheme);
template AmxSide amx_pack<float>(const Side<float>&, int64_t, const AmxTransform&, bool, bool, int);
template AmxSide amx_pack<double>(const Side<double>&, int64_t, const AmxTransform&, bool, bool, int);
template bool amx_pack_database<float>(const Side<float>&, int64_t, AmxTransform&, bool, int, int64_t, AmxSide&);
template bool amx_pack_database<double>(const Side<double>&, int64_t, AmxTransform&, bool, int, int64_t, AmxSide&);

}  // namespace hf
