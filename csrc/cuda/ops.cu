// What the tile kernels need before and after them, on the device (declared in ops.cuh):
// - prepare / prep_kernel: validate an operand (finite, in range) and compute its per-row
//   offsets (norms), scales and rounding-bound data, with a padded fp32 copy only when the
//   input cannot be read in place;
// - prepare_chunk / chunk_kernel: the same for a chunk of host rows streamed to the GPU;
// - certify / certify_kernel: the float64 check of each row's fp32 candidate list, which
//   settles the row or flags it for a wider pass.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "../common/bound.h"
#include "../common/errors.h"
#include "ops.cuh"

namespace hf::cuda {
namespace {

constexpr int kWarps = 8;

__device__ inline double warp_sum(double v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ inline double warp_max(double v) {
    for (int o = 16; o > 0; o >>= 1) v = fmax(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}
__device__ inline double warp_min(double v) {
    for (int o = 16; o > 0; o >>= 1) v = fmin(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Flags of prepare: the first row with a non-finite value, a squared norm
// too large for fp32 keys, or (cosine) no direction or a norm below
// kCosineMinSquaredNorm.
struct Flags {
    unsigned long long bad, huge, zero, tiny, max_stat;
};

struct PrepArgs {
    int64_t n, d, ld;
    Metric metric;
    float* copy;       // padded fp32 copy [n x copy_ld] or nullptr
    int64_t copy_ld;
    float* off;
    float* scale;      // cosine only
    double* stat;      // the certification's per-row statistic
    double* norm;
    Flags* flags;
};

template <class T>
__global__ void prep_kernel(const T* __restrict__ x, PrepArgs a) {
    const int lane = threadIdx.x % 32;
    const int64_t row = blockIdx.x * static_cast<int64_t>(kWarps) + threadIdx.x / 32;
    if (row >= a.n) return;
    const T* src = x + row * a.ld;
    double sq = 0;
    bool nonzero = false;  // a row whose squares all underflow has sq == 0 without being zeros
    for (int64_t f = lane; f < a.d; f += 32) {
        const double v = static_cast<double>(src[f]);
        sq += v * v;
        nonzero |= v != 0;
        if (a.copy) a.copy[row * a.copy_ld + f] = static_cast<float>(v);
    }
    if (a.copy)
        for (int64_t f = a.d + lane; f < a.copy_ld; f += 32) a.copy[row * a.copy_ld + f] = 0.f;
    sq = warp_sum(sq);
    nonzero = __any_sync(0xffffffffu, nonzero);
    if (lane != 0) return;
    const auto r = static_cast<unsigned long long>(row);
    if (!isfinite(sq)) atomicMin(&a.flags->bad, r);
    else if (sq > kMaxSquaredNorm) atomicMin(&a.flags->huge, r);
    else if (a.metric == Metric::Cosine && sq == 0 && !nonzero) atomicMin(&a.flags->zero, r);
    else if (a.metric == Metric::Cosine && sq < kCosineMinSquaredNorm) atomicMin(&a.flags->tiny, r);
    double stat = sq;
    switch (a.metric) {
        case Metric::SqEuclidean:
        case Metric::Euclidean: a.off[row] = static_cast<float>(sq); break;
        case Metric::InnerProduct:
            a.off[row] = 0.f;
            stat = sqrt(sq);
            break;
        case Metric::Cosine:
            a.off[row] = 0.5f;
            a.scale[row] = static_cast<float>(1.0 / sqrt(sq));
            stat = 1.0;  // unit rows
            break;
    }
    a.stat[row] = stat;
    a.norm[row] = sqrt(sq);
    if (isfinite(stat)) atomicMax(&a.flags->max_stat, static_cast<unsigned long long>(__double_as_longlong(stat)));
}

__global__ void chunk_kernel(const float* __restrict__ x, int64_t n, int64_t ld, Metric metric, float* off,
                             float* scale) {
    const int lane = threadIdx.x % 32;
    const int64_t row = blockIdx.x * static_cast<int64_t>(kWarps) + threadIdx.x / 32;
    if (row >= n) return;
    double sq = 0;
    for (int64_t f = lane; f < ld; f += 32) {
        const double v = x[row * ld + f];
        sq += v * v;
    }
    sq = warp_sum(sq);
    if (lane != 0) return;
    switch (metric) {
        case Metric::SqEuclidean:
        case Metric::Euclidean: off[row] = static_cast<float>(sq); break;
        case Metric::InnerProduct: off[row] = 0.f; break;
        case Metric::Cosine:
            off[row] = 0.5f;
            scale[row] = static_cast<float>(1.0 / sqrt(sq));
            break;
    }
}

template <class T>
__device__ double exact_key(const CertifyArgs& a, int64_t i, int64_t j, int lane) {
    const T* p = static_cast<const T*>(a.qa.data) + i * a.qa.ld;
    const T* q = static_cast<const T*>(a.xb.data) + j * a.xb.ld;
    const bool additive = a.metric == Metric::SqEuclidean || a.metric == Metric::Euclidean;
    double acc = 0;
    for (int64_t f = lane; f < a.qa.cols; f += 32) {
        const double u = static_cast<double>(p[f]), v = static_cast<double>(q[f]);
        acc += additive ? (u - v) * (u - v) : u * v;
    }
    acc = warp_sum(acc);
    if (additive) return acc;
    if (a.metric == Metric::Cosine) return 1.0 - acc / (a.norm_a[i] * a.norm_b[j]);
    return -acc;
}

__device__ inline bool exact_less(double ka, int32_t ia, double kb, int32_t ib) {
    return ka < kb || (ka == kb && ia < ib);
}

// One warp per list row; shared memory per warp: cap keys, ids and ranks.
template <class T>
__global__ void certify_kernel(CertifyArgs a, double inf) {
    extern __shared__ double shared_d[];
    const int warps = blockDim.x / 32, wid = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int64_t s = blockIdx.x * static_cast<int64_t>(warps) + wid;
    if (s >= a.rows) return;
    const int cap = a.cap, k = a.k;
    double* ex = shared_d + static_cast<int64_t>(wid) * cap;
    int32_t* id = reinterpret_cast<int32_t*>(shared_d + static_cast<int64_t>(warps) * cap) + static_cast<int64_t>(wid) * cap;
    int32_t* order = reinterpret_cast<int32_t*>(shared_d + static_cast<int64_t>(warps) * cap) +
                     static_cast<int64_t>(warps) * cap + static_cast<int64_t>(wid) * cap;
    const float* lk = a.keys + s * cap;
    const int32_t* li = a.ids + s * cap;
    const int64_t r = a.map ? a.map[s] : s;
    const bool additive = a.metric == Metric::SqEuclidean || a.metric == Metric::Euclidean;
    const double stat_r = a.stat_a[r];
    auto bound = [&](double stat_c) {
        return a.bound_scale * (additive ? stat_r + stat_c : stat_r * stat_c) + kAbsSlack;
    };
    int c = 0;  // kept entries form a prefix of the sorted list
    for (int t = lane; t < cap; t += 32) c += lk[t] < inf;
    for (int o = 16; o > 0; o >>= 1) c += __shfl_xor_sync(0xffffffffu, c, o);
    // Points never kept have fp32 keys >= the worst kept key (the list is full).
    const double unseen_lo = c < a.n_cand ? static_cast<double>(lk[cap - 1]) - bound(a.max_stat_b) : inf;
    double hi = -inf, lo = unseen_lo;
    for (int t = lane; t < c; t += 32) {
        const double b = bound(a.stat_b[li[t]]);
        if (t < k) hi = fmax(hi, lk[t] + b);
        else lo = fmin(lo, lk[t] - b);
    }
    hi = warp_max(hi);
    lo = warp_min(lo);
    const bool certified = hi < lo;
    if (certified && !a.out_ids && !a.out_dist) {
        for (int t = lane; t < k; t += 32) atomicAdd(a.counts + li[t], 1ULL);
        return;
    }
    const int n_exact = certified ? k : c;
    for (int t = 0; t < n_exact; ++t) {
        const double e = exact_key<T>(a, r, li[t], lane);
        if (lane == 0) {
            ex[t] = e;
            id[t] = li[t];
        }
    }
    __syncwarp();
    for (int t = lane; t < n_exact; t += 32) {
        int rank = 0;
        for (int u = 0; u < n_exact; ++u) rank += exact_less(ex[u], id[u], ex[t], id[t]);
        order[rank] = t;
    }
    __syncwarp();
    if (!certified) {
        if (lane == 0) atomicAdd(a.n_recomputed, 1);
        if (!(ex[order[k - 1]] < unseen_lo)) {
            if (lane == 0) a.fail_rows[atomicAdd(a.n_fail, 1)] = r;
            return;
        }
    }
    for (int t = lane; t < k; t += 32) {
        const int32_t j = id[order[t]];
        const double key = ex[order[t]];
        if (a.counts) atomicAdd(a.counts + j, 1ULL);
        if (a.out_ids) a.out_ids[r * k + t] = j;
        if (a.out_dist)
            a.out_dist[r * k + t] = (a.metric == Metric::Euclidean      ? sqrt(fmax(key, 0.0))
                                                       : a.metric == Metric::InnerProduct ? -key
                                                                                          : key);
    }
}

}  // namespace

void prepare(const Matrix& m, Metric metric, const char* name, cudaStream_t stream,
             Prepared& out) {
    const auto addr = reinterpret_cast<uintptr_t>(m.data);
    const bool in_place = !m.f64 && m.cols % 4 == 0 && m.ld % 4 == 0 && addr % 16 == 0;
    out.depth = (m.cols + 3) / 4 * 4;
    const int64_t ld = in_place ? m.ld : out.depth;
    if (!in_place) out.copy.reset(static_cast<size_t>(m.rows) * ld, "cudaMalloc (fp32 copy of the input)");
    out.off.reset(m.rows, "cudaMalloc (row offsets)");
    if (metric == Metric::Cosine) out.scale.reset(m.rows, "cudaMalloc (row scales)");
    out.stat.reset(m.rows, "cudaMalloc (row norms)");
    out.norm.reset(m.rows, "cudaMalloc (row norms)");
    DeviceBuffer<Flags> flags(1, "cudaMalloc (flags)");
    const Flags init{~0ULL, ~0ULL, ~0ULL, ~0ULL, 0ULL};
    check(cudaMemcpyAsync(flags.get(), &init, sizeof(Flags), cudaMemcpyHostToDevice, stream), "cudaMemcpyAsync (flags)");
    PrepArgs a{m.rows, m.cols, m.ld, metric, out.copy.get(), ld, out.off.get(), out.scale.get(), out.stat.get(),
               out.norm.get(), flags.get()};
    const unsigned blocks = static_cast<unsigned>((m.rows + kWarps - 1) / kWarps);
    if (m.f64) prep_kernel<double><<<blocks, 32 * kWarps, 0, stream>>>(static_cast<const double*>(m.data), a);
    else prep_kernel<float><<<blocks, 32 * kWarps, 0, stream>>>(static_cast<const float*>(m.data), a);
    check(cudaGetLastError(), "launch of prep_kernel");
    Flags got{};
    check(cudaMemcpyAsync(&got, flags.get(), sizeof(Flags), cudaMemcpyDeviceToHost, stream), "cudaMemcpyAsync (flags)");
    check(cudaStreamSynchronize(stream), "prep_kernel");
    const std::string who(name);
    if (got.bad != ~0ULL)
        throw_value_error(who + " contains NaN or Inf (first at row " + std::to_string(got.bad) +
                          "); drop or impute those rows");
    if (got.huge != ~0ULL)
        throw_value_error(who + " row " + std::to_string(got.huge) + kHugeRow);
    if (got.zero != ~0ULL)
        throw_value_error(who + " row " + std::to_string(got.zero) + kCosineZeroRow);
    if (got.tiny != ~0ULL) throw_value_error(who + " row " + std::to_string(got.tiny) + kCosineTinyRow);
    unsigned long long bits = got.max_stat;
    double max_stat = 0;
    std::memcpy(&max_stat, &bits, sizeof(double));
    out.max_stat = max_stat;
    out.op = Operand{in_place ? static_cast<const float*>(m.data) : out.copy.get(), m.rows, ld, out.off.get(),
                     out.scale.get(), nullptr, 0};
}

void prepare_chunk(const float* x, int64_t n, int64_t ld, Metric metric, float* off, float* scale,
                   cudaStream_t stream) {
    if (n == 0) return;
    chunk_kernel<<<static_cast<unsigned>((n + kWarps - 1) / kWarps), 32 * kWarps, 0, stream>>>(x, n, ld, metric, off,
                                                                                            scale);
    check(cudaGetLastError(), "launch of chunk_kernel");
}

void certify(const CertifyArgs& args, cudaStream_t stream) {
    if (args.rows == 0) return;
    constexpr size_t kMaxSmem = 96 * 1024;
    const size_t per_warp = static_cast<size_t>(args.cap) * (sizeof(double) + 2 * sizeof(int32_t));
    check_arg(per_warp <= kMaxSmem, "k is too large for the CUDA certification (at most about 6 000); use the CPU engine");
    const int warps = static_cast<int>(std::max<size_t>(1, std::min<size_t>(kWarps, kMaxSmem / per_warp)));
    const size_t smem = per_warp * warps;
    const unsigned blocks = static_cast<unsigned>((args.rows + warps - 1) / warps);
    const double inf = HUGE_VAL;
    if (args.qa.f64) {
        check(cudaFuncSetAttribute(certify_kernel<double>, cudaFuncAttributeMaxDynamicSharedMemorySize, kMaxSmem),
              "cudaFuncSetAttribute(certify_kernel)");
        certify_kernel<double><<<blocks, 32 * warps, smem, stream>>>(args, inf);
    } else {
        check(cudaFuncSetAttribute(certify_kernel<float>, cudaFuncAttributeMaxDynamicSharedMemorySize, kMaxSmem),
              "cudaFuncSetAttribute(certify_kernel)");
        certify_kernel<float><<<blocks, 32 * warps, smem, stream>>>(args, inf);
    }
    check(cudaGetLastError(), "launch of certify_kernel");
}

}  // namespace hf::cuda
