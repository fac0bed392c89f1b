// The tile product: a block pair's dot products by the SIMD micro-kernel,
// depth pass after depth pass, folded into candidate lists on the last one.
#pragma once
#include <algorithm>

#include "packing.h"

namespace hf {

// Tile of dot products of rows [r0, r0+m) of `a` with rows [c0, c0+n) of `b`.
// fold_for(ir, jr) gives the TileFold of the strip of micro-tiles from column
// jr on, rows ir..ir+kMR, on the last depth pass (or nullptr: the tile is
// stored in ws.c, row stride kBlock). pre: operands laid out beforehand.
// skip_lower: micro-tiles strictly below the diagonal are skipped.
template <class T, class FoldFor>
void tile_product(const Kernels& kern, Workspace& ws, const Side<T>& a, int64_t r0, int m, const Side<T>& b,
                  int64_t c0, int n, int64_t d, const Prepacked& pre, bool skip_lower, FoldFor fold_for) {
    const int nr = kern.nr, mpad = round_up(m, kMR), npad = round_up(n, nr);
    for (int64_t p0 = 0; p0 < d; p0 += kKC) {
        const int kc = static_cast<int>(std::min<int64_t>(kKC, d - p0));
        const float* a_ptr = pre.a_rows ? pre.a_rows + p0 : ws.a.get();
        const int64_t lda = pre.a_rows ? pre.a_ld : kc;
        if (!pre.a_rows) pack_rows(a, d, r0, m, p0, kc, ws.a.get(), kc);  // contiguous rows: one stream per tile row
        const float* b_ptr = pre.b_panels ? pre.b_panels + p0 * npad : ws.b.get();
        if (!pre.b_panels) pack_panels(kern, b, d, c0, n, p0, kc, ws.b.get());
        const bool last = p0 + kKC >= d;
        for (int ic = 0; ic < mpad; ic += kMC) {
            const int iend = std::min(mpad, ic + kMC);
            for (int jc = 0; jc < npad; jc += kNC) {
                const int jend = std::min(npad, jc + kNC);
                for (int ir = ic; ir < iend; ir += kMR) {
                    // Micro-tiles strictly below the diagonal (jr + nr <= ir) are never read.
                    const int jr = skip_lower ? std::max(jc, ir / nr * nr) : jc;
                    if (jr >= jend) continue;
                    kern.microkernel(kc, a_ptr + ir * lda, lda, b_ptr + jr * kc, (jend - jr) / nr,
                                     ws.c.get() + ir * kBlock + jr, kBlock, p0 > 0, last ? fold_for(ir, jr) : nullptr);
                }
            }
        }
    }
}

}  // namespace hf
