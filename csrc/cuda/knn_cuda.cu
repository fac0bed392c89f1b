// Exact k-NN on the GPU: orchestration of the tile passes (tiles.cu) and the
// float64 certification (ops.cu).
//
// Device-resident data: one self-join (diagonal tiles, then each unordered
// tile pair once, folding rows and columns) or a query-vs-database pass;
// then the certification on the device. Rows it cannot settle get a wider
// candidate pass (4x the list, at least 64 more), repeated until settled; with
// every candidate kept a row is settled by definition, so the loop ends.
//
// Tensor-core candidates (precision "tensor"): the same tiles with the product
// in tf32 on the tensor cores. Bound of a tf32 key, with u = 2^-24: the fp32
// inputs are read as tf32 (10 mantissa bits; truncated or rounded, the
// relative error of each is below 2^-10), the products of two tf32 values are
// exact in fp32, and the accumulation is charged 2^-22 (two fp32 ulps, which
// covers the truncating adders of tensor cores) of the sum of |products| per
// term, D terms. With sum |a_i b_i| <= |a| |b|:
//   |dot_tf32 - dot| <= c |a| |b|,  c = 2^-9 + 2^-20 + D 2^-22 (1 + 2^-9),
// and the key adds the fp32 roundings of the offsets and the assembly, which
// the fp32 bound (D + 16) u (|a|^2 + |b|^2) covers. Since 2 |a| |b| <=
// |a|^2 + |b|^2, the key error is at most (c + (D + 16) u) 1.05 times the
// fp32 bound's statistic: the same certification as the fp32 pass, with a
// larger scale and kTensorMargin extra candidates. Rows it cannot settle go to
// the fp32 kernel's wider passes, so the result is exact either way.
//
// Host data: chunks of rows are streamed through two pinned buffers while the
// previous chunk pair computes; the lists stay on the device and come back as
// fp32 candidates for the CPU module's certification.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "../common/bound.h"
#include "../common/errors.h"
#include "../common/topk.h"
#include "knn_cuda.h"
#include "ops.cuh"
#include "tiles.cuh"

namespace hf::cuda {
namespace {

float gamma_of(Metric m) { return (m == Metric::SqEuclidean || m == Metric::Euclidean) ? -2.f : -1.f; }

// Candidate lists of `rows` rows, owned.
struct OwnedLists {
    DeviceBuffer<float> keys, thr;
    DeviceBuffer<int32_t> ids;
    DeviceBuffer<int> lock;
    Lists view;
    OwnedLists(int64_t rows, int cap, cudaStream_t stream) {
        keys.reset(static_cast<size_t>(rows) * cap, "cudaMalloc (candidate lists)");
        ids.reset(static_cast<size_t>(rows) * cap, "cudaMalloc (candidate lists)");
        thr.reset(rows, "cudaMalloc (candidate lists)");
        lock.reset(rows, "cudaMalloc (candidate lists)");
        view = Lists{keys.get(), ids.get(), thr.get(), lock.get(), cap};
        init_lists(view, rows, stream);
    }
};

void check_rows(int64_t n, const char* name) {
    check_arg(n < (int64_t{1} << 31) - 1, std::string(name) + " has 2^31 rows or more; the CUDA engine indexes rows with 32 bits");
}

// The device code reads the row stride directly: 0 (C-contiguous) becomes cols.
Matrix with_stride(Matrix m) {
    m.ld = m.stride();
    return m;
}

// Scale of the rounding bound of a tf32 candidate key (derivation at the top
// of this file): times |x|^2 + |y|^2 (euclidean family) or |x| |y| (dot products).
double tf32_bound_scale(int64_t d) {
    const double c = std::ldexp(1.0, -9) + std::ldexp(1.0, -20) +
                     static_cast<double>(d) * std::ldexp(1.0, -22) * (1 + std::ldexp(1.0, -9));
    return (c + (static_cast<double>(d) + 16) * kUnit) * 1.05;
}

}  // namespace

int device_count() {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    return n;
}

KnnStats knn_device(const DeviceKnnArgs& args) {
    DeviceGuard guard(args.device);
    auto stream = static_cast<cudaStream_t>(args.stream);
    const bool self = args.q.data == nullptr;
    const Matrix X = with_stride(args.x);
    const Matrix Q = self ? X : with_stride(args.q);
    check_rows(X.rows, "x");
    check_rows(Q.rows, "queries");
    check_arg(self || (Q.cols == X.cols && Q.f64 == X.f64), "queries and x need the same number of features and dtype");
    const int64_t n_cand = self && args.exclude_self ? X.rows - 1 : X.rows;
    check_arg(args.k >= 1 && args.k <= n_cand, "k must be between 1 and the number of candidates");
    int major = 0;
    check(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, args.device), "cudaDeviceGetAttribute");
    check_arg(args.precision != Precision::Tensor || major >= 8, "precision='tensor' needs a GPU with tf32 tensor cores (sm_80 or newer)");
    const bool tensor = args.precision == Precision::Tensor || (args.precision == Precision::Auto && major >= 8);
    const int cap = tensor ? static_cast<int>(std::min<int64_t>(n_cand, args.k + kTensorMargin))
                           : candidate_cap(args.k, n_cand);

