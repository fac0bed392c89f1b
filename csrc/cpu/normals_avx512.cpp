// The normal generator's kernel built with the avx512 instruction set (this file
// alone gets those flags; normals_impl.h has the kernel, the same bits at
// every level).
#include <cstring>

#include "normals.h"

namespace hf {
namespace normals_avx512 {
#include "normals_impl.h"
}  // namespace normals_avx512

void normal_chunks_avx512(const NormalKey& key, uint64_t chunk0, int64_t n_chunks, float* out) {
    normals_avx512::normal_chunks(key, chunk0, n_chunks, out);
}
}  // namespace hf
