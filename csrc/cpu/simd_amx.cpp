// The AMX build of the candidate pass (amx.h): bf16x3 tile products with
// tdpbf16ps and the key fold in AVX-512. This file alone is compiled with
// -mamx-tile -mamx-bf16 and the AVX-512 flags; never with -ffast-math (its
// flush-to-zero would change the key assembly the bound covers, and NaN
// padding must stay NaN).
//
// Micro-kernel: a 32 x 32 block of dot products as 2 x 2 fp32 tiles (tmm0-3),
// A tiles tmm4/5 (16 rows x 32 bf16), B tiles tmm6/7 (16 VNNI pair rows x 16
// columns): per chunk of 32 features, 4 tile loads and 4 tdpbf16ps. The three
// products run one after the other over the whole depth, smallest first
// (hi*mid, mid*hi, then hi*hi), so the large hi*hi terms go through at most
// d_pad roundings (Bf16x3Bound).
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstring>

#include "amx.h"
#include "amx_walk.h"

#if defined(__FAST_MATH__)
#error "the AMX fold relies on IEEE arithmetic and NaN padding: build without -ffast-math"
#endif

namespace hf {
namespace {

// Tile configuration (palette 1): the layout of LDTILECFG's 64-byte operand.
struct alignas(64) TileConfig {
    uint8_t palette = 1;
    uint8_t start_row = 0;
    uint8_t reserved[14] = {};
    uint16_t colsb[16] = {};
    uint8_t rows[16] = {};
};

// Every tile 16 rows x 64 bytes. The configuration is per-thread state:
// each OpenMP thread loads it before its first tile instruction.
void configure_tiles() {
    TileConfig cfg;
    for (int t = 0; t < 8; ++t) {
        cfg.colsb[t] = 64;
        cfg.rows[t] = 16;
    }
    // Not _tile_loadconfig: GCC 12's version tells the compiler it reads 8 bytes
    // only, so the stores above may be dropped; this operand is the whole struct.
    __asm__ volatile("ldtilecfg %0" : : "m"(cfg));
}

void release_tiles() { _tile_release(); }

constexpr int kStride = 64;  // bytes per tile row, in memory as in the tiles

// Accumulators 0..3 (the 2 x 2 tiles of a 32 x 32 block) += one product's depth chunks [k0, k1):
// A tiles a0, a1 (rows 0-15, 16-31) times B tiles b0, b1 (columns 0-15, 16-31).
__attribute__((always_inline)) inline void accumulate_chunks(const uint16_t* a0, const uint16_t* a1,
                                                             const uint16_t* b0, const uint16_t* b1, int64_t k0,
                                                             int64_t k1) {
    for (int64_t ch = k0; ch < k1; ++ch) {
        const int64_t o = ch * kAmxTile;
        _tile_loadd(4, a0 + o, kStride);
        _tile_loadd(6, b0 + o, kStride);
        _tile_dpbf16ps(0, 4, 6);
        _tile_loadd(7, b1 + o, kStride);
        _tile_dpbf16ps(1, 4, 7);
        _tile_loadd(5, a1 + o, kStride);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
    }
}

// The four accumulators to c (32 x 32 floats, row stride 32).
__attribute__((always_inline)) inline void store_accumulators(float* c) {
    _tile_stored(0, c, 128);
    _tile_stored(1, c + 16, 128);
    _tile_stored(2, c + 512, 128);
    _tile_stored(3, c + 528, 128);
}

// C (32 x 32, row stride 32) = the bf16x3 dot products of strip si of a (A layout) and strip sj of b (B layout).
inline void strip_product(const AmxSide& a, int64_t si, const AmxSide& b, int64_t sj, float* c) {
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    const int64_t nch = a.nch;
    static constexpr int kPa[3] = {0, 1, 0}, kPb[3] = {1, 0, 0};  // hi*mid, mid*hi, hi*hi
    for (int q = 0; q < 3; ++q) {
        const uint16_t *a0 = a.a_tile(kPa[q], 2 * si), *a1 = a.a_tile(kPa[q], 2 * si + 1);
        const uint16_t *b0 = b.b_tile(kPb[q], 2 * sj), *b1 = b.b_tile(kPb[q], 2 * sj + 1);
        accumulate_chunks(a0, a1, b0, b1, 0, nch);
    }
    store_accumulators(c);
}

constexpr int kDepthChunks = 8;  // chunks per depth slice of strip_products: 2 x 8 KiB of A parts stay in L1

// strip_product for row strip si against `count` column strips from sj, for
// depths above kDepthChunks chunks: each product runs slice by slice of the
// depth (the A tiles of a slice are read from L1 for every column strip, the B
// tiles stream from L2), the accumulators go to c between slices. The order of
// the additions into each accumulator is strip_product's (stores and loads of
// fp32 tiles are exact), so the bound is the same.
inline void strip_products(const AmxSide& a, int64_t si, const AmxSide& b, int64_t sj, int count,
                           float (*c)[kAmxStrip * kAmxStrip]) {
    const int64_t nch = a.nch;
    if (nch <= kDepthChunks) {
        for (int t = 0; t < count; ++t) strip_product(a, si, b, sj + t, c[t]);
        return;
    }
    static constexpr int kPa[3] = {0, 1, 0}, kPb[3] = {1, 0, 0};  // hi*mid, mid*hi, hi*hi
    for (int q = 0; q < 3; ++q) {
        const uint16_t *a0 = a.a_tile(kPa[q], 2 * si), *a1 = a.a_tile(kPa[q], 2 * si + 1);
        for (int64_t k0 = 0; k0 < nch; k0 += kDepthChunks) {
            const int64_t k1 = std::min(nch, k0 + kDepthChunks);
            for (int t = 0; t < count; ++t) {
                float* ct = c[t];
                if (q == 0 && k0 == 0) {
                    _tile_zero(0);
                    _tile_zero(1);
                    _tile_zero(2);
                    _tile_zero(3);
                } else {
                    _tile_loadd(0, ct, 128);
                    _tile_loadd(1, ct + 16, 128);
                    _tile_loadd(2, ct + 512, 128);
                    _tile_loadd(3, ct + 528, 128);
                }
                const uint16_t *b0 = b.b_tile(kPb[q], 2 * (sj + t)), *b1 = b.b_tile(kPb[q], 2 * (sj + t) + 1);
                accumulate_chunks(a0, a1, b0, b1, k0, k1);
                store_accumulators(ct);
            }
        }
    }
}

// key = fl(fl(alpha_i + beta_j) - 2 c): one add, one fused negative multiply-add.
inline __m512 key_of(__m512 alpha, __m512 beta, const float* c) {
    return _mm512_fnmadd_ps(_mm512_load_ps(c), _mm512_set1_ps(2.f), _mm512_add_ps(alpha, beta));
}

// max(a, b) lane by lane (_mm512_max_ps draws a false -Wmaybe-uninitialized from GCC 12).
inline __m512 vmax(__m512 a, __m512 b) { return _mm512_mask_max_ps(a, 0xffff, a, b); }

// Folds a strip pair's keys into the candidate lists: every key is compared
// with its row's threshold (Rows) and / or its column's (Cols) in registers;
// only strips with a hit (rare once the lists fill) go through the lists, the
// key recomputed the same way (one add, one fused multiply-add: the same bits).
template <bool Rows, bool Cols>
void fold_strip(const AmxPair& p, const float* c, int64_t gi0, int64_t gj0, int diag) {
    const float* beta = p.b->offset.data() + gj0;  // NaN past the last point
    const __m512 b0 = _mm512_loadu_ps(beta), b1 = _mm512_loadu_ps(beta + 16);
    __m512 c0 = b0, c1 = b1;
    if (Cols) {
        c0 = _mm512_loadu_ps(p.cols->thr() + gj0);  // thr() is padded past the end
        c1 = _mm512_loadu_ps(p.cols->thr() + gj0 + 16);
    }
    const float* rthr = Rows ? p.rows->thr() + gi0 : nullptr;
    const float* alpha = p.a->offset.data() + gi0;
    uint32_t hits[kAmxStrip];
    uint32_t any = 0;
    for (int r = 0; r < kAmxStrip; ++r) {
        const __m512 al = _mm512_set1_ps(alpha[r]);
        const __m512 k0 = key_of(al, b0, c + r * 32), k1 = key_of(al, b1, c + r * 32 + 16);
        __m512 l0 = c0, l1 = c1;
        if (Rows) {
            const __m512 tr = _mm512_set1_ps(rthr[r]);
            l0 = Cols ? vmax(tr, c0) : tr;
            l1 = Cols ? vmax(tr, c1) : tr;
        }
        uint32_t h = static_cast<uint32_t>(_mm512_cmp_ps_mask(k0, l0, _CMP_LE_OQ)) |
                     (static_cast<uint32_t>(_mm512_cmp_ps_mask(k1, l1, _CMP_LE_OQ)) << 16);
        if (diag) h &= amx_diag_columns(diag, r);
        hits[r] = h;
        any |= h;
    }
    if (!any) return;
    for (int r = 0; r < kAmxStrip; ++r)
        for (uint32_t h = hits[r]; h; h &= h - 1) {
            const int col = __builtin_ctz(h);
            const float key = __builtin_fmaf(-2.f, c[r * 32 + col], alpha[r] + beta[col]);
            amx_offer(p, gi0 + r, gj0 + col, key);
        }
}

void pair_tiles(const AmxPair& p) {
    amx_walk(p,
             [&](int64_t si, int64_t sj, int count, float (*c)[kAmxStrip * kAmxStrip]) {
                 strip_products(*p.a, si, *p.b, sj, count, c);
             },
             [&, fold = p.rows ? (p.cols ? fold_strip<true, true> : fold_strip<true, false>) : fold_strip<false, true>](
                 const float* c, int64_t gi0, int64_t gj0, int diag) { fold(p, c, gi0, gj0, diag); });
}

void block_keys_tiles(const AmxPair& p, float* keys, int ldk) {
    amx_walk(p,
             [&](int64_t si, int64_t sj, int count, float (*c)[kAmxStrip * kAmxStrip]) {
                 strip_products(*p.a, si, *p.b, sj, count, c);
             },
             [&](const float* c, int64_t gi0, int64_t gj0, int) {
                 const float* beta = p.b->offset.data() + gj0;
                 const __m512 b0 = _mm512_loadu_ps(beta), b1 = _mm512_loadu_ps(beta + 16);
                 float* out = keys + (gi0 - p.r0) * ldk + (gj0 - p.c0);
                 for (int r = 0; r < kAmxStrip; ++r, out += ldk) {
                     const __m512 al = _mm512_set1_ps(p.a->offset[gi0 + r]);
                     _mm512_storeu_ps(out, key_of(al, b0, c + r * 32));
                     _mm512_storeu_ps(out + 16, key_of(al, b1, c + r * 32 + 16));
                 }
             });
}

}  // namespace

bool amx_built() { return true; }

const AmxPass& amx_pass_tiles() {
    static const AmxPass pass{"amx", configure_tiles, release_tiles, pair_tiles, block_keys_tiles};
    return pass;
}

void amx_keys_tiles(const AmxSide& a, const AmxSide& b, float* out) {
    configure_tiles();
    alignas(64) float c[kAmxStrip * kAmxStrip], keys[32];
    for (int64_t si = 0; si < a.n_pad / kAmxStrip; ++si)
        for (int64_t sj = 0; sj < b.n_pad / kAmxStrip; ++sj) {
            strip_product(a, si, b, sj, c);
            for (int r = 0; r < kAmxStrip; ++r) {
                const int64_t i = si * kAmxStrip + r;
                if (i >= a.n) break;
                const __m512 al = _mm512_set1_ps(a.offset[i]);
                const float* beta = b.offset.data() + sj * kAmxStrip;
                _mm512_storeu_ps(keys, key_of(al, _mm512_loadu_ps(beta), c + r * 32));
                _mm512_storeu_ps(keys + 16, key_of(al, _mm512_loadu_ps(beta + 16), c + r * 32 + 16));
                for (int col = 0; col < kAmxStrip && sj * kAmxStrip + col < b.n; ++col)
                    out[i * b.n + sj * kAmxStrip + col] = keys[col];
            }
        }
    release_tiles();
}

double amx_peak_gflops(int n_threads, int64_t iterations) {
    volatile float sink = 0.f;
    const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(n_threads)
    {
        configure_tiles();
        alignas(64) static const uint16_t ones[kAmxTile] = {};  // zeros: the unit's speed does not depend on values
        alignas(64) float out[16 * 16];
        _tile_loadd(4, ones, kStride);
        _tile_loadd(5, ones, kStride);
        _tile_loadd(6, ones, kStride);
        _tile_loadd(7, ones, kStride);
        _tile_zero(0);
        _tile_zero(1);
        _tile_zero(2);
        _tile_zero(3);
        for (int64_t it = 0; it < iterations; ++it) {  // four independent accumulators
            _tile_dpbf16ps(0, 4, 6);
            _tile_dpbf16ps(1, 4, 7);
            _tile_dpbf16ps(2, 5, 6);
            _tile_dpbf16ps(3, 5, 7);
        }
        _tile_stored(0, out, 64);
        sink = sink + out[0];
        release_tiles();
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    // One tdpbf16ps: 16 x 16 outputs, 32 multiply-adds each.
    return 4.0 * 2 * 16 * 16 * 32 * static_cast<double>(iterations) * n_threads / secs / 1e9;
}

}  // namespace hf
