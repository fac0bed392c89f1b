// The AMX build of the candidate pass (amx.h): int8x4 tile products with
// tdpbssd or bf16x3 ones with tdpbf16ps, and the key fold in AVX-512. This
// file alone is compiled with -mamx-tile -mamx-bf16 -mamx-int8 and the
// AVX-512 flags; never with -ffast-math (its flush-to-zero would change the
// key assembly the bound covers, and NaN padding must stay NaN).
//
// Micro-kernel: a 32 x 32 block of dot products as 2 x 2 tiles (tmm0-3, fp32
// or int32), A tiles tmm4/5 (16 rows x 64 bytes), B tiles tmm6/7 (16 VNNI
// rows x 16 columns): per chunk (32 bf16 or 64 int8 features), 4 tile loads
// and 4 products. bf16x3: the three products run one after the other over
// the whole depth into one accumulator, smallest first (hi*mid, mid*hi, then
// hi*hi), so the large hi*hi terms go through at most d_pad roundings
// (AmxBound::bf16x3). int8x4: three exact int32 sums (X = hi*hi, Y = hi*mid +
// mid*hi, Z = mid*mid), combined into fp32 by the fold (amx_int8_dot).
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

// key = fl(fl(alpha_i + beta_j) - 2 c): one add, one fused negative multiply-add.
inline __m512 key_of(__m512 alpha, __m512 beta, const float* c) {
    return _mm512_fnmadd_ps(_mm512_load_ps(c), _mm512_set1_ps(2.f), _mm512_add_ps(alpha, beta));
}

// int32 to fp32 lane by lane, rounded to nearest (the masked form: the plain
// one draws a false -Wmaybe-uninitialized from GCC 12).
inline __m512 int_to_float(__m512i v) { return _mm512_maskz_cvtepi32_ps(0xffff, v); }

// max(a, b) lane by lane (_mm512_max_ps draws a false -Wmaybe-uninitialized from GCC 12).
inline __m512 vmax(__m512 a, __m512 b) { return _mm512_mask_max_ps(a, 0xffff, a, b); }

// int8x4: the 32 sums X, Y, Z of row r of a strip pair's unit (u: X's buffer,
// Y and Z after it) into fp32 dot products in place of X (amx_int8_dot in
// lanes: the same operations, the same bits). sigma_i: the row's power of
// two, sigma_j: the 32 columns'.
__attribute__((always_inline)) inline void combine_int8_row(float* u, int r, float sigma_i, const float* sigma_j) {
    const __m512 step = _mm512_set1_ps(0x1p-8f), si = _mm512_set1_ps(sigma_i);
    for (int h = 0; h < 2; ++h) {
        float* x = u + r * kAmxStrip + 16 * h;
        const __m512 xf = int_to_float(_mm512_load_si512(x));
        const __m512 yf = int_to_float(_mm512_load_si512(x + kAmxStrip * kAmxStrip));
        const __m512 zf = int_to_float(_mm512_load_si512(x + 2 * kAmxStrip * kAmxStrip));
        const __m512 dot = _mm512_fmadd_ps(_mm512_fmadd_ps(zf, step, yf), step, xf);
        _mm512_store_ps(x, _mm512_mul_ps(dot, _mm512_mul_ps(si, _mm512_loadu_ps(sigma_j + 16 * h))));
    }
}

// The fp32 dot products of a finished unit in place (int8x4; bf16x3's are already).
template <bool Int8>
inline void combine_unit(float* u, const AmxSide& a, int64_t gi0, const AmxSide& b, int64_t gj0) {
    if constexpr (Int8)
        for (int r = 0; r < kAmxStrip; ++r) combine_int8_row(u, r, a.sigma[gi0 + r], b.sigma.data() + gj0);
}

