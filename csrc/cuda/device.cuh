// Device-side building blocks shared by the CUDA kernels: error checks, owned
// buffers, the per-row candidate lists and their lock-protected insertion.
#pragma once
#include <cuda_runtime.h>

#include <climits>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>

#include "knn_cuda.h"
#include "memory.h"

namespace hf::cuda {

constexpr float kInf = __builtin_huge_valf();

// Every CUDA error becomes an exception naming the call; an allocation that
// does not fit becomes DeviceOutOfMemory (MemoryError in Python).
inline void check(cudaError_t err, const char* what) {
    if (err == cudaSuccess) return;
    cudaGetLastError();  // clear a non-sticky error so that later calls can run
    if (err == cudaErrorMemoryAllocation)
        throw DeviceOutOfMemory(std::string(what) + ": out of GPU memory; use a smaller chunk or the CPU engine");
    throw std::runtime_error(std::string(what) + " failed: " + cudaGetErrorString(err));
}

template <class T>
class DeviceBuffer {
  public:
    DeviceBuffer() = default;
    explicit DeviceBuffer(size_t n, const char* what = "cudaMalloc") { reset(n, what); }
    ~DeviceBuffer() { release(); }
    DeviceBuffer(const DeviceBuffer&) = delete;
    DeviceBuffer& operator=(const DeviceBuffer&) = delete;
    void reset(size_t n, const char* what = "cudaMalloc") {
        release();
        if (n) check(cudaMalloc(&ptr_, n * sizeof(T)), what);
        size_ = n;
        count_bytes(static_cast<int64_t>(n * sizeof(T)));
    }
    T* get() const { return ptr_; }
    size_t size() const { return size_; }
    void swap(DeviceBuffer& other) {
        std::swap(ptr_, other.ptr_);
        std::swap(size_, other.size_);
    }

  private:
    void release() {
        if (ptr_) cudaFree(ptr_);
        count_bytes(-static_cast<int64_t>(size_ * sizeof(T)));
        ptr_ = nullptr;
        size_ = 0;
    }
    T* ptr_ = nullptr;
    size_t size_ = 0;
};

template <class T>
class PinnedBuffer {
  public:
    explicit PinnedBuffer(size_t n) { check(cudaMallocHost(&ptr_, n * sizeof(T)), "cudaMallocHost"); }
    ~PinnedBuffer() { cudaFreeHost(ptr_); }
    PinnedBuffer(const PinnedBuffer&) = delete;
    PinnedBuffer& operator=(const PinnedBuffer&) = delete;
    T* get() const { return ptr_; }

  private:
    T* ptr_ = nullptr;
};

// Sets the device for the scope and restores the previous one.
class DeviceGuard {
  public:
    explicit DeviceGuard(int device) {
        check(cudaGetDevice(&prev_), "cudaGetDevice");
        if (device != prev_) check(cudaSetDevice(device), "cudaSetDevice");
    }
    ~DeviceGuard() { cudaSetDevice(prev_); }

