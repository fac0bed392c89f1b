// AVX-512 build of the kernels (this file alone is compiled with -mavx512f
// -mavx512vl -mavx512bw -mavx512dq -mfma). B panels are 48 columns wide and a
// micro-tile is 6 x 48: 18 accumulators of the 32 registers, and per feature
// 3 vector loads (one 192-byte stream) and 6 broadcasts for 18 multiply-adds.
// 6 x 16 tiles (6 accumulators, 7 loads per 6 multiply-adds) and 12 x 16
// (13 per 12) are bound by loads and latency, about 0.7 of the FMA peak; 6 x 48
// keeps the 6-row micro-tiles of the other levels (benchmarks/cpu/TUNING.md).
#include <algorithm>
#include <cstring>
#include <immintrin.h>

#include "simd.h"

namespace hf {
namespace simd_avx512 {
constexpr int kW = 16;
constexpr int kNR = 48;
#include "simd_impl.h"
}  // namespace simd_avx512

const Kernels& kernels_avx512() {
    static const Kernels k{"avx512", simd_avx512::kNR, simd_avx512::microkernel, simd_avx512::pack_panel, simd_avx512::scan};
    return k;
}
}  // namespace hf