// The fold of one finished strip pair (32 x 32 dot products in c) into the
// candidate lists, done a few rows at a time while the tile unit works on the
// next strip pair: step() compares rows' keys with their row's threshold (Rows)
// and / or their column's (Cols) in registers and keeps the hit masks; finish()
// compares the remaining rows, then offers the hits (rare once the lists fill)
// in row order, each key recomputed the same way (one add, one fused
// multiply-add: the same bits). No list changes between a strip's first step
// and its finish (the previous strip's finish comes before the next start), so
// the thresholds and the order of the offers are those of folding the strip
// at once. Int8: each row's int32 sums are first combined into fp32 dot
// products in place (combine_int8_row).
template <bool Rows, bool Cols, bool Int8>
class PendingFold {
  public:
    explicit PendingFold(const AmxPair& p) : p_(p) {}

    // c: the strip pair's unit (int8x4: X, Y and Z after it); rows step() folds per call.
    void start(float* c, int64_t gi0, int64_t gj0, int diag) {
        c_ = c;
        gi0_ = gi0;
        gj0_ = gj0;
        diag_ = diag;
        next_ = 0;
        any_ = 0;
    }
    const float* pending() const { return c_; }

    __attribute__((always_inline)) void step(int rows) {
        if (next_ >= kAmxStrip) return;
        const int end = std::min(kAmxStrip, next_ + rows);
        const float* beta = p_.b->offset.data() + gj0_;  // NaN past the last point
        const __m512 b0 = _mm512_loadu_ps(beta), b1 = _mm512_loadu_ps(beta + 16);
        __m512 c0 = b0, c1 = b1;
        if (Cols) {
            c0 = _mm512_loadu_ps(p_.cols->thr() + gj0_);  // thr() is padded past the end
            c1 = _mm512_loadu_ps(p_.cols->thr() + gj0_ + 16);
        }
        const float* alpha = p_.a->offset.data() + gi0_;
        for (int r = next_; r < end; ++r) {
            if constexpr (Int8) combine_int8_row(c_, r, p_.a->sigma[gi0_ + r], p_.b->sigma.data() + gj0_);
            const __m512 al = _mm512_set1_ps(alpha[r]);
            const __m512 k0 = key_of(al, b0, c_ + r * 32), k1 = key_of(al, b1, c_ + r * 32 + 16);
            __m512 l0 = c0, l1 = c1;
            if (Rows) {
                const __m512 tr = _mm512_set1_ps(p_.rows->thr()[gi0_ + r]);
                l0 = Cols ? vmax(tr, c0) : tr;
                l1 = Cols ? vmax(tr, c1) : tr;
            }
            uint32_t h = static_cast<uint32_t>(_mm512_cmp_ps_mask(k0, l0, _CMP_LE_OQ)) |
                         (static_cast<uint32_t>(_mm512_cmp_ps_mask(k1, l1, _CMP_LE_OQ)) << 16);
            if (diag_) h &= amx_diag_columns(diag_, r);
            hits_[r] = h;
            any_ |= h;
        }
        next_ = end;
    }

    void finish() {
        if (!c_) return;
        step(kAmxStrip);
        if (any_) {
            const float* beta = p_.b->offset.data() + gj0_;
            const float* alpha = p_.a->offset.data() + gi0_;
            for (int r = 0; r < kAmxStrip; ++r)
                for (uint32_t h = hits_[r]; h; h &= h - 1) {
                    const int col = __builtin_ctz(h);
                    const float key = __builtin_fmaf(-2.f, c_[r * 32 + col], alpha[r] + beta[col]);
                    amx_offer(p_, gi0_ + r, gj0_ + col, key);
                }
        }
        c_ = nullptr;
    }

  private:
    const AmxPair& p_;
    float* c_ = nullptr;  // int8x4: combined in place, row by row
    int64_t gi0_ = 0, gj0_ = 0;
    int diag_ = 0, next_ = kAmxStrip;
    uint32_t any_ = 0;
    uint32_t hits_[kAmxStrip];
};

// No fold (the ball pass's keys): the walk's folds are its own.
struct NoFold {
    const float* pending() const { return nullptr; }
    void step(int) {}
    void finish() {}
};

