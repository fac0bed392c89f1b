// The normal generator's kernel, compiled once per instruction set inside a
// namespace (normals.cpp, normals_avx2.cpp, normals_avx512.cpp). Every level
// computes the same IEEE operations in the same order (those files are built
// with -ffp-contract=off and every multiply-add is an explicit fma), so the
// values are the same bits at every level; the compiler only vectorises the
// 16 lanes of a chunk.
//
// The stream of a key (k0, k1, c2, c3): Philox4x32-10 (Salmon et al., SC'11)
// with key (k0, k1) maps counter (b mod 2^32, b div 2^32, c2, c3) of block b
// to four 32-bit words w0..w3. Chunk c holds blocks 16 c + l, l < 16, and its
// 64 values are out[16 j + l]: j = 0, 1 the pair of block l's (w0, w1), j =
// 2, 3 that of (w2, w3). A pair (a, t) becomes two normals by Box-Muller:
// radius sqrt(-2 ln u) with u = fl32(fl32(a div 2) 2^-31 + 2^-32) in (0, 1]
// (fl32: rounded to float32), angle 2 pi (t div 2^8) 2^-24 (24 bits of a
// turn); values cos, sin times the radius.
//
// ln, cos and sin are polynomials on reduced arguments, in float32:
// - ln u: u = 2^e m with m in [sqrt(1/2), sqrt(2)) (integer operations on the
//   bits), ln m = 2 atanh(s), s = (m - 1) / (m + 1), |s| < 0.172, its series to
//   s^9 (truncation below 1e-9), plus e ln 2 in two parts;
// - the angle: the nearest quarter turn q is split off in integers, leaving x
//   in [-pi/4, pi/4]; sin x and cos x by their Taylor series to x^9 and x^10
//   (truncation below 3e-9), then rotated by q quarter turns (swaps and sign
//   flips, exact).
// The largest value the stream can reach is 6.660437 (about sqrt(-2 ln 2^-32)).
// Included inside a namespace: the including file has included normals.h
// (<cstdint>) and <cstring>.

__attribute__((always_inline)) inline float normal_bits_to_float(uint32_t b) {
    float f;
    std::memcpy(&f, &b, sizeof f);
    return f;
}
__attribute__((always_inline)) inline uint32_t normal_float_to_bits(float f) {
    uint32_t b;
    std::memcpy(&b, &f, sizeof b);
    return b;
}

// ln u for u in (0, 1].
__attribute__((always_inline)) inline float normal_ln(float u) {
    // Adding 1 - sqrt(1/2) in the bits moves the exponent's step to where the
    // mantissa passes sqrt(2); the mantissa is then put back above sqrt(1/2).
    constexpr uint32_t kSqrtHalf = 0x3f3504f3u;
    const uint32_t b = normal_float_to_bits(u) + (0x3f800000u - kSqrtHalf);
    const int32_t e = static_cast<int32_t>(b >> 23) - 127;
    const float m = normal_bits_to_float((b & 0x7fffffu) + kSqrtHalf);
    const float s = (m - 1.f) / (m + 1.f), s2 = s * s;
    float p = __builtin_fmaf(s2, 1.f / 9, 1.f / 7);
    p = __builtin_fmaf(p, s2, 1.f / 5);
    p = __builtin_fmaf(p, s2, 1.f / 3);
    const float ln_m = __builtin_fmaf(2.f * s * s2, p, 2.f * s);
    const float ef = static_cast<float>(e);
    // ln 2 = 0.693145751953125 (15 significant bits, so ef times it is exact) + 1.4286068e-6
    return __builtin_fmaf(ef, 0.693145751953125f, __builtin_fmaf(ef, 1.42860677e-6f, ln_m));
}

