// N(0, 1) float32 values from a counter-based generator, the same bits at every
// kernel level and thread count: the draws of the latent miner's pools
// (hubness_fast.engine.normals). The generator is defined in normals_impl.h.
#pragma once
#include <cstdint>
#include <string>

namespace hf {

constexpr int kNormalLanes = 16;                  // Philox blocks per chunk
constexpr int kNormalChunk = 4 * kNormalLanes;    // values per chunk (4 per block)

// The key of a stream: Philox's two key words, then the two counter words
// that every block of the stream shares.
struct NormalKey {
    uint32_t w[4];
};

// Chunks chunk0 .. chunk0 + n_chunks - 1 of the stream into out (64 values each).
using NormalChunks = void (*)(const NormalKey& key, uint64_t chunk0, int64_t n_chunks, float* out);
// normals_impl.h defines it in each level's namespace (a file of its own per instruction set).
namespace normals_generic {
void normal_chunks(const NormalKey& key, uint64_t chunk0, int64_t n_chunks, float* out);
}
namespace normals_avx2 {
void normal_chunks(const NormalKey& key, uint64_t chunk0, int64_t n_chunks, float* out);
}
namespace normals_avx512 {
void normal_chunks(const NormalKey& key, uint64_t chunk0, int64_t n_chunks, float* out);
}

// The n values of the stream from chunk chunk0 on, on n_threads threads (0:
// OpenMP's default) with the kernels of a simd level (select_kernels' names).
void fill_normals(const NormalKey& key, uint64_t chunk0, int64_t n, float* out, const std::string& level,
                  int n_threads);

// One Philox4x32-10 block: ctr <- philox(ctr, key) (the published test vectors check it).
void philox4x32_10(uint32_t ctr[4], const uint32_t key[2]);

}  // namespace hf