  private:
    int prev_ = 0;
};

// Operand of a tile product: rows of fp32 values with row stride ld (a
// multiple of 4, 16-byte aligned rows; the pass's depth covers the features
// plus zero padding to a multiple of 4), a key
// offset and an optional dot-product scale per row. Row r of the operand is
// data row map[r] when map is set; its global index is base + data row.
struct Operand {
    const float* x = nullptr;
    int64_t n = 0, ld = 0;
    const float* off = nullptr;
    const float* scale = nullptr;
    const int64_t* map = nullptr;
    int64_t base = 0;
};

__host__ __device__ inline int64_t data_row(const Operand& o, int64_t r) { return o.map ? o.map[r] : r; }

// Per-row candidate lists in device memory: cap (key, id) pairs sorted by
// (key, id), empty slots (inf, INT_MAX); thr mirrors the worst kept key (inf
// while the list is not full) for lock-free filtering; one lock word per row.
struct Lists {
    float* keys = nullptr;
    int32_t* ids = nullptr;
    float* thr = nullptr;
    int* lock = nullptr;
    int cap = 0;
};

__device__ inline bool pair_less(float ka, int32_t ia, float kb, int32_t ib) {
    return ka < kb || (ka == kb && ia < ib);
}

// Lists up to this long are copied to the folding thread's local memory while
// it holds the row lock: the copy's loads are independent (one L2 round trip
// in all) where an in-place insertion would chain one round trip per shift.
constexpr int kLocalCap = 64;

// A list copied to a thread's local memory while it holds the row lock (cap <= kLocalCap).
struct LocalList {
    float k[kLocalCap];
    int32_t i[kLocalCap];
    int cap = 0;
    bool changed = false;
    __device__ void load(const Lists& L, int64_t row) {
        cap = L.cap;
        while (atomicCAS(L.lock + row, 0, 1) != 0) __nanosleep(64);
        __threadfence();
        const volatile float* lk = L.keys + row * cap;
        const volatile int32_t* li = L.ids + row * cap;
        for (int t = 0; t < cap; ++t) {
            k[t] = lk[t];
            i[t] = li[t];
        }
    }
    __device__ void offer(float key, int32_t id) {
        if (!pair_less(key, id, k[cap - 1], i[cap - 1])) return;
        int pos = cap - 1;
        for (; pos > 0 && pair_less(key, id, k[pos - 1], i[pos - 1]); --pos) {
            k[pos] = k[pos - 1];
            i[pos] = i[pos - 1];
        }
        k[pos] = key;
        i[pos] = id;
        changed = true;
    }
    __device__ void store(const Lists& L, int64_t row) {
        if (changed) {
            volatile float* lk = L.keys + row * cap;
            volatile int32_t* li = L.ids + row * cap;
            for (int t = 0; t < cap; ++t) {
                lk[t] = k[t];
                li[t] = i[t];
            }
            *reinterpret_cast<volatile float*>(L.thr + row) = k[cap - 1];
        }
        __threadfence();
        atomicExch(L.lock + row, 0);
    }
};

// Folds count entries (key_of(s), id_of(s); key inf: no pair) into list
// `row`. The row lock is taken only when a key passes the (possibly stale,
// never too low) threshold, so once the lists are tight most tiles take no
// lock at all.
template <class KeyOf, class IdOf>
__device__ void fold_into_list(const Lists& L, int64_t row, int count, KeyOf key_of, IdOf id_of) {
    volatile float* thr_p = L.thr + row;
    const float thr0 = *thr_p;
    int s = 0;
    for (; s < count; ++s) {
        const float key = key_of(s);
        if (key <= thr0 && key < kInf) break;
    }
    if (s == count) return;
    if (L.cap <= kLocalCap) {
        LocalList list;
        list.load(L, row);
        for (; s < count; ++s) {
            const float key = key_of(s);
            if (key <= list.k[list.cap - 1] && key < kInf) list.offer(key, id_of(s));
        }
        list.store(L, row);
        return;
    }
    volatile float* lk = L.keys + row * L.cap;
    volatile int32_t* li = L.ids + row * L.cap;
    const int cap = L.cap;
    while (atomicCAS(L.lock + row, 0, 1) != 0) __nanosleep(64);
    __threadfence();
    {  // longer lists (large k): in place
        float worst_k = lk[cap - 1];
        int32_t worst_i = li[cap - 1];
        for (; s < count; ++s) {
            const float key = key_of(s);
            if (!(key <= worst_k && key < kInf)) continue;
            const int32_t id = id_of(s);
            if (!pair_less(key, id, worst_k, worst_i)) continue;
            int pos = cap - 1;
            for (; pos > 0; --pos) {
                const float pk = lk[pos - 1];
                const int32_t pi = li[pos - 1];
                if (!pair_less(key, id, pk, pi)) break;
                lk[pos] = pk;
                li[pos] = pi;
            }
            lk[pos] = key;
            li[pos] = id;
            worst_k = lk[cap - 1];
            worst_i = li[cap - 1];
        }
        *thr_p = worst_k;
    }
    __threadfence();
    atomicExch(L.lock + row, 0);
}

}  // namespace hf::cuda