// The two normals of the word pair (a, t).
__attribute__((always_inline)) inline void normal_pair(uint32_t a, uint32_t t, float& z_cos, float& z_sin) {
    const float u = __builtin_fmaf(static_cast<float>(static_cast<int32_t>(a >> 1)), 0x1p-31f, 0x1p-32f);
    const float radius = __builtin_sqrtf(-2.f * normal_ln(u));
    const int32_t turn = static_cast<int32_t>(t >> 8);  // the angle in units of 2^-24 turns
    const int32_t q = (turn + (1 << 21)) >> 22;         // the nearest quarter turn, 0..4
    const float x = static_cast<float>(turn - q * (1 << 22)) * 3.74507028e-7f;  // times 2 pi 2^-24
    const float x2 = x * x;
    float sp = __builtin_fmaf(x2, 2.75573192e-6f, -1.98412698e-4f);
    sp = __builtin_fmaf(sp, x2, 8.33333333e-3f);
    sp = __builtin_fmaf(sp, x2, -1.66666667e-1f);
    const uint32_t sin_x = normal_float_to_bits(__builtin_fmaf(sp * x2, x, x));
    float cp = __builtin_fmaf(x2, -2.75573192e-7f, 2.48015873e-5f);
    cp = __builtin_fmaf(cp, x2, -1.38888889e-3f);
    cp = __builtin_fmaf(cp, x2, 4.16666667e-2f);
    cp = __builtin_fmaf(cp, x2, -0.5f);
    const uint32_t cos_x = normal_float_to_bits(__builtin_fmaf(cp, x2, 1.f));
    // Rotate by q quarter turns: odd q swaps cos and sin; the signs follow
    // (cos, sin) -> (-sin, cos) per turn. Bit operations: no branches to vectorise.
    const uint32_t qu = static_cast<uint32_t>(q), odd = 0u - (qu & 1u);
    const uint32_t c = (sin_x & odd) | (cos_x & ~odd), s = (cos_x & odd) | (sin_x & ~odd);
    z_cos = radius * normal_bits_to_float(c ^ (((qu + 1u) & 2u) << 30));
    z_sin = radius * normal_bits_to_float(s ^ ((qu & 2u) << 30));
}

// One Philox4x32-10 block in place.
__attribute__((always_inline)) inline void philox_block(uint32_t& x0, uint32_t& x1, uint32_t& x2, uint32_t& x3,
                                                        uint32_t k0, uint32_t k1) {
#pragma GCC unroll 10
    for (int r = 0; r < 10; ++r) {
        const uint64_t p0 = uint64_t{0xD2511F53u} * x0, p1 = uint64_t{0xCD9E8D57u} * x2;
        const uint32_t y0 = static_cast<uint32_t>(p1 >> 32) ^ x1 ^ k0, y2 = static_cast<uint32_t>(p0 >> 32) ^ x3 ^ k1;
        x0 = y0;
        x1 = static_cast<uint32_t>(p1);
        x2 = y2;
        x3 = static_cast<uint32_t>(p0);
        k0 += 0x9E3779B9u;  // the key schedule (Weyl sequence)
        k1 += 0xBB67AE85u;
    }
}

void normal_chunks(const hf::NormalKey& key, uint64_t chunk0, int64_t n_chunks, float* out) {
    for (int64_t c = 0; c < n_chunks; ++c) {
        float* o = out + c * hf::kNormalChunk;
        const uint64_t first = (chunk0 + static_cast<uint64_t>(c)) * hf::kNormalLanes;
#pragma omp simd
        for (int l = 0; l < hf::kNormalLanes; ++l) {
            const uint64_t block = first + static_cast<uint64_t>(l);
            uint32_t x0 = static_cast<uint32_t>(block), x1 = static_cast<uint32_t>(block >> 32), x2 = key.w[2],
                     x3 = key.w[3];
            philox_block(x0, x1, x2, x3, key.w[0], key.w[1]);
            float z0, z1, z2, z3;
            normal_pair(x0, x1, z0, z1);
            normal_pair(x2, x3, z2, z3);
            o[l] = z0;
            o[hf::kNormalLanes + l] = z1;
            o[2 * hf::kNormalLanes + l] = z2;
            o[3 * hf::kNormalLanes + l] = z3;
        }
    }
}
