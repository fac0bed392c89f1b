// The order in which the AMX pass visits the strip pairs of a block pair, and
// the rule for offering a key, shared by the tile build (simd_amx.cpp) and the
// scalar reference (amx_reference.cpp): the two differ only in how a strip
// pair's 32 x 32 dot products are formed and how the keys are compared.
#pragma once
#include <algorithm>
#include <cstdint>

#include "amx.h"

namespace hf {

constexpr int kAmxSubStrips = 6;  // strips per sub-block side: 192 x 192 points, both sides' parts (1.5 MiB at D = 512) in L2

// Offers key (point gi of a, point gj of b) to the lists that want it.
__attribute__((always_inline)) inline void amx_offer(const AmxPair& p, int64_t gi, int64_t gj, float key) {
    if (p.rows && key <= p.rows->thr()[gi]) p.rows->push(gi, key, gj);
    if (p.cols && (gj != gi || !p.same_set) && key <= p.cols->thr()[gj]) p.cols->push(gj, key, gi);
}

// The int8x4 scheme's dot product in scaled units from its exact int32 sums
// (amx.h, AmxBound::int8x4): fl32(X + fl32(Y + Z 2^-8) 2^-8) times the rows'
// powers of two sigma_i sigma_j (exact: their product stays a normal fp32).
// The tiles' fold does the same operations in AVX-512 lanes.
inline float amx_int8_dot(int32_t x, int32_t y, int32_t z, float sigmas) {
    const float t = __builtin_fmaf(static_cast<float>(z), 0x1p-8f, static_cast<float>(y));
    return __builtin_fmaf(t, 0x1p-8f, static_cast<float>(x)) * sigmas;
}

// Columns c of row r of a diagonal strip pair that may be offered: c > r
// (self excluded, diag == 1) or c >= r (diag == 2); every column otherwise.
inline uint32_t amx_diag_columns(int diag, int r) {
    if (diag == 1) return r == 31 ? 0u : ~((2u << r) - 1);
    if (diag == 2) return ~((1u << r) - 1);
    return ~0u;
}

// Calls visit(si, sj, count, diag) for the strip pairs of the block pair: a
// row strip si against `count` consecutive column strips from sj (global strip
// indices), diag the diagonal rule of the first of them (0 off the diagonal;
// only the first can lie on it). Sub-blocks of kAmxSubStrips strips keep their
// parts in L2.
template <class Visit>
void amx_walk_strips(const AmxPair& p, Visit visit) {
    const int64_t ms = (p.m + kAmxStrip - 1) / kAmxStrip, ns = (p.n + kAmxStrip - 1) / kAmxStrip;
    const int64_t si0 = p.r0 / kAmxStrip, sj0 = p.c0 / kAmxStrip;
    for (int64_t bi = 0; bi < ms; bi += kAmxSubStrips) {
        for (int64_t bj = p.diag ? bi : 0; bj < ns; bj += kAmxSubStrips) {
            for (int64_t si = bi; si < std::min(ms, bi + kAmxSubStrips); ++si) {
                const int64_t lo = std::max(bj, p.diag ? si : int64_t{0}), hi = std::min(ns, bj + kAmxSubStrips);
                if (lo >= hi) continue;
                visit(si0 + si, sj0 + lo, static_cast<int>(hi - lo), si == lo ? p.diag : 0);
            }
        }
    }
}

// amx_walk_strips calling product(si, sj, count, C) (C[t]: 32 x 32 fp32, row
// stride 32, for strip sj + t), then fold(C[t], gi0, gj0, diag) for each, gi0 /
// gj0 the first points of the strips.
template <class Product, class Fold>
void amx_walk(const AmxPair& p, Product product, Fold fold) {
    alignas(64) float c[kAmxSubStrips][kAmxStrip * kAmxStrip];
    amx_walk_strips(p, [&](int64_t si, int64_t sj, int count, int diag) {
        product(si, sj, count, c);
        for (int t = 0; t < count; ++t) fold(c[t], si * kAmxStrip, (sj + t) * kAmxStrip, t == 0 ? diag : 0);
    });
}

}  // namespace hf
