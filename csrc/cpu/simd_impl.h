// Kernel bodies written once with GCC/Clang vector extensions; each
// simd_<level>.cpp includes this file inside its own namespace and is
// compiled with its own -m flags (AVX-512, AVX2+FMA, or the portable
// baseline). Before including it, the file defines in that namespace
//   kW   floats per vector register (8, or 16 with AVX-512) and
//   kNR  columns of its B panels, hence of its micro-tiles (16: 6 x 16 tiles
//        of two 8-float vectors per row; 48: 6 x 48 tiles of three 16-float
//        vectors per row, see simd.h),
// and includes <cstring>, <immintrin.h> (AVX builds) and simd.h.
//
// Every level forms each key with the same operations in the same order (a
// lane's dot product is one chain of multiply-adds over the features, then
// alpha + beta + gamma * dot), so levels whose -m flags agree on fused
// multiply-adds produce bit-identical keys, whatever their vector width.

#if defined(__FAST_MATH__) || (defined(__FINITE_MATH_ONLY__) && __FINITE_MATH_ONLY__)
#error "the fold keeps padding out of the candidate lists with NaN offsets: build without -ffast-math"
#endif

constexpr int kPackRows = 16;  // rows one pack transpose handles
static_assert(kNR % kW == 0 && kNR % kPackRows == 0 && kNR <= hf::kMaxNR, "a panel is whole vectors and whole transposes");
static_assert(64 % kW == 0, "the hit bits of a vector never straddle two 64-bit words");
#if defined(__AVX512F__)
static_assert(kW == 16, "AVX-512 builds use 16-float vectors (one mask bit per lane)");
#endif

constexpr int kTileVecs = kNR / kW;                         // accumulators per row of a micro-tile
constexpr int kHitWords = (hf::kMR * kNR + 63) / 64;        // hit bits of a micro-tile, kNR r + c

typedef float vf __attribute__((vector_size(4 * kW)));
typedef int vi __attribute__((vector_size(4 * kW)));

static inline vf loadv(const float* p) {
    vf r;
    std::memcpy(&r, p, sizeof r);
    return r;
}
static inline void storev(float* p, vf v) { std::memcpy(p, &v, sizeof v); }
static inline vf splat(float x) {  // one broadcast (a lane-by-lane loop compiles to kW masked inserts)
#if defined(__AVX512F__)
    return reinterpret_cast<vf>(_mm512_set1_ps(x));
#else
    static_assert(kW == 8, "8-float vectors below AVX-512");
    return vf{x, x, x, x, x, x, x, x};
#endif
}
static inline vf vmax(vf a, vf b) { return a > b ? a : b; }  // one vmaxps with AVX

#if defined(__AVX512F__)
// Lanes where a <= b (false for NaN), one bit per lane: a single compare into a mask register.
static inline uint32_t le_bits(vf a, vf b) {
    return _mm512_cmp_ps_mask(reinterpret_cast<__m512>(a), reinterpret_cast<__m512>(b), _CMP_LE_OQ);
}
// Lanes [lo, hi) of a vector (lo may be negative, hi beyond kW).
static inline uint32_t lane_range(int lo, int hi) {
    const uint32_t below_hi = hi >= kW ? 0xffffu : (1u << (hi < 0 ? 0 : hi)) - 1;
    return lo <= 0 ? below_hi : below_hi & ~((1u << (lo > kW ? kW : lo)) - 1);
}
// The lanes in `lanes` of p (0 elsewhere); memory outside them is not touched.
static inline vf load_lanes(const float* p, uint32_t lanes) {
    return reinterpret_cast<vf>(_mm512_maskz_loadu_ps(static_cast<__mmask16>(lanes), p));
}
#else
static inline int mask_bits(vi m) {
#if defined(__AVX__)
    static_assert(kW == 8, "movemask reads one 8-float register");
    return _mm256_movemask_ps(reinterpret_cast<__m256>(m));
#else
    int bits = 0;
    for (int l = 0; l < kW; ++l) bits |= (m[l] != 0) << l;
    return bits;
#endif
}
static inline uint32_t le_bits(vf a, vf b) { return static_cast<uint32_t>(mask_bits(a <= b)); }
#endif

