// AVX-512 build of the kernels (this file alone is compiled with -mavx512f
// -mavx512vl -mavx512bw -mavx512dq -mfma). A micro-tile is 6 rows x 3 panels
// (48 columns): 18 accumulators of 32 registers, and per feature 3 panel
// loads and 6 broadcast operands for 18 multiply-adds. 6 x 16 tiles (6
// accumulators, 7 loads per 6 multiply-adds) or 12 x 16 (13 per 12) are
// bound by loads and latency, about 0.7 of the FMA peak; 6 x 48 keeps the
// row count, hence every packed layout, of the other levels (benchmarks/cpu/TUNING.md).
#include <algorithm>
#include <cstring>
#include <immintrin.h>

#include "simd.h"

namespace hf {
namespace simd_avx512 {
constexpr int kW = 16;
constexpr int kTilePanels = 3;
#include "simd_impl.h"
}  // namespace simd_avx512

const Kernels& kernels_avx512() {
    static const Kernels k{"avx512", simd_avx512::microkernel, simd_avx512::pack16, simd_avx512::scan};
    return k;
}
}  // namespace hf
