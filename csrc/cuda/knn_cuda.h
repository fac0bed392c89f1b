// fp32 candidate pass on an NVIDIA GPU (the float64 certification runs in knn_cpu).
#pragma once
#include <cstdint>

#include <stdexcept>

namespace hf {
struct DeviceOutOfMemory : std::runtime_error {
    using std::runtime_error::runtime_error;
};
// Device pointers: q [nq x d], x [nx x d] row-major fp32; q_off [nq], x_off [nx]:
// key(i, j) = q_off[i] + x_off[j] + gamma * <q_i, x_j>. Writes the cap best
// (key, id) of each query (ties by id), padded with +inf / -1.
void knn_candidates_cuda(const float* q, int64_t nq, const float* x, int64_t nx, int64_t d, const float* q_off,
                         const float* x_off, float gamma, bool exclude_same_index, int cap, float* keys, int64_t* ids,
                         void* stream);
}  // namespace hf