// The products of a scheme: parts of a (kPa) and b (kPb), and the accumulator
// group each adds into (one per int32 sum of int8x4; a strip pair's groups
// are consecutive buffers of 32 x 32).
template <bool Int8>
struct Products;
template <>
struct Products<false> {  // bf16x3: hi*mid, mid*hi, hi*hi into one fp32 accumulator
    static constexpr int kCount = 3, kGroups = 1;
    static constexpr int kPa[3] = {0, 1, 0}, kPb[3] = {1, 0, 0}, kGroup[3] = {0, 0, 0};
};
template <>
struct Products<true> {  // int8x4: X = hi*hi, Y = hi*mid + mid*hi, Z = mid*mid
    static constexpr int kCount = 4, kGroups = 3;
    static constexpr int kPa[4] = {0, 0, 1, 1}, kPb[4] = {0, 1, 0, 1}, kGroup[4] = {0, 1, 1, 2};
};

// C += A B for tile registers C, A, B: tdpbssd (int8 x int8, int32 sums) or
// tdpbf16ps. A macro: the intrinsics paste the register numbers into the
// instruction's text.
#define HF_TILE_PRODUCT(C, A, B)     \
    do {                             \
        if constexpr (Int8)          \
            _tile_dpbssd(C, A, B);   \
        else                         \
            _tile_dpbf16ps(C, A, B); \
    } while (0)

// Accumulators 0..3 (the 2 x 2 tiles of a 32 x 32 block) += one product's depth chunks [k0, k1):
// A tiles a0, a1 (rows 0-15, 16-31) times B tiles b0, b1 (columns 0-15, 16-31).
// After each chunk's tile instructions, `rows` rows of the pending fold: vector
// work that runs while the tile unit computes.
template <bool Int8, class Fold>
__attribute__((always_inline)) inline void accumulate_chunks(const uint16_t* a0, const uint16_t* a1,
                                                             const uint16_t* b0, const uint16_t* b1, int64_t k0,
                                                             int64_t k1, Fold& fold, int rows) {
    for (int64_t ch = k0; ch < k1; ++ch) {
        const int64_t o = ch * kAmxTile;
        _tile_loadd(4, a0 + o, kStride);
        _tile_loadd(6, b0 + o, kStride);
        HF_TILE_PRODUCT(0, 4, 6);
        _tile_loadd(7, b1 + o, kStride);
        HF_TILE_PRODUCT(1, 4, 7);
        _tile_loadd(5, a1 + o, kStride);
        HF_TILE_PRODUCT(2, 5, 6);
        HF_TILE_PRODUCT(3, 5, 7);
        fold.step(rows);
    }
}

// The four accumulators to c (32 x 32 floats, row stride 32).
__attribute__((always_inline)) inline void store_accumulators(float* c) {
    _tile_stored(0, c, 128);
    _tile_stored(1, c + 16, 128);
    _tile_stored(2, c + 512, 128);
    _tile_stored(3, c + 528, 128);
}

constexpr int kDepthChunks = 8;  // chunks per depth slice of strip_products: 2 x 8 KiB of A parts stay in L1

// Rows of a pending fold per chunk when `chunks` chunks are left to hide it in.
inline int fold_rows_per_chunk(int64_t chunks) { return static_cast<int>((kAmxStrip + chunks - 1) / chunks); }