// Whether any key of a micro-tile passed its limit: mask registers ORed with
// AVX-512; compare results ORed as vectors and read once otherwise.
struct Hits {
#if defined(__AVX512F__)
    uint32_t bits = 0;
    void add(vf key, vf limit) { bits |= le_bits(key, limit); }
    bool any() const { return bits != 0; }
#else
    vi lanes = vi{};
    void add(vf key, vf limit) { lanes |= key <= limit; }
    bool any() const { return mask_bits(lanes) != 0; }
#endif
};

static inline void offer_pair(hf::TopKSet* rows, hf::TopKSet* cols, int64_t gi, int64_t gj, float key,
                              bool same_set = true) {
    if (rows && key <= rows->thr()[gi]) rows->push(gi, key, gj);
    if (cols && (gj != gi || !same_set) && key <= cols->thr()[gj]) cols->push(gj, key, gi);
}

// The row thresholds of a fold's micro-tiles (padded: rows past the last
// point read +inf), or -inf where only columns have lists.
static inline const float* row_limits(const hf::TileFold& f) {
    static const float kNoList[hf::kMR] = {-__builtin_inff(), -__builtin_inff(), -__builtin_inff(),
                                           -__builtin_inff(), -__builtin_inff(), -__builtin_inff()};
    static_assert(hf::kMR == 6, "one -inf per row");
    return f.rows ? f.rows->thr() + f.row0 : kNoList;
}

// The column thresholds of the micro-tile at jq within a fold's strip (thr()
// is padded: always in bounds), or -inf where only rows have lists.
static inline void column_limits(const hf::TileFold& f, int jq, vf (&lim)[kTileVecs]) {
    const float* cthr = f.cols ? f.cols->thr() + f.col0 + jq : nullptr;
#pragma GCC unroll 8
    for (int v = 0; v < kTileVecs; ++v) lim[v] = cthr ? loadv(cthr + v * kW) : splat(-__builtin_inff());
}

// Slow path of fold_tile: offers every key of a micro-tile that passes its
// row's or its column's threshold. keys: the micro-tile's keys, row after row
// (NaN in padding); jq: the micro-tile's first column within the strip. The
// hits of all rows are gathered as bits kNR r + c first, so the walk over
// them is one loop, in row-major order at every level.
__attribute__((noinline)) static void offer_tile(const float (&keys)[hf::kMR][kNR], const hf::TileFold& f, int jq) {
    const int64_t col0 = f.col0 + jq;
    const float* rthr = row_limits(f);
    vf lim[kTileVecs];
    column_limits(f, jq, lim);
    uint64_t words[kHitWords] = {};
    for (int r = 0; r < hf::kMR; ++r) {
        const vf tr = splat(rthr[r]);
        for (int v = 0; v < kTileVecs; ++v) {
            const int b = r * kNR + v * kW;  // a multiple of kW: within one word
            words[b / 64] |= static_cast<uint64_t>(le_bits(loadv(keys[r] + v * kW), vmax(tr, lim[v]))) << (b % 64);
        }
    }
    const float* flat = &keys[0][0];
    for (int w = 0; w < kHitWords; ++w) {
        for (uint64_t bits = words[w]; bits; bits &= bits - 1) {
            const int b = 64 * w + __builtin_ctzll(bits);
            offer_pair(f.rows, f.cols, f.row0 + b / kNR, col0 + b % kNR, flat[b], f.same_set);
        }
    }
}

