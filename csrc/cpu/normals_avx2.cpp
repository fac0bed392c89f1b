// The normal generator's kernel built with the avx2 instruction set (this file
// alone gets those flags; normals_impl.h has the kernel, the same bits at
// every level).
#include <cstring>

#include "normals.h"

namespace hf {
namespace normals_avx2 {
#include "normals_impl.h"
}  // namespace normals_avx2

void normal_chunks_avx2(const NormalKey& key, uint64_t chunk0, int64_t n_chunks, float* out) {
    normals_avx2::normal_chunks(key, chunk0, n_chunks, out);
}
}  // namespace hf