    Prepared px, pq_own;
    prepare(X, args.metric, "x", stream, px);
    if (!self) prepare(Q, args.metric, "queries", stream, pq_own);
    const Prepared& pq = self ? px : pq_own;

    OwnedLists lists(Q.rows, cap, stream);
    TilePass pass;
    pass.a = pq.op;
    pass.b = px.op;
    pass.depth = px.depth;
    pass.rows = lists.view;
    pass.gamma = gamma_of(args.metric);
    pass.tensor = tensor;
    int64_t total = 0;
    if (self) {
        total = tile_count(TileMode::Diagonal, X.rows, X.rows) + tile_count(TileMode::Triangle, X.rows, X.rows);
        pass.mode = TileMode::Diagonal;
        pass.exclude_same = args.exclude_self;
        const int64_t done = run_tile_pass(pass, stream, 0, total, args.progress);
        pass.mode = TileMode::Triangle;
        pass.cols = lists.view;
        pass.update_cols = true;
        run_tile_pass(pass, stream, done, total, args.progress);
    } else {
        pass.mode = TileMode::Rectangle;
        total = tile_count(TileMode::Rectangle, Q.rows, X.rows);
        run_tile_pass(pass, stream, 0, total, args.progress);
    }

    DeviceBuffer<int> counters(3, "cudaMalloc (counters)");  // n_fail, n_recomputed, spare
    check(cudaMemsetAsync(counters.get(), 0, 3 * sizeof(int), stream), "cudaMemsetAsync");
    DeviceBuffer<int64_t> fails(Q.rows, "cudaMalloc (row lists)");
    CertifyArgs ra;
    ra.qa = Q;
    ra.xb = X;
    ra.rows = Q.rows;
    ra.keys = lists.view.keys;
    ra.ids = lists.view.ids;
    ra.cap = cap;
    ra.k = args.k;
    ra.metric = args.metric;
    ra.n_cand = n_cand;
    ra.stat_a = pq.stat.get();
    ra.stat_b = px.stat.get();
    ra.norm_a = pq.norm.get();
    ra.norm_b = px.norm.get();
    ra.max_stat_b = px.max_stat;
    ra.bound_scale = tensor ? tf32_bound_scale(px.depth) : fp32_bound_scale(px.depth);
    ra.out_ids = args.out_ids;
    ra.out_dist = args.out_dist;
    ra.counts = reinterpret_cast<unsigned long long*>(args.counts);
    ra.fail_rows = fails.get();
    ra.n_fail = counters.get();
    ra.n_recomputed = counters.get() + 1;
    certify(ra, stream);
    int got[2] = {0, 0};
    check(cudaMemcpyAsync(got, counters.get(), 2 * sizeof(int), cudaMemcpyDeviceToHost, stream), "cudaMemcpyAsync");
    check(cudaStreamSynchronize(stream), "certify_kernel");
    KnnStats stats;
    stats.rows_recomputed = got[1];
    stats.rows_widened = got[0];
    stats.kernels = tensor ? "cuda-tf32" : "cuda-fp32";

    // Rows the certification could not settle: a wider pass of their own.
    int64_t n_fail = got[0];
    int64_t wide = cap;
    DeviceBuffer<int64_t> next;
    while (n_fail > 0) {
        wide = std::min<int64_t>(n_cand, std::max<int64_t>(4 * wide, wide + 64));
        OwnedLists more(n_fail, static_cast<int>(wide), stream);
        TilePass fb;
        fb.a = pq.op;
        fb.a.n = n_fail;
        fb.a.map = fails.get();
        fb.b = px.op;
        fb.depth = px.depth;
        fb.rows = more.view;
        fb.gamma = pass.gamma;
        fb.exclude_same = self && args.exclude_self;
        fb.mode = TileMode::Rectangle;
        fb.tensor = false;  // the wider passes use the fp32 product
        run_tile_pass(fb, stream, 0, 0, nullptr);
        next.reset(n_fail, "cudaMalloc (row lists)");
        check(cudaMemsetAsync(counters.get(), 0, sizeof(int), stream), "cudaMemsetAsync");
        CertifyArgs rb = ra;
        rb.map = fails.get();
        rb.rows = n_fail;
        rb.keys = more.view.keys;
        rb.ids = more.view.ids;
        rb.cap = static_cast<int>(wide);
        rb.fail_rows = next.get();
        rb.n_recomputed = counters.get() + 2;
        rb.bound_scale = fp32_bound_scale(px.depth);
        certify(rb, stream);
        int left = 0;
        check(cudaMemcpyAsync(&left, counters.get(), sizeof(int), cudaMemcpyDeviceToHost, stream), "cudaMemcpyAsync");
        check(cudaStreamSynchronize(stream), "certify_kernel (wider pass)");
        check_arg(left == 0 || wide < n_cand, "internal error: a row with every candidate kept was not settled");
        n_fail = left;
        fails.swap(next);
    }
    return stats;
}