// Turns the dot products of a micro-tile into keys, stores them and tests
// them all against max(row threshold, column threshold) with one branch per
// micro-tile: almost every tile has no candidate. alpha and beta are NaN past
// the valid rows and columns, so padding never passes.
__attribute__((always_inline)) static inline void fold_tile(const vf (&acc)[hf::kMR][kTileVecs], const hf::TileFold& f,
                                                            int jq) {
    const vf vg = splat(f.gamma);
    vf beta[kTileVecs], lim[kTileVecs];
#pragma GCC unroll 8
    for (int v = 0; v < kTileVecs; ++v) beta[v] = loadv(f.beta + jq + v * kW);
    column_limits(f, jq, lim);
    const float* rthr = row_limits(f);
    float keys[hf::kMR][kNR] __attribute__((aligned(64)));
    Hits hits;
#pragma GCC unroll 6
    for (int r = 0; r < hf::kMR; ++r) {
        const vf ar = splat(f.alpha[r]);
        const vf tr = splat(rthr[r]);
#pragma GCC unroll 8
        for (int v = 0; v < kTileVecs; ++v) {
            const vf key = ar + beta[v] + vg * acc[r][v];
            storev(keys[r] + v * kW, key);
            hits.add(key, vmax(tr, lim[v]));
        }
    }
    if (hits.any()) offer_tile(keys, f, jq);
}

// For each of `panels` consecutive B panels (kNR x kc each, the kNR values
// of a feature together): one micro-tile, rows a[0:kMR] (row stride lda)
// times the panel, into c (row stride ldc) or, with `fold`, the candidate lists.
static void microkernel(int kc, const float* __restrict a, int64_t lda, const float* __restrict b, int panels,
                        float* __restrict c, int ldc, bool accumulate, const hf::TileFold* fold) {
    for (int q = 0; q < panels; ++q, b += static_cast<int64_t>(kNR) * kc, c += kNR) {
        const vf* bp = static_cast<const vf*>(__builtin_assume_aligned(b, sizeof(vf)));
        vf acc[hf::kMR][kTileVecs];
#pragma GCC unroll 6
        for (int r = 0; r < hf::kMR; ++r)
#pragma GCC unroll 8
            for (int v = 0; v < kTileVecs; ++v) acc[r][v] = vf{};  // not "= {}": that became a rep stos
#pragma GCC unroll 4
        for (int p = 0; p < kc; ++p) {
            vf bv[kTileVecs];
#pragma GCC unroll 8
            for (int v = 0; v < kTileVecs; ++v) bv[v] = bp[v];
#pragma GCC unroll 6
            for (int r = 0; r < hf::kMR; ++r) {
                const vf ar = splat(a[r * lda + p]);
#pragma GCC unroll 8
                for (int v = 0; v < kTileVecs; ++v) acc[r][v] += ar * bv[v];
            }
            bp += kTileVecs;
        }
        if (accumulate) {
#pragma GCC unroll 6
            for (int r = 0; r < hf::kMR; ++r)
#pragma GCC unroll 8
                for (int v = 0; v < kTileVecs; ++v) acc[r][v] += loadv(c + r * ldc + v * kW);
        }
        if (fold) {
            fold_tile(acc, *fold, q * kNR);
            continue;
        }
#pragma GCC unroll 6
        for (int r = 0; r < hf::kMR; ++r)
#pragma GCC unroll 8
            for (int v = 0; v < kTileVecs; ++v) storev(c + r * ldc + v * kW, acc[r][v]);
    }
}

// out[c * os + r] = src[r * ld + c] for 16 rows and kc features, built with
// 8 x 8 register transposes where AVX is available.
static void transpose16(const float* __restrict src, int64_t ld, int kc, float* __restrict out, int os) {
    int c = 0;
#if defined(__AVX__)
    for (; c + 8 <= kc; c += 8) {
        for (int half = 0; half < 2; ++half) {
            const float* s = src + half * 8 * ld + c;
            __m256 r0 = _mm256_loadu_ps(s), r1 = _mm256_loadu_ps(s + ld), r2 = _mm256_loadu_ps(s + 2 * ld),
                   r3 = _mm256_loadu_ps(s + 3 * ld), r4 = _mm256_loadu_ps(s + 4 * ld), r5 = _mm256_loadu_ps(s + 5 * ld),
                   r6 = _mm256_loadu_ps(s + 6 * ld), r7 = _mm256_loadu_ps(s + 7 * ld);
            const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1),
                         t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3),
                         t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5),
                         t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
            const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE),
                         u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE),
                         u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE),
                         u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
            r0 = _mm256_permute2f128_ps(u0, u4, 0x20);  // feature c + 0
            r1 = _mm256_permute2f128_ps(u1, u5, 0x20);
            r2 = _mm256_permute2f128_ps(u2, u6, 0x20);
            r3 = _mm256_permute2f128_ps(u3, u7, 0x20);
            r4 = _mm256_permute2f128_ps(u0, u4, 0x31);  // feature c + 4
            r5 = _mm256_permute2f128_ps(u1, u5, 0x31);
            r6 = _mm256_permute2f128_ps(u2, u6, 0x31);
            r7 = _mm256_permute2f128_ps(u3, u7, 0x31);
            float* o = out + c * os + half * 8;
            _mm256_storeu_ps(o, r0);
            _mm256_storeu_ps(o + os, r1);
            _mm256_storeu_ps(o + 2 * os, r2);
            _mm256_storeu_ps(o + 3 * os, r3);
            _mm256_storeu_ps(o + 4 * os, r4);
            _mm256_storeu_ps(o + 5 * os, r5);
            _mm256_storeu_ps(o + 6 * os, r6);
            _mm256_storeu_ps(o + 7 * os, r7);
        }
    }
