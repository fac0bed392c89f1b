// Kernel bodies written once with GCC/Clang vector extensions; each
// simd_<level>.cpp includes this file inside its own namespace and is
// compiled with its own -m flags (AVX2+FMA or the portable baseline).
// The includer provides <cstring>, <immintrin.h> (AVX builds) and simd.h
// before opening its namespace.

#if defined(__FAST_MATH__) || (defined(__FINITE_MATH_ONLY__) && __FINITE_MATH_ONLY__)
#error "the fold keeps padding out of the candidate lists with NaN offsets: build without -ffast-math"
#endif

typedef float v8f __attribute__((vector_size(32)));
typedef int v8i __attribute__((vector_size(32)));

static inline v8f load8(const float* p) {
    v8f r;
    std::memcpy(&r, p, sizeof r);
    return r;
}
static inline void store8(float* p, v8f v) { std::memcpy(p, &v, sizeof v); }
static inline v8f splat(float x) { return v8f{x, x, x, x, x, x, x, x}; }
static inline v8f vmax(v8f a, v8f b) { return a > b ? a : b; }  // one vmaxps with AVX
static inline int mask_bits(v8i m) {
#if defined(__AVX__)
    return _mm256_movemask_ps(reinterpret_cast<__m256>(m));
#else
    int bits = 0;
    for (int l = 0; l < 8; ++l) bits |= (m[l] != 0) << l;
    return bits;
#endif
}

static inline void offer_pair(hf::TopKSet* rows, hf::TopKSet* cols, int64_t gi, int64_t gj, float key,
                              bool same_set = true) {
    if (key <= rows->thr()[gi]) rows->push(gi, key, gj);
    if (cols && (gj != gi || !same_set) && key <= cols->thr()[gj]) cols->push(gj, key, gi);
}

// The column thresholds of the micro-tile at jq within a fold's strip (thr()
// is padded: always in bounds), or -inf where only rows have lists.
static inline void column_limits(const hf::TileFold& f, int jq, v8f& c0, v8f& c1) {
    const float* cthr = f.cols ? f.cols->thr() + f.col0 + jq : nullptr;
    c0 = cthr ? load8(cthr) : splat(-__builtin_inff());
    c1 = cthr ? load8(cthr + 8) : splat(-__builtin_inff());
}

// Slow path of fold_tile: offers every key of a micro-tile that passes its
// row's or its column's threshold. keys: the micro-tile's keys, row after row
// (NaN in padding); jq: the micro-tile's first column within the strip. The
// hits of all rows are gathered as bits 16 r + l first, so the walk over them
// is one loop.
__attribute__((noinline)) static void offer_tile(const float (&keys)[hf::kMR][hf::kNR], const hf::TileFold& f, int jq) {
    static_assert(hf::kMR * hf::kNR <= 128 && hf::kNR == 16, "hit bits must fit two 64-bit words");
    const int64_t col0 = f.col0 + jq;
    const float* rthr = f.rows->thr() + f.row0;
    v8f c0, c1;
    column_limits(f, jq, c0, c1);
    uint64_t words[2] = {0, 0};
    for (int r = 0; r < hf::kMR; ++r) {
        const v8f tr = splat(rthr[r]);
        const uint64_t bits = static_cast<uint64_t>(mask_bits(load8(keys[r]) <= vmax(tr, c0)) |
                                                    mask_bits(load8(keys[r] + 8) <= vmax(tr, c1)) << 8);
        words[r / 4] |= bits << (16 * (r % 4));
    }
    const float* flat = &keys[0][0];
    for (int w = 0; w < 2; ++w) {
        for (uint64_t bits = words[w]; bits; bits &= bits - 1) {
            const int b = 64 * w + __builtin_ctzll(bits);
            offer_pair(f.rows, f.cols, f.row0 + b / hf::kNR, col0 + b % hf::kNR, flat[b], f.same_set);
        }
    }
}

// Turns the dot products of a micro-tile into keys, stores them and tests
// them all against max(row threshold, column threshold) with one branch per
// micro-tile: almost every tile has no candidate. alpha and beta are NaN past
// the valid rows and columns, so padding never passes.
__attribute__((always_inline)) static inline void fold_tile(const v8f (&acc)[hf::kMR][2], const hf::TileFold& f, int jq) {
    const v8f vg = splat(f.gamma);
    const v8f b0 = load8(f.beta + jq), b1 = load8(f.beta + jq + 8);
    const float* rthr = f.rows->thr() + f.row0;  // padded: rows past the last point read +inf
    v8f c0, c1;
    column_limits(f, jq, c0, c1);
    float keys[hf::kMR][hf::kNR] __attribute__((aligned(32)));
    v8i any = v8i{};
#pragma GCC unroll 6
    for (int r = 0; r < hf::kMR; ++r) {
        const v8f ar = splat(f.alpha[r]);
        const v8f k0 = ar + b0 + vg * acc[r][0], k1 = ar + b1 + vg * acc[r][1];
        store8(keys[r], k0);
        store8(keys[r] + 8, k1);
        const v8f tr = splat(rthr[r]);
        any |= (k0 <= vmax(tr, c0)) | (k1 <= vmax(tr, c1));
    }
    if (mask_bits(any)) offer_tile(keys, f, jq);
}