void candidates_host(const float* x, int64_t n, int64_t d, const float* q, int64_t nq, Metric metric,
                     bool exclude_self, int cap, int64_t chunk_rows, int device, const Progress& progress,
                     float* out_keys, int64_t* out_ids) {
    DeviceGuard guard(device);
    const bool self = q == nullptr;
    if (self) nq = n;
    check_rows(n, "x");
    check_rows(nq, "queries");
    const int64_t ld = (d + 3) / 4 * 4;
    cudaStream_t compute = nullptr, copy = nullptr;
    check(cudaStreamCreateWithFlags(&compute, cudaStreamNonBlocking), "cudaStreamCreate");
    check(cudaStreamCreateWithFlags(&copy, cudaStreamNonBlocking), "cudaStreamCreate");
    struct Streams {
        cudaStream_t a, b;
        ~Streams() {
            cudaStreamSynchronize(a);
            cudaStreamSynchronize(b);
            cudaStreamDestroy(a);
            cudaStreamDestroy(b);
        }
    } owned{compute, copy};

    OwnedLists lists(nq, cap, compute);
    // Chunk size: what three slots (rows, two column buffers) of the free memory allow.
    if (chunk_rows <= 0) {
        size_t free_b = 0, total_b = 0;
        check(cudaMemGetInfo(&free_b, &total_b), "cudaMemGetInfo");
        const double per_row = static_cast<double>(ld) * sizeof(float) + 2 * sizeof(float);
        const double usable = 0.85 * static_cast<double>(free_b) - (256LL << 20);
        chunk_rows = static_cast<int64_t>(std::max(0.0, usable / (3 * per_row)));
        chunk_rows = std::max<int64_t>(kTile, chunk_rows / kTile * kTile);
    }
    const int64_t nrow = self ? n : nq;
    const int64_t C = std::min<int64_t>(chunk_rows, std::max(n, nrow));
    const int64_t row_chunks = (nrow + C - 1) / C, col_chunks = (n + C - 1) / C;

    struct Slot {
        DeviceBuffer<float> x, off, scale;
        int64_t rows = 0, first = -1;  // chunk held
    };
    const int n_slots = (self && row_chunks == 1) ? 1 : 3;
    Slot slots[3];
    for (int s = 0; s < n_slots; ++s) {
        slots[s].x.reset(static_cast<size_t>(C) * ld, "cudaMalloc (chunk)");
        slots[s].off.reset(C, "cudaMalloc (chunk)");
        if (metric == Metric::Cosine) slots[s].scale.reset(C, "cudaMalloc (chunk)");
    }
    PinnedBuffer<float> pinned0(static_cast<size_t>(C) * ld), pinned1(static_cast<size_t>(C) * ld);
    float* pinned[2] = {pinned0.get(), pinned1.get()};
    cudaEvent_t copied[2], used[3];
    for (auto& e : copied) check(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "cudaEventCreate");
    for (auto& e : used) check(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "cudaEventCreate");
    struct Events {
        cudaEvent_t* a;
        cudaEvent_t* b;
        ~Events() {
            for (int i = 0; i < 2; ++i) cudaEventDestroy(a[i]);
            for (int i = 0; i < 3; ++i) cudaEventDestroy(b[i]);
        }
    } owned_events{copied, used};
    bool pinned_busy[2] = {false, false};
    bool slot_used[3] = {false, false, false};
    int next_pinned = 0;

    // Stages chunk c of `src` (rows src_n) into slot s: host copy into a pinned
    // buffer (overlapping the GPU's work), then an async copy and the offsets.
    auto stage = [&](int s, const float* src, int64_t src_n, int64_t c) {
        Slot& slot = slots[s];
        const int64_t r0 = c * C, rows = std::min(C, src_n - r0);
        const int p = next_pinned;
        next_pinned ^= 1;
        if (pinned_busy[p]) check(cudaEventSynchronize(copied[p]), "cudaMemcpyAsync (chunk)");
        float* dst = pinned[p];
        if (ld == d) {
            std::memcpy(dst, src + r0 * d, static_cast<size_t>(rows) * d * sizeof(float));
        } else {
            for (int64_t r = 0; r < rows; ++r) {
                std::memcpy(dst + r * ld, src + (r0 + r) * d, d * sizeof(float));
                std::memset(dst + r * ld + d, 0, (ld - d) * sizeof(float));
            }
        }
        if (slot_used[s]) check(cudaStreamWaitEvent(copy, used[s], 0), "cudaStreamWaitEvent");
        check(cudaMemcpyAsync(slot.x.get(), dst, static_cast<size_t>(rows) * ld * sizeof(float),
                              cudaMemcpyHostToDevice, copy),
              "cudaMemcpyAsync (chunk)");
        check(cudaEventRecord(copied[p], copy), "cudaEventRecord");
        pinned_busy[p] = true;
        check(cudaStreamWaitEvent(compute, copied[p], 0), "cudaStreamWaitEvent");
        prepare_chunk(slot.x.get(), rows, ld, metric, slot.off.get(), slot.scale.get(), compute);
        slot.rows = rows;
        slot.first = r0;
    };
    auto operand = [&](const Slot& s) {
        return Operand{s.x.get(), s.rows, ld, s.off.get(), s.scale.get(), nullptr, s.first};
    };
    auto release = [&](int s) {
        check(cudaEventRecord(used[s], compute), "cudaEventRecord");
        slot_used[s] = true;
    };

    int64_t total = 0;
    for (int64_t a = 0; a < row_chunks; ++a) {
        const int64_t ra = std::min(C, nrow - a * C);
        if (self) {
            total += tile_count(TileMode::Diagonal, ra, ra) + tile_count(TileMode::Triangle, ra, ra);
            for (int64_t b = a + 1; b < col_chunks; ++b) total += tile_count(TileMode::Rectangle, ra, std::min(C, n - b * C));
        } else {
            for (int64_t b = 0; b < col_chunks; ++b) total += tile_count(TileMode::Rectangle, ra, std::min(C, n - b * C));
        }
    }
    TilePass pass;
    pass.depth = ld;
    pass.rows = lists.view;
    pass.cols = lists.view;
    pass.gamma = gamma_of(metric);
    int64_t done = 0;
    for (int64_t a = 0; a < row_chunks; ++a) {
        stage(0, self ? x : q, nrow, a);
        pass.a = operand(slots[0]);
        pass.row_list0 = a * C;
        int64_t b = self ? a + 1 : 0;
        if (self) {
            pass.b = pass.a;
            pass.mode = TileMode::Diagonal;
            pass.exclude_same = exclude_self;
            pass.update_cols = false;
            done += run_tile_pass(pass, compute, done, total, progress);
            pass.mode = TileMode::Triangle;
            pass.update_cols = true;
            pass.col_list0 = a * C;
            done += run_tile_pass(pass, compute, done, total, progress);
        }
        pass.mode = TileMode::Rectangle;
        pass.exclude_same = false;  // different chunks never share an index
        pass.update_cols = self;
        if (b < col_chunks) stage(1, x, n, b);
        for (int cur = 1; b < col_chunks; ++b, cur = 3 - cur) {
            if (b + 1 < col_chunks) stage(3 - cur, x, n, b + 1);  // the host copy overlaps the pair below
            pass.b = operand(slots[cur]);
            pass.col_list0 = b * C;
            done += run_tile_pass(pass, compute, done, total, progress);
            release(cur);
        }
        release(0);
        check(cudaStreamSynchronize(compute), "tile_kernel");
    }
    // Lists back to the host: ids widened to int64, empty slots as (inf, -1).
    const size_t cells = static_cast<size_t>(nq) * cap;
    std::vector<int32_t> ids32(cells);
    check(cudaMemcpyAsync(out_keys, lists.view.keys, cells * sizeof(float), cudaMemcpyDeviceToHost, compute),
          "cudaMemcpyAsync (keys)");
    check(cudaMemcpyAsync(ids32.data(), lists.view.ids, cells * sizeof(int32_t), cudaMemcpyDeviceToHost, compute),
          "cudaMemcpyAsync (ids)");
    check(cudaStreamSynchronize(compute), "cudaMemcpyAsync (lists)");
    for (size_t i = 0; i < cells; ++i) out_ids[i] = ids32[i] == INT32_MAX ? -1 : ids32[i];
}

}  // namespace hf::cuda