// The first chunk of a strip pair's run, with the switch from the previous
// one software-pipelined: accumulator tile u of the previous strip pair is
// stored to `prev` (when given) just before the same tile is zeroed (fresh) or
// reloaded from `cur` and multiplied, so each store waits only for its own
// tile's last product while the unit still works on the others (a store of all
// four, then the next products, left the unit idle about a quarter of the time
// at D = 512). The additions into each accumulator are unchanged.
// prev_unit: the first buffer of the strip pair prev belongs to (what a
// pending fold reads from), finished before anything of it is overwritten.
template <bool Int8, class Fold>
__attribute__((always_inline)) inline void switch_chunk(float* prev, const float* prev_unit, float* cur, bool fresh,
                                                        const uint16_t* a0, const uint16_t* a1, const uint16_t* b0,
                                                        const uint16_t* b1, Fold& fold, int rows) {
    if (prev) {
        if (fold.pending() == prev_unit) fold.finish();
        _tile_stored(0, prev, 128);
    }
    if (fresh) _tile_zero(0); else _tile_loadd(0, cur, 128);
    _tile_loadd(4, a0, kStride);
    _tile_loadd(6, b0, kStride);
    HF_TILE_PRODUCT(0, 4, 6);
    if (prev) _tile_stored(1, prev + 16, 128);
    if (fresh) _tile_zero(1); else _tile_loadd(1, cur + 16, 128);
    _tile_loadd(7, b1, kStride);
    HF_TILE_PRODUCT(1, 4, 7);
    if (prev) _tile_stored(2, prev + 512, 128);
    if (fresh) _tile_zero(2); else _tile_loadd(2, cur + 512, 128);
    _tile_loadd(5, a1, kStride);
    HF_TILE_PRODUCT(2, 5, 6);
    if (prev) _tile_stored(3, prev + 528, 128);
    if (fresh) _tile_zero(3); else _tile_loadd(3, cur + 528, 128);
    HF_TILE_PRODUCT(3, 5, 7);
    fold.step(rows);
}

// Buffers of strip_products: kGroups consecutive 32 x 32 buffers per column
// strip t (the strip pair's "unit"; its first is what a fold reads from).
using StripBuffers = float (*)[kAmxStrip * kAmxStrip];

// The accumulators of row strip si of a (A layout) against column strip sj +
// t of b (B layout), t < count, into c[t * kGroups + g]: bf16x3: the fp32 dot
// products (one group); int8x4: the int32 sums X, Y, Z (amx_int8_dot combines
// them). The products run one after the other over the whole depth. Above
// kDepthChunks chunks each product runs slice by slice of the depth (the A
// tiles of a slice are read from L1 for every column strip, the B tiles
// stream from L2), the accumulators go to their buffer between slices; tile
// stores and loads are exact, so the order of the additions into each
// accumulator, hence the bound, is that of one pass. `fold` (its unit, when
// one is pending, folded a few rows per chunk meanwhile) is finished before
// its buffers are overwritten; done(t) is called as unit t is final.
template <bool Int8, class Fold, class Done>
inline void strip_products(const AmxSide& a, int64_t si, const AmxSide& b, int64_t sj, int count, StripBuffers c,
                           Fold& fold, Done done) {
    using P = Products<Int8>;
    constexpr int G = P::kGroups;
    auto buf = [&](int t, int g) { return c[t * G + g]; };
    const int64_t nch = a.nch, slice = std::min<int64_t>(nch, kDepthChunks);
    const int rows = fold_rows_per_chunk(nch <= kDepthChunks ? P::kCount * nch : slice);
    auto tiles = [&](int q, int t) {
        return std::make_tuple(a.a_tile(P::kPa[q], 2 * si), a.a_tile(P::kPa[q], 2 * si + 1),
                               b.b_tile(P::kPb[q], 2 * (sj + t)), b.b_tile(P::kPb[q], 2 * (sj + t) + 1));
    };
    auto first_of_group = [](int q) { return q == 0 || P::kGroup[q - 1] != P::kGroup[q]; };
    if (nch <= kDepthChunks) {  // the whole depth per strip pair: the accumulators stay in the tiles
        float* prev = nullptr;
        const float* prev_unit = nullptr;
        for (int t = 0; t < count; ++t) {
            for (int q = 0; q < P::kCount; ++q) {
                const auto [a0, a1, b0, b1] = tiles(q, t);
                int64_t k0 = 0;
                if (first_of_group(q)) {
                    float* cur = buf(t, P::kGroup[q]);
                    switch_chunk<Int8>(prev, prev_unit, cur, true, a0, a1, b0, b1, fold, rows);
                    if (q == 0 && t) done(t - 1);
                    prev = cur;
                    prev_unit = buf(t, 0);
                    k0 = 1;
                }
                accumulate_chunks<Int8>(a0, a1, b0, b1, k0, nch, fold, rows);
            }
        }
        if (fold.pending() == buf(count - 1, 0)) fold.finish();
        store_accumulators(prev);
        done(count - 1);
        return;
    }
    for (int q = 0; q < P::kCount; ++q) {
        const int g = P::kGroup[q];
        for (int64_t k0 = 0; k0 < nch; k0 += kDepthChunks) {
            const int64_t k1 = std::min(nch, k0 + kDepthChunks), o = k0 * kAmxTile;
            const bool fresh = first_of_group(q) && k0 == 0, last = q == P::kCount - 1 && k1 == nch;
            for (int t = 0; t < count; ++t) {
                const auto [a0, a1, b0, b1] = tiles(q, t);
                // The previous strip's accumulators, if this slice has one (the
                // last strip's of the slice before are stored below).
                switch_chunk<Int8>(t ? buf(t - 1, g) : nullptr, t ? buf(t - 1, 0) : nullptr, buf(t, g), fresh, a0 + o,
                                   a1 + o, b0 + o, b1 + o, fold, rows);
                if (t && last) done(t - 1);
                accumulate_chunks<Int8>(a0, a1, b0, b1, k0 + 1, k1, fold, rows);
            }
            if (fold.pending() == buf(count - 1, 0)) fold.finish();
            store_accumulators(buf(count - 1, g));
            if (last) done(count - 1);
        }
    }
}

