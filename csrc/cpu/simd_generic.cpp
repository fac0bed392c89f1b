// Portable build of the kernels (baseline x86-64 / any target): 6 x 16 micro-tiles of 8-float vectors.
#include <algorithm>
#include <cstring>

#include "simd.h"

namespace hf {
namespace simd_generic {
constexpr int kW = 8;
constexpr int kNR = 16;
#include "simd_impl.h"
}  // namespace simd_generic

const Kernels& kernels_generic() {
    static const Kernels k{"generic", simd_generic::kNR, simd_generic::microkernel, simd_generic::pack_panel, simd_generic::scan};
    return k;
}

}  // namespace hf
