// AVX2 + FMA build of the kernels (this file alone is compiled with -mavx2 -mfma).
#include <algorithm>
#include <cstring>
#include <immintrin.h>

#include "simd.h"

namespace hf {
namespace simd_avx2 {
#include "simd_impl.h"
}  // namespace simd_avx2

const Kernels& kernels_avx2() {
    static const Kernels k{"avx2", simd_avx2::microkernel, simd_avx2::pack16, simd_avx2::scan};
    return k;
}
}  // namespace hf