// The candidate pass of one block pair: each strip pair's fold runs while the
// tile unit computes the next one (PendingFold); the folds come in the walk's
// order, as in the reference.
template <bool Rows, bool Cols, bool Int8>
void pair_tiles_folding(const AmxPair& p) {
    constexpr int G = Products<Int8>::kGroups;
    alignas(64) float c[kAmxSubStrips * G][kAmxStrip * kAmxStrip];
    PendingFold<Rows, Cols, Int8> fold(p);
    amx_walk_strips(p, [&](int64_t si, int64_t sj, int count, int diag) {
        strip_products<Int8>(*p.a, si, *p.b, sj, count, c, fold, [&](int t) {
            fold.finish();
            fold.start(c[t * G], si * kAmxStrip, (sj + t) * kAmxStrip, t == 0 ? diag : 0);
        });
    });
    fold.finish();
}

template <bool Int8>
void pair_tiles_scheme(const AmxPair& p) {
    if (p.rows && p.cols)
        pair_tiles_folding<true, true, Int8>(p);
    else if (p.rows)
        pair_tiles_folding<true, false, Int8>(p);
    else
        pair_tiles_folding<false, true, Int8>(p);
}

void pair_tiles(const AmxPair& p) {
    p.a->scheme == AmxScheme::Int8x4 ? pair_tiles_scheme<true>(p) : pair_tiles_scheme<false>(p);
}

// The 32 x 32 keys of a finished unit u (fp32 dot products after combine_unit)
// into out (row stride ldk, columns n_cols of 32).
inline void unit_keys(const float* u, const AmxSide& a, int64_t gi0, const AmxSide& b, int64_t gj0, float* out,
                      int64_t ldk) {
    const float* beta = b.offset.data() + gj0;
    const __m512 b0 = _mm512_loadu_ps(beta), b1 = _mm512_loadu_ps(beta + 16);
    for (int r = 0; r < kAmxStrip; ++r, out += ldk) {
        const __m512 al = _mm512_set1_ps(a.offset[gi0 + r]);
        _mm512_storeu_ps(out, key_of(al, b0, u + r * 32));
        _mm512_storeu_ps(out + 16, key_of(al, b1, u + r * 32 + 16));
    }
}

