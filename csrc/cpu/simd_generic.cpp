// Portable build of the kernels (baseline x86-64 / any target) and the run-time choice.
#include <stdexcept>

#include <algorithm>
#include <cstring>

#include "simd.h"

namespace hf {
namespace simd_generic {
#include "simd_impl.h"
}  // namespace simd_generic

const Kernels& kernels_generic() {
    static const Kernels k{"generic", simd_generic::microkernel, simd_generic::pack16, simd_generic::scan};
    return k;
}

bool cpu_has_avx2() {
#if defined(HF_BUILD_AVX2)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return false;
#endif
}

const Kernels& select_kernels(const std::string& level) {
    if (level == "generic") return kernels_generic();
    if (level == "avx2") {
        if (!cpu_has_avx2()) throw std::invalid_argument("simd='avx2' requested but this CPU lacks AVX2/FMA; use simd='auto' or 'generic'");
#if defined(HF_BUILD_AVX2)
        return kernels_avx2();
#endif
    }
    if (level != "auto") throw std::invalid_argument("simd must be 'auto', 'avx2' or 'generic', got '" + level + "'");
#if defined(HF_BUILD_AVX2)
    if (cpu_has_avx2()) return kernels_avx2();
#endif
    return kernels_generic();
}

}  // namespace hf
