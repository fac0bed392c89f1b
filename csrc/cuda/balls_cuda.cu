// Ball queries on the GPU (see balls_cuda.h).
//
// A block of 16 x 16 threads takes a 64 x 64 tile of (a, b) pairs; each
// thread accumulates 4 x 4 fp32 dot products from shared-memory stages, then
// decides every pair against the ball of its a point and of its b point with
// the fp32 key bound of the k-NN engine: surely inside, surely outside, or
// re-checked in float64. Counts and smallest radii are gathered per tile in
// shared memory and added to the global outputs once per tile.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "../common/bound.h"
#include "../common/errors.h"
#include "balls_cuda.h"
#include "device.cuh"

namespace hf::cuda {
namespace {

constexpr int kT = 64;   // points of a and of b per tile
constexpr int kK = 16;   // features per shared-memory stage
constexpr int kBallThreads = 256;

struct Side {
    const float* x32;        // [n x d] fp32
    const void* exact;       // the original rows (float32 or float64) for the float64 re-checks
    bool f64;
    int64_t n;
    const float* norm32;     // squared norms, fp32
    const double* norm64;    // squared norms, float64 (the bound's statistic)
    const double* radius2;   // or nullptr
    unsigned long long* in_count;
    unsigned long long* min_radius2;  // float64 bits (non-negative: ordered like unsigned integers)
    unsigned long long* own_count;
};

struct BallArgs {
    Side a, b;
    int64_t d;
    bool inclusive;
    double bound_scale;
};

__device__ inline double exact_value(const void* x, bool f64, int64_t idx) {
    return f64 ? static_cast<const double*>(x)[idx] : static_cast<double>(static_cast<const float*>(x)[idx]);
}

// The CPU's exact_sqdist, operation for operation (no fused multiply-add), so
// that a point lying exactly on a radius computed there is judged the same.
__device__ double exact_sqdist(const BallArgs& g, int64_t i, int64_t j) {
    double acc = 0;
    for (int64_t c = 0; c < g.d; ++c) {
        const double diff = __dsub_rn(exact_value(g.a.exact, g.a.f64, i * g.d + c), exact_value(g.b.exact, g.b.f64, j * g.d + c));
        acc = __dadd_rn(acc, __dmul_rn(diff, diff));
    }
    return acc;
}

// Inside the ball of squared radius r2? Settled by the bound when possible.
__device__ bool inside(const BallArgs& g, float key, double bound, double r2, int64_t i, int64_t j, double& exact) {
    const double lo = static_cast<double>(key) - bound, hi = static_cast<double>(key) + bound;
    if (g.inclusive ? hi <= r2 : hi < r2) return true;
    if (g.inclusive ? lo > r2 : lo >= r2) return false;
    if (exact < 0) exact = exact_sqdist(g, i, j);
    return g.inclusive ? exact <= r2 : exact < r2;
}

__global__ void __launch_bounds__(kBallThreads) balls_kernel(BallArgs g, int64_t tile_b0) {
    __shared__ float as[kK][kT + 1], bs[kK][kT + 1];
    __shared__ unsigned long long in_a[kT], own_a[kT], min_a[kT], in_b[kT], own_b[kT], min_b[kT];
    const int tid = threadIdx.x, ty = tid / 16, tx = tid % 16;
    const int64_t a0 = static_cast<int64_t>(blockIdx.y) * kT, b0 = (tile_b0 + blockIdx.x) * kT;
    const unsigned long long inf_bits = __double_as_longlong(HUGE_VAL);
    if (tid < kT) {
        in_a[tid] = own_a[tid] = in_b[tid] = own_b[tid] = 0;
        min_a[tid] = min_b[tid] = inf_bits;
    }
    float acc[4][4] = {};
    for (int64_t p0 = 0; p0 < g.d; p0 += kK) {
        for (int e = tid; e < kK * kT; e += kBallThreads) {
            const int r = e / kK, c = e % kK;
            const int64_t f = p0 + c, ia = a0 + r, ib = b0 + r;
            as[c][r] = (ia < g.a.n && f < g.d) ? g.a.x32[ia * g.d + f] : 0.f;
            bs[c][r] = (ib < g.b.n && f < g.d) ? g.b.x32[ib * g.d + f] : 0.f;
        }
        __syncthreads();
#pragma unroll
        for (int c = 0; c < kK; ++c) {
            float x[4], y[4];
#pragma unroll
            for (int u = 0; u < 4; ++u) {
                x[u] = as[c][ty * 4 + u];
                y[u] = bs[c][tx * 4 + u];
            }
#pragma unroll
            for (int u = 0; u < 4; ++u)
#pragma unroll
                for (int v = 0; v < 4; ++v) acc[u][v] = fmaf(x[u], y[v], acc[u][v]);
        }
        __syncthreads();
    }
    for (int u = 0; u < 4; ++u) {
        const int li = ty * 4 + u;
        const int64_t i = a0 + li;
        if (i >= g.a.n) continue;
        for (int v = 0; v < 4; ++v) {
            const int lj = tx * 4 + v;
            const int64_t j = b0 + lj;
            if (j >= g.b.n) continue;
            const float key = fmaf(-2.f, acc[u][v], g.a.norm32[i] + g.b.norm32[j]);
            const double bound = g.bound_scale * (g.a.norm64[i] + g.b.norm64[j]) + kAbsSlack;
            double exact = -1;
            if (g.a.radius2 && inside(g, key, bound, g.a.radius2[i], i, j, exact)) {  // b_j in a_i's ball
                atomicAdd(&own_a[li], 1ULL);
                atomicAdd(&in_b[lj], 1ULL);
                atomicMin(&min_b[lj], static_cast<unsigned long long>(__double_as_longlong(g.a.radius2[i])));
            }
            if (g.b.radius2 && inside(g, key, bound, g.b.radius2[j], i, j, exact)) {  // a_i in b_j's ball
                atomicAdd(&own_b[lj], 1ULL);
                atomicAdd(&in_a[li], 1ULL);
                atomicMin(&min_a[li], static_cast<unsigned long long>(__double_as_longlong(g.b.radius2[j])));
            }
        }
    }
    __syncthreads();
    if (tid < kT) {
        const int64_t i = a0 + tid;
        if (i < g.a.n) {
            if (in_a[tid]) atomicAdd(&g.a.in_count[i], in_a[tid]);
            if (own_a[tid]) atomicAdd(&g.a.own_count[i], own_a[tid]);
            if (min_a[tid] != inf_bits) atomicMin(&g.a.min_radius2[i], min_a[tid]);
        }
    } else if (tid < 2 * kT) {
        const int l = tid - kT;
        const int64_t j = b0 + l;
        if (j < g.b.n) {
            if (in_b[l]) atomicAdd(&g.b.in_count[j], in_b[l]);
            if (own_b[l]) atomicAdd(&g.b.own_count[j], own_b[l]);
            if (min_b[l] != inf_bits) atomicMin(&g.b.min_radius2[j], min_b[l]);
        }
    }
}

// Device copies of one side: fp32 rows, the original rows, norms, radii, outputs.
struct DeviceSide {
    DeviceBuffer<float> x32, norm32;
    DeviceBuffer<unsigned char> exact;
    DeviceBuffer<double> norm64, radius2;
    DeviceBuffer<unsigned long long> in_count, min_radius2, own_count;

