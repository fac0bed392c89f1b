// Tiled fp32 k-NN candidate kernel with a fused top-k: a block owns kTQ query
// rows and sweeps the database kTX columns at a time. A 16 x 16 thread grid
// computes the kTQ x kTX dot tile in registers (4 x 4 per thread) from
// shared-memory stages of depth kTK; keys that pass a row's threshold are
// staged in shared memory and one thread per row inserts them into the row's
// sorted list (shared memory, ties by id). Distance tiles never reach global
// memory; only the final lists do.
#include <cuda_runtime.h>

#include <cfloat>
#include <stdexcept>
#include <string>

#include "knn_cuda.h"

namespace hf {
namespace {

constexpr int kTQ = 64;       // query rows per block
constexpr int kTX = 64;       // database columns per tile
constexpr int kTK = 16;       // depth of one shared-memory stage
constexpr int kThreads = 256; // 16 x 16, each thread owns 4 x 4 outputs
constexpr int kMaxCap = 136;  // list length limit of this kernel (k <= 133)

void check(cudaError_t err, const char* what) {
    if (err == cudaErrorMemoryAllocation) throw DeviceOutOfMemory(std::string(what) + ": out of GPU memory");
    if (err != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(err));
}

__device__ inline bool less(float ka, int64_t ia, float kb, int64_t ib) { return ka < kb || (ka == kb && ia < ib); }

struct alignas(16) Shared {
    float q[kTK][kTQ + 1];
    float x[kTK][kTX + 1];
    float stage_key[kTQ][kTX];
    int stage_col[kTQ][kTX];
    int stage_n[kTQ];
    float thr[kTQ];
    int size[kTQ];
};

__global__ void candidates_kernel(const float* __restrict__ q, int64_t nq, const float* __restrict__ x, int64_t nx,
                                  int64_t d, const float* __restrict__ q_off, const float* __restrict__ x_off,
                                  float gamma, bool exclude_same, int cap, float* __restrict__ out_keys,
                                  int64_t* __restrict__ out_ids) {
    extern __shared__ unsigned char raw[];
    Shared& s = *reinterpret_cast<Shared*>(raw);
    float* list_key = reinterpret_cast<float*>(raw + sizeof(Shared));  // [kTQ][cap]
    int64_t* list_id = reinterpret_cast<int64_t*>(list_key + kTQ * cap + (kTQ * cap) % 2);

    const int tid = threadIdx.x, ty = tid / 16, tx = tid % 16;
    const int64_t q0 = static_cast<int64_t>(blockIdx.x) * kTQ;
    if (tid < kTQ) {
        s.size[tid] = 0;
        s.thr[tid] = FLT_MAX * 2.0f;  // +inf: nothing kept yet
        s.stage_n[tid] = 0;
    }
    __syncthreads();
    for (int64_t x0 = 0; x0 < nx; x0 += kTX) {
        float acc[4][4] = {};
        for (int64_t p0 = 0; p0 < d; p0 += kTK) {
            for (int e = tid; e < kTK * kTQ; e += kThreads) {  // stage kTK features of the rows and columns
                const int r = e / kTK, c = e % kTK;
                const int64_t gq = q0 + r, gx = x0 + r, f = p0 + c;
                s.q[c][r] = (gq < nq && f < d) ? q[gq * d + f] : 0.f;
                s.x[c][r] = (gx < nx && f < d) ? x[gx * d + f] : 0.f;
            }
            __syncthreads();
#pragma unroll
            for (int c = 0; c < kTK; ++c) {
                float a[4], b[4];
#pragma unroll
                for (int i = 0; i < 4; ++i) a[i] = s.q[c][ty * 4 + i];
#pragma unroll
                for (int j = 0; j < 4; ++j) b[j] = s.x[c][tx * 4 + j];
#pragma unroll
                for (int i = 0; i < 4; ++i)
#pragma unroll
                    for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
            }
            __syncthreads();
        }
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            const int r = ty * 4 + i;
            const int64_t gq = q0 + r;
            if (gq >= nq) continue;
#pragma unroll
            for (int j = 0; j < 4; ++j) {
                const int c = tx * 4 + j;
                const int64_t gx = x0 + c;
                if (gx >= nx || (exclude_same && gx == gq)) continue;
                const float key = fmaf(gamma, acc[i][j], q_off[gq] + x_off[gx]);
                if (key <= s.thr[r]) {
                    const int slot = atomicAdd(&s.stage_n[r], 1);  // at most kTX per row and tile
                    s.stage_key[r][slot] = key;
                    s.stage_col[r][slot] = c;
                }
            }
        }
        __syncthreads();
        if (tid < kTQ) {  // one thread per row merges its staged candidates
            float* lk = list_key + tid * cap;
            int64_t* li = list_id + tid * cap;
            int size = s.size[tid];
            for (int t = 0; t < s.stage_n[tid]; ++t) {
                const float key = s.stage_key[tid][t];
                const int64_t id = x0 + s.stage_col[tid][t];
                if (size == cap && !less(key, id, lk[cap - 1], li[cap - 1])) continue;
                int pos = size < cap ? size++ : cap - 1;
                for (; pos > 0 && less(key, id, lk[pos - 1], li[pos - 1]); --pos) {
                    lk[pos] = lk[pos - 1];
                    li[pos] = li[pos - 1];
                }
                lk[pos] = key;
                li[pos] = id;
            }
            s.size[tid] = size;
            s.stage_n[tid] = 0;
            if (size == cap) s.thr[tid] = lk[cap - 1];
        }
        __syncthreads();
    }
    if (tid < kTQ && q0 + tid < nq) {
        const int64_t row = q0 + tid;
        for (int t = 0; t < cap; ++t) {
            const bool have = t < s.size[tid];
            out_keys[row * cap + t] = have ? list_key[tid * cap + t] : FLT_MAX * 2.0f;
            out_ids[row * cap + t] = have ? list_id[tid * cap + t] : -1;
        }
    }
}

}  // namespace

void knn_candidates_cuda(const float* q, int64_t nq, const float* x, int64_t nx, int64_t d, const float* q_off,
                         const float* x_off, float gamma, bool exclude_same_index, int cap, float* keys, int64_t* ids,
                         void* stream) {
    if (cap < 1 || cap > kMaxCap)
        throw std::invalid_argument("the CUDA kernel keeps at most " + std::to_string(kMaxCap) +
                                    " candidates per row (k <= " + std::to_string(kMaxCap - 3) + "); use the CPU engine");
    const size_t lists = static_cast<size_t>(kTQ) * cap;
    const size_t smem = sizeof(Shared) + (lists + lists % 2) * sizeof(float) + lists * sizeof(int64_t);
    check(cudaFuncSetAttribute(candidates_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)),
          "cudaFuncSetAttribute(candidates_kernel)");
    const unsigned blocks = static_cast<unsigned>((nq + kTQ - 1) / kTQ);
    candidates_kernel<<<blocks, kThreads, smem, static_cast<cudaStream_t>(stream)>>>(
        q, nq, x, nx, d, q_off, x_off, gamma, exclude_same_index, cap, keys, ids);
    check(cudaGetLastError(), "launch of candidates_kernel");
}

}  // namespace hf
