// The normal generator's portable build, the choice of its build by kernel
// level, and the threads (normals.h; the kernel is in normals_impl.h).
#include "normals.h"

#include <algorithm>
#include <cstring>

#include <omp.h>

#include "simd.h"

namespace hf {
namespace normals_generic {
#include "normals_impl.h"
}  // namespace normals_generic

void philox4x32_10(uint32_t ctr[4], const uint32_t key[2]) {
    normals_generic::philox_block(ctr[0], ctr[1], ctr[2], ctr[3], key[0], key[1]);
}

namespace {

NormalChunks chunks_for(const std::string& level) {
    const std::string name = select_kernels(level).name;  // a level this CPU lacks throws, naming the others
#if defined(HF_BUILD_AVX512)
    if (name == "avx512" || name == "amx") return normals_avx512::normal_chunks;
#endif
#if defined(HF_BUILD_AVX2)
    if (name == "avx2") return normals_avx2::normal_chunks;
#endif
    return normals_generic::normal_chunks;
}

}  // namespace

void fill_normals(const NormalKey& key, uint64_t chunk0, int64_t n, float* out, const std::string& level,
                  int n_threads) {
    const NormalChunks chunks = chunks_for(level);
    const int64_t whole = n / kNormalChunk, rest = n - whole * kNormalChunk;
    constexpr int64_t kPerTask = 256;  // chunks per task: 64 KiB of output
    const int64_t tasks = (whole + kPerTask - 1) / kPerTask;
    const int threads = n_threads > 0 ? n_threads : omp_get_max_threads();
#pragma omp parallel for schedule(static) num_threads(threads) if (tasks > 1)
    for (int64_t t = 0; t < tasks; ++t) {
        const int64_t c0 = t * kPerTask, c1 = std::min(whole, c0 + kPerTask);
        chunks(key, chunk0 + static_cast<uint64_t>(c0), c1 - c0, out + c0 * kNormalChunk);
    }
    if (rest) {
        float last[kNormalChunk];
        chunks(key, chunk0 + static_cast<uint64_t>(whole), 1, last);
        std::memcpy(out + whole * kNormalChunk, last, static_cast<size_t>(rest) * sizeof(float));
    }
}

}  // namespace hf