    DeviceSide(const Matrix& m, const BallSide& h, cudaStream_t stream) {
        const int64_t d = m.cols;
        const size_t cells = static_cast<size_t>(m.rows) * d;
        std::vector<float> x32h(cells), n32h(m.rows);
        std::vector<double> n64h(m.rows);
        for (int64_t i = 0; i < m.rows; ++i) {
            double sq = 0;
            for (int64_t c = 0; c < d; ++c) {
                const double v = m.f64 ? static_cast<const double*>(m.data)[i * d + c]
                                       : static_cast<double>(static_cast<const float*>(m.data)[i * d + c]);
                x32h[i * d + c] = static_cast<float>(v);
                sq += v * v;
            }
            check_arg(std::isfinite(sq) && sq <= kMaxSquaredNorm,
                      "a point has a non-finite or too large squared norm for the GPU ball pass (row " +
                          std::to_string(i) + ")");
            n64h[i] = sq;
            n32h[i] = static_cast<float>(sq);
        }
        x32.reset(cells, "cudaMalloc (ball points)");
        norm32.reset(m.rows, "cudaMalloc (ball points)");
        norm64.reset(m.rows, "cudaMalloc (ball points)");
        exact.reset(cells * (m.f64 ? sizeof(double) : sizeof(float)), "cudaMalloc (ball points)");
        check(cudaMemcpy(x32.get(), x32h.data(), cells * sizeof(float), cudaMemcpyHostToDevice), "cudaMemcpy (ball points)");
        check(cudaMemcpy(norm32.get(), n32h.data(), m.rows * sizeof(float), cudaMemcpyHostToDevice), "cudaMemcpy (norms)");
        check(cudaMemcpy(norm64.get(), n64h.data(), m.rows * sizeof(double), cudaMemcpyHostToDevice), "cudaMemcpy (norms)");
        check(cudaMemcpy(exact.get(), m.data, exact.size(), cudaMemcpyHostToDevice), "cudaMemcpy (ball points)");
        if (h.radius2) {
            radius2.reset(m.rows, "cudaMalloc (radii)");
            check(cudaMemcpy(radius2.get(), h.radius2, m.rows * sizeof(double), cudaMemcpyHostToDevice), "cudaMemcpy (radii)");
        }
        in_count.reset(m.rows, "cudaMalloc (ball outputs)");
        own_count.reset(m.rows, "cudaMalloc (ball outputs)");
        min_radius2.reset(m.rows, "cudaMalloc (ball outputs)");
        check(cudaMemsetAsync(in_count.get(), 0, m.rows * sizeof(unsigned long long), stream), "cudaMemsetAsync");
        check(cudaMemsetAsync(own_count.get(), 0, m.rows * sizeof(unsigned long long), stream), "cudaMemsetAsync");
        const std::vector<double> inf(m.rows, HUGE_VAL);
        check(cudaMemcpy(min_radius2.get(), inf.data(), m.rows * sizeof(double), cudaMemcpyHostToDevice), "cudaMemcpy");
    }