static void microkernel(int kc, const float* __restrict a, int64_t lda, const float* __restrict b, int panels,
                        float* __restrict c, int ldc, bool accumulate, const hf::TileFold* fold) {
    for (int q = 0; q < panels; ++q, b += hf::kNR * kc, c += hf::kNR) {
        const v8f* bp = static_cast<const v8f*>(__builtin_assume_aligned(b, 32));
        v8f acc[hf::kMR][2];
#pragma GCC unroll 6
        for (int r = 0; r < hf::kMR; ++r) acc[r][0] = acc[r][1] = v8f{};  // not "= {}": that became a rep stos
#pragma GCC unroll 4
        for (int p = 0; p < kc; ++p) {
            const v8f b0 = bp[0], b1 = bp[1];
#pragma GCC unroll 6
            for (int r = 0; r < hf::kMR; ++r) {
                const v8f ar = splat(a[r * lda + p]);
                acc[r][0] += ar * b0;
                acc[r][1] += ar * b1;
            }
            bp += 2;
        }
        if (accumulate) {
#pragma GCC unroll 6
            for (int r = 0; r < hf::kMR; ++r) {
                const v8f* cr = static_cast<const v8f*>(__builtin_assume_aligned(c + r * ldc, 32));
                acc[r][0] += cr[0];
                acc[r][1] += cr[1];
            }
        }
        if (fold) {
            fold_tile(acc, *fold, q * hf::kNR);
            continue;
        }
#pragma GCC unroll 6
        for (int r = 0; r < hf::kMR; ++r) {
            v8f* cr = static_cast<v8f*>(__builtin_assume_aligned(c + r * ldc, 32));
            cr[0] = acc[r][0];
            cr[1] = acc[r][1];
        }
    }
}

// out[c * 16 + r] = src[r * ld + c] for 16 rows and kc features: the B panel
// layout, built with 8 x 8 register transposes where AVX is available.
static void pack16(const float* __restrict src, int64_t ld, int kc, float* __restrict out) {
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
            float* o = out + c * 16 + half * 8;
            _mm256_storeu_ps(o, r0);
            _mm256_storeu_ps(o + 16, r1);
            _mm256_storeu_ps(o + 32, r2);
            _mm256_storeu_ps(o + 48, r3);
            _mm256_storeu_ps(o + 64, r4);
            _mm256_storeu_ps(o + 80, r5);
            _mm256_storeu_ps(o + 96, r6);
            _mm256_storeu_ps(o + 112, r7);
        }
    }
#endif
    for (; c < kc; ++c)
        for (int r = 0; r < 16; ++r) out[c * 16 + r] = src[r * ld + c];
}

static inline void offer(const hf::ScanArgs& s, int i, int j, float key) {
    offer_pair(s.rows, s.cols, s.row0 + i, s.col0 + j, key);
}

static void scan(const hf::ScanArgs& s) {
    const v8f vg = splat(s.gamma);
    const float* rthr = s.rows->thr();
    const float* cthr = s.cols ? s.cols->thr() + s.col0 : nullptr;
    for (int i = 0; i < s.m; ++i) {
        const float* crow = s.c + static_cast<int64_t>(i) * s.ldc;
        const float a = s.alpha[i];
        int j = s.diag == 0 ? 0 : (s.diag == 1 ? i + 1 : i);
        for (; j < s.n && (j & 7); ++j) offer(s, i, j, a + s.beta[j] + s.gamma * crow[j]);
        const v8f va = splat(a);
        for (; j + 8 <= s.n; j += 8) {
            const v8f key = va + load8(s.beta + j) + vg * load8(crow + j);
            v8i hit = key <= splat(rthr[s.row0 + i]);
            if (cthr) hit |= key <= load8(cthr + j);
            for (int bits = mask_bits(hit); bits; bits &= bits - 1) {
                const int l = __builtin_ctz(bits);
                offer(s, i, j + l, key[l]);
            }
        }
        for (; j < s.n; ++j) offer(s, i, j, a + s.beta[j] + s.gamma * crow[j]);
    }
}
