// The normal generator's kernel built with the avx512 instruction set (this file
// alone gets those flags; normals_impl.h has the kernel, the same bits at
// every level).
#include <cstring>

#include "normals.h"

namespace hf {
namespace normals_avx512 {
#include "normals_impl.h"
}  // namespace normals_avx512
}  // namespace hf
