// AVX2 + FMA build of the kernels (this file alone is compiled with -mavx2 -mfma):
// 6 x 16 micro-tiles, two 8-float vectors per row (12 accumulators of 16 registers).
#include <algorithm>
#include <cstring>
#include <immintrin.h>

#include "simd.h"

namespace hf {
namespace simd_avx2 {
constexpr int kW = 8;
constexpr int kNR = 16;
#include "simd_impl.h"
}  // namespace simd_avx2

const Kernels& kernels_avx2() {
    static const Kernels k{"avx2", simd_avx2::kNR, simd_avx2::microkernel, simd_avx2::pack_panel, simd_avx2::scan};
    return k;
}
}  // namespace hf