#endif
    for (; c < kc; ++c)
        for (int r = 0; r < kPackRows; ++r) out[c * os + r] = src[r * ld + c];
}

// out[c * kNR + r] = src[r * ld + c], r < kNR, c < kc: a B panel from fp32 rows.
static void pack_panel(const float* __restrict src, int64_t ld, int kc, float* __restrict out) {
    for (int g = 0; g < kNR; g += kPackRows) transpose16(src + g * ld, ld, kc, out + g, kNR);
}

static inline void offer(const hf::ScanArgs& s, int i, int j, float key) {
    offer_pair(s.rows, s.cols, s.row0 + i, s.col0 + j, key);
}

// Offers the keys of lanes `bits` of the vector at column j of row i.
static inline void offer_lanes(const hf::ScanArgs& s, int i, int j, vf key, uint32_t bits) {
    for (; bits; bits &= bits - 1) {
        const int l = __builtin_ctz(bits);
        offer(s, i, j + l, key[l]);
    }
}

// Keys of a stored tile (diagonal pairs), row by row, against the row's
// threshold and each column's.
static void scan(const hf::ScanArgs& s) {
    const vf vg = splat(s.gamma);
    const float* rthr = s.rows->thr();
    const float* cthr = s.cols ? s.cols->thr() + s.col0 : nullptr;
    for (int i = 0; i < s.m; ++i) {
        const float* crow = s.c + static_cast<int64_t>(i) * s.ldc;
        const float a = s.alpha[i];
        const int j0 = s.diag == 0 ? 0 : (s.diag == 1 ? i + 1 : i);
        const vf va = splat(a);  // the row's threshold is read afresh for each vector: pushes lower it
#if defined(__AVX512F__)
        // Aligned vectors from the one holding j0; masked loads cover the
        // columns before j0 and past n (beta is not padded: nothing is read there).
        for (int j = j0 / kW * kW; j < s.n; j += kW) {
            const uint32_t lanes = lane_range(j0 - j, s.n - j);
            const vf key = va + load_lanes(s.beta + j, lanes) + vg * load_lanes(crow + j, lanes);
            const uint32_t hit = le_bits(key, splat(rthr[s.row0 + i])) | (cthr ? le_bits(key, load_lanes(cthr + j, lanes)) : 0u);
            offer_lanes(s, i, j, key, hit & lanes);
        }
#else
        int j = j0;
        for (; j < s.n && (j & (kW - 1)); ++j) offer(s, i, j, a + s.beta[j] + s.gamma * crow[j]);
        for (; j + kW <= s.n; j += kW) {
            const vf key = va + loadv(s.beta + j) + vg * loadv(crow + j);
            uint32_t hit = le_bits(key, splat(rthr[s.row0 + i]));
            if (cthr) hit |= le_bits(key, loadv(cthr + j));
            offer_lanes(s, i, j, key, hit);
        }
        for (; j < s.n; ++j) offer(s, i, j, a + s.beta[j] + s.gamma * crow[j]);
#endif
    }
}
