// The portable scalar reference of the AMX pass: the same packs, strip walk
// and offers as simd_amx.cpp. tdpbssd's int32 sums are exact (the int8x4
// scheme: the reference equals the tiles bit for bit); tdpbf16ps is emulated as the ISA fixes it:
// bf16 x bf16 products (exact in fp32), each accumulation rounded to nearest
// even, denormal results flushed to zero, MXCSR ignored. The order of the
// additions inside one instruction is not specified; the reference adds in the
// pseudocode's order (features in order, one rounding each), which the
// hardware need not follow: tests compare both with the bound, never with
// each other. Built with -ffp-contract=off: every operation below is one IEEE
// operation, the fused ones are explicit std::fma calls.
#include <cmath>
#include <cstring>

#include "amx.h"
#include "amx_walk.h"

namespace hf {
namespace {

inline float bf16_value(uint16_t bits) {
    const uint32_t b = static_cast<uint32_t>(bits) << 16;
    float f;
    std::memcpy(&f, &b, sizeof f);
    return f;
}

// A denormal fp32 result flushed to (signed) zero, as tdpbf16ps does.
inline float flush(float v) { return std::fabs(v) < static_cast<float>(kFp32MinNormal) ? std::copysign(0.f, v) : v; }

// Emulated strip product: C[r][c] over hi*mid, mid*hi, hi*hi in the kernel's order.
void strip_product(const AmxSide& a, int64_t si, const AmxSide& b, int64_t sj, float* c) {
    static constexpr int kPa[3] = {0, 1, 0}, kPb[3] = {1, 0, 0};
    for (int r = 0; r < kAmxStrip; ++r)
        for (int col = 0; col < kAmxStrip; ++col) {
            const int64_t ta = 2 * si + r / 16, tb = 2 * sj + col / 16;
            const int ra = r % 16, rb = col % 16;
            float acc = 0.f;
            for (int q = 0; q < 3; ++q) {
                const uint16_t* pa = a.a_tile(kPa[q], ta);
                const uint16_t* pb = b.b_tile(kPb[q], tb);
                for (int64_t ch = 0; ch < a.nch; ++ch)
                    for (int e = 0; e < kAmxChunk; ++e) {
                        const float x = bf16_value(pa[ch * kAmxTile + ra * kAmxChunk + e]);
                        const float y = bf16_value(pb[ch * kAmxTile + (e / 2) * kAmxChunk + 2 * rb + e % 2]);
                        acc = flush(std::fma(x, y, acc));  // x * y is exact in fp32 (or below 2^-126: flushed)
                    }
            }
            c[r * kAmxStrip + col] = acc;
        }
}

// Emulated int8x4 strip product (amx.h): X = q1.q1', Y = q1.q2' + q2.q1', Z =
// q2.q2' in exact integers, then combined as the tiles' fold does.
void strip_product_int8(const AmxSide& a, int64_t si, const AmxSide& b, int64_t sj, float* c) {
    for (int r = 0; r < kAmxStrip; ++r)
        for (int col = 0; col < kAmxStrip; ++col) {
            const int64_t ta = 2 * si + r / 16, tb = 2 * sj + col / 16;
            const int ra = r % 16, rb = col % 16;
            int64_t sum[2][2] = {};
            for (int pa = 0; pa < 2; ++pa)
                for (int pb = 0; pb < 2; ++pb) {
                    const auto* qa = reinterpret_cast<const int8_t*>(a.a_tile(pa, ta));
                    const auto* qb = reinterpret_cast<const int8_t*>(b.b_tile(pb, tb));
                    for (int64_t ch = 0; ch < a.nch; ++ch)
                        for (int e = 0; e < kAmxChunkInt8; ++e)
                            sum[pa][pb] += qa[ch * 1024 + ra * 64 + e] * qb[ch * 1024 + (e / 4) * 64 + 4 * rb + e % 4];
                }
            c[r * kAmxStrip + col] =
                amx_int8_dot(static_cast<int32_t>(sum[0][0]), static_cast<int32_t>(sum[0][1] + sum[1][0]),
                             static_cast<int32_t>(sum[1][1]), a.sigma[si * kAmxStrip + r] * b.sigma[sj * kAmxStrip + col]);
        }
}

void strip_product_any(const AmxSide& a, int64_t si, const AmxSide& b, int64_t sj, float* c) {
    a.scheme == AmxScheme::Int8x4 ? strip_product_int8(a, si, b, sj, c) : strip_product(a, si, b, sj, c);
}

inline float key_of(float alpha, float beta, float dot) { return std::fma(-2.f, dot, alpha + beta); }

void fold_strip(const AmxPair& p, const float* c, int64_t gi0, int64_t gj0, int diag) {
    const float neg_inf = -__builtin_inff();
    for (int r = 0; r < kAmxStrip; ++r) {
        const float tr = p.rows ? p.rows->thr()[gi0 + r] : neg_inf;
        const uint32_t cols = diag ? amx_diag_columns(diag, r) : ~0u;
        for (int col = 0; col < kAmxStrip; ++col) {
            if (!((cols >> col) & 1)) continue;
            const float key = key_of(p.a->offset[gi0 + r], p.b->offset[gj0 + col], c[r * kAmxStrip + col]);
            const float tc = p.cols ? p.cols->thr()[gj0 + col] : neg_inf;
            if (key <= std::fmax(tr, tc)) amx_offer(p, gi0 + r, gj0 + col, key);  // false for NaN padding
        }
    }
}

void pair_reference(const AmxPair& p) {
    amx_walk(p,
             [&](int64_t si, int64_t sj, int count, float (*c)[kAmxStrip * kAmxStrip]) {
                 for (int t = 0; t < count; ++t) strip_product_any(*p.a, si, *p.b, sj + t, c[t]);
             },
             [&](const float* c, int64_t gi0, int64_t gj0, int diag) { fold_strip(p, c, gi0, gj0, diag); });
}

void block_keys_reference(const AmxPair& p, float* keys, int ldk) {
    amx_walk(p,
             [&](int64_t si, int64_t sj, int count, float (*c)[kAmxStrip * kAmxStrip]) {
                 for (int t = 0; t < count; ++t) strip_product_any(*p.a, si, *p.b, sj + t, c[t]);
             },
             [&](const float* c, int64_t gi0, int64_t gj0, int) {
                 for (int r = 0; r < kAmxStrip; ++r)
                     for (int col = 0; col < kAmxStrip; ++col)
                         keys[(gi0 - p.r0 + r) * ldk + (gj0 - p.c0 + col)] =
                             key_of(p.a->offset[gi0 + r], p.b->offset[gj0 + col], c[r * kAmxStrip + col]);
             });
}

void no_setup() {}

}  // namespace

const AmxPass& amx_pass_reference() {
    static const AmxPass pass{"amx-reference", no_setup, no_setup, pair_reference, block_keys_reference};
    return pass;
}

void amx_keys_reference(const AmxSide& a, const AmxSide& b, float* out) {
    float c[kAmxStrip * kAmxStrip];
    for (int64_t si = 0; si < a.n_pad / kAmxStrip; ++si)
        for (int64_t sj = 0; sj < b.n_pad / kAmxStrip; ++sj) {
            strip_product_any(a, si, b, sj, c);
            for (int r = 0; r < kAmxStrip && si * kAmxStrip + r < a.n; ++r)
                for (int col = 0; col < kAmxStrip && sj * kAmxStrip + col < b.n; ++col) {
                    const int64_t i = si * kAmxStrip + r, j = sj * kAmxStrip + col;
                    out[i * b.n + j] = key_of(a.offset[i], b.offset[j], c[r * kAmxStrip + col]);
                }
        }
}

}  // namespace hf