template <bool Int8>
void block_keys_scheme(const AmxPair& p, float* keys, int ldk) {
    constexpr int G = Products<Int8>::kGroups;
    alignas(64) float c[kAmxSubStrips * G][kAmxStrip * kAmxStrip];
    NoFold none;
    amx_walk_strips(p, [&](int64_t si, int64_t sj, int count, int) {
        strip_products<Int8>(*p.a, si, *p.b, sj, count, c, none, [](int) {});
        for (int t = 0; t < count; ++t) {
            const int64_t gi0 = si * kAmxStrip, gj0 = (sj + t) * kAmxStrip;
            combine_unit<Int8>(c[t * G], *p.a, gi0, *p.b, gj0);
            unit_keys(c[t * G], *p.a, gi0, *p.b, gj0, keys + (gi0 - p.r0) * ldk + (gj0 - p.c0), ldk);
        }
    });
}

void block_keys_tiles(const AmxPair& p, float* keys, int ldk) {
    p.a->scheme == AmxScheme::Int8x4 ? block_keys_scheme<true>(p, keys, ldk) : block_keys_scheme<false>(p, keys, ldk);
}

template <bool Int8>
void keys_scheme(const AmxSide& a, const AmxSide& b, float* out) {
    constexpr int G = Products<Int8>::kGroups;
    alignas(64) float c[G][kAmxStrip * kAmxStrip], keys[kAmxStrip * kAmxStrip];
    for (int64_t si = 0; si < a.n_pad / kAmxStrip; ++si)
        for (int64_t sj = 0; sj < b.n_pad / kAmxStrip; ++sj) {
            NoFold none;
            strip_products<Int8>(a, si, b, sj, 1, c, none, [](int) {});
            combine_unit<Int8>(c[0], a, si * kAmxStrip, b, sj * kAmxStrip);
            unit_keys(c[0], a, si * kAmxStrip, b, sj * kAmxStrip, keys, kAmxStrip);
            for (int r = 0; r < kAmxStrip && si * kAmxStrip + r < a.n; ++r)
                for (int col = 0; col < kAmxStrip && sj * kAmxStrip + col < b.n; ++col)
                    out[(si * kAmxStrip + r) * b.n + sj * kAmxStrip + col] = keys[r * kAmxStrip + col];
        }
}

}  // namespace

bool amx_built() { return true; }

const AmxPass& amx_pass_tiles() {
    static const AmxPass pass{"amx", configure_tiles, release_tiles, pair_tiles, block_keys_tiles};
    return pass;
}

void amx_keys_tiles(const AmxSide& a, const AmxSide& b, float* out) {
    configure_tiles();
    a.scheme == AmxScheme::Int8x4 ? keys_scheme<true>(a, b, out) : keys_scheme<false>(a, b, out);
    release_tiles();
}

// Four independent accumulators, operands of zeros (the unit's speed barely depends on values).
template <bool Int8>
double amx_peak_loop(int n_threads, int64_t iterations) {
    volatile float sink = 0.f;
    const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(n_threads)
    {
        configure_tiles();
        alignas(64) static const uint16_t zeros[kAmxTile] = {};
        alignas(64) float out[16 * 16];
        _tile_loadd(4, zeros, kStride);
        _tile_loadd(5, zeros, kStride);
        _tile_loadd(6, zeros, kStride);
        _tile_loadd(7, zeros, kStride);
        _tile_zero(0);
        _tile_zero(1);
        _tile_zero(2);
        _tile_zero(3);
        for (int64_t it = 0; it < iterations; ++it) {
            HF_TILE_PRODUCT(0, 4, 6);
            HF_TILE_PRODUCT(1, 4, 7);
            HF_TILE_PRODUCT(2, 5, 6);
            HF_TILE_PRODUCT(3, 5, 7);
        }
        _tile_stored(0, out, 64);
        sink = sink + out[0];
        release_tiles();
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    // One instruction: 16 x 16 outputs, 32 (bf16) or 64 (int8) multiply-adds each.
    return 4.0 * 2 * 16 * 16 * (Int8 ? 64 : 32) * static_cast<double>(iterations) * n_threads / secs / 1e9;
}

double amx_peak_gflops(int n_threads, int64_t iterations, bool int8) {
    return int8 ? amx_peak_loop<true>(n_threads, iterations) : amx_peak_loop<false>(n_threads, iterations);
}

}  // namespace hf