    Side view(const Matrix& m, const BallSide& h) const {
        return Side{x32.get(), exact.get(), m.f64, m.rows, norm32.get(), norm64.get(), h.radius2 ? radius2.get() : nullptr,
                    in_count.get(), min_radius2.get(), own_count.get()};
    }

    void copy_back(const Matrix& m, const BallSide& h) const {
        check(cudaMemcpy(h.in_count, in_count.get(), m.rows * sizeof(int64_t), cudaMemcpyDeviceToHost), "cudaMemcpy");
        check(cudaMemcpy(h.own_count, own_count.get(), m.rows * sizeof(int64_t), cudaMemcpyDeviceToHost), "cudaMemcpy");
        check(cudaMemcpy(h.min_radius2, min_radius2.get(), m.rows * sizeof(double), cudaMemcpyDeviceToHost), "cudaMemcpy");
    }
};

}  // namespace

void balls_host(const Matrix& a, const BallSide& sa, const Matrix& b, const BallSide& sb, bool inclusive, int device,
                const Progress& progress) {
    const int64_t d = a.cols;
    check_arg(a.data && b.data && a.rows > 0 && b.rows > 0 && d > 0 && b.cols == d && a.f64 == b.f64 &&
                  a.stride() == d && b.stride() == d,
              "both point sets need at least one row, the same features and dtype, and C-contiguous rows");
    check_arg(a.rows <= int64_t{65535} * kT, "the GPU ball pass takes at most 4 194 240 query points per call");
    DeviceGuard guard(device);
    cudaStream_t stream = nullptr;
    DeviceSide da(a, sa, stream), db(b, sb, stream);
    BallArgs g{da.view(a, sa), db.view(b, sb), d, inclusive, fp32_bound_scale(d)};
    const int64_t ta = (a.rows + kT - 1) / kT, tb = (b.rows + kT - 1) / kT;
    // Column slices of about 2^14 tiles per launch: progress and Ctrl-C between them.
    const int64_t per_launch = std::max<int64_t>(1, (int64_t{1} << 14) / ta);
    for (int64_t t0 = 0; t0 < tb; t0 += per_launch) {
        const int64_t cols = std::min(per_launch, tb - t0);
        balls_kernel<<<dim3(static_cast<unsigned>(cols), static_cast<unsigned>(ta)), kBallThreads, 0, stream>>>(g, t0);
        check(cudaGetLastError(), "launch of balls_kernel");
        check(cudaStreamSynchronize(stream), "balls_kernel");
        if (progress && !progress(t0 + cols, tb)) throw Interrupted();
    }
    da.copy_back(a, sa);
    db.copy_back(b, sb);
}

}  // namespace hf::cuda
