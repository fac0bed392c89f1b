// fp32 tile kernel with the top-k fold fused in (see tiles.cuh).
//
// A block of 256 threads computes a 128 x 128 tile of dot products: operands
// are staged 16 features at a time in shared memory (double-buffered through
// registers, 16-byte loads), each thread accumulates an 8 x 8 sub-tile in
// registers. The keys then go to shared memory, and 128 threads fold the
// tile's rows while the other 128 fold its columns into the candidate lists.
// Blocks are persistent and walk the tile pairs in groups of kGroup row tiles
// (column-major inside a group) so that concurrent blocks share row tiles and
// each column tile is read once per group.
#include <algorithm>
#include <cstdlib>
#include <string>
#include <array>
#include <deque>
#include <utility>

#include "../common/errors.h"
#include "../common/knobs.h"
#include "tiles.cuh"

namespace hf::cuda {
namespace {

constexpr int kBK = 16;
constexpr int kThreads = 256;
constexpr int kLds = kTile + 4;     // row length of a staged operand (16-byte rows)
constexpr int kTileLd = kTile + 1;  // row length of the staged key tile (conflict-free scans)
constexpr int kGroup = 8;
constexpr int kStageFloats = 2 * 2 * kBK * kLds;
constexpr int kSmemFloats = kStageFloats > kTile * kTileLd ? kStageFloats : kTile * kTileLd;
constexpr size_t kSmemBytes = sizeof(float) * kSmemFloats;

struct Items {
    TileMode mode;
    int64_t ti, tj;
    const int64_t* prefix;  // [ngroups + 1] first item of each group
    int64_t ngroups;
};

int64_t tiles_of(int64_t n) { return (n + kTile - 1) / kTile; }

int64_t group_items(TileMode mode, int64_t ti, int64_t tj, int64_t g) {
    const int64_t a = g * kGroup, gsz = std::min<int64_t>(kGroup, ti - a);
    if (mode == TileMode::Rectangle) return gsz * tj;
    return gsz * (gsz - 1) / 2 + gsz * (ti - a - gsz);
}

// Tile pair of item w: the group by binary search, then the place inside it.
__device__ void item_tiles(const Items& it, int64_t w, int64_t& I, int64_t& J) {
    if (it.mode == TileMode::Diagonal) {
        I = J = w;
        return;
    }
    int64_t lo = 0, hi = it.ngroups;
    while (hi - lo > 1) {
        const int64_t mid = (lo + hi) / 2;
        if (it.prefix[mid] <= w) lo = mid;
        else hi = mid;
    }
    w -= it.prefix[lo];
    const int64_t a = lo * kGroup, gsz = min(static_cast<int64_t>(kGroup), it.ti - a);
    if (it.mode == TileMode::Rectangle) {
        J = w / gsz;
        I = a + w % gsz;
        return;
    }
    const int64_t head = gsz * (gsz - 1) / 2;  // column tiles inside the group: J - a row tiles each
    if (w < head) {
        int64_t m = 1;
        while (m * (m + 1) / 2 <= w) ++m;
        J = a + m;
        I = a + (w - m * (m - 1) / 2);
        return;
    }
    w -= head;
    J = a + gsz + w / gsz;
    I = a + w % gsz;
}

struct TileMeta {
    float off[2][kTile];
    float scale[2][kTile];
    int32_t gid[2][kTile];
};

// Offsets, scales and global indices of the tile's rows (side 0) and columns (side 1).
__device__ void load_meta(const TilePass& p, TileMeta& meta, int64_t r0, int64_t c0, int tid) {
    const int side = tid / kTile, l = tid % kTile;
    const Operand& o = side ? p.b : p.a;
    const int64_t r = (side ? c0 : r0) + l;
    meta.off[side][l] = 0.f;
    meta.scale[side][l] = 1.f;
    meta.gid[side][l] = -1;
    if (r < o.n) {
        const int64_t dr = data_row(o, r);
        meta.off[side][l] = o.off[dr];
        if (o.scale) meta.scale[side][l] = o.scale[dr];
        meta.gid[side][l] = static_cast<int32_t>(o.base + dr);
    }
}

// Keys from the tile of dot products: threads 0..127 fold the rows, threads
// 128..255 the columns (symmetric passes).
__device__ void fold_tile(const TilePass& p, const TileMeta& meta, const float* tile, int64_t r0, int64_t c0,
                          int tid) {
    const Operand& A = p.a;
    const Operand& B = p.b;
    const float gamma = p.gamma;
    const bool excl = p.exclude_same;
    if (tid < kTile) {
        const int64_t ar = r0 + tid;
        if (ar >= A.n) return;
        const float off = meta.off[0][tid], sc = gamma * meta.scale[0][tid];
        const int32_t g = meta.gid[0][tid];
        const float* row = tile + tid * kTileLd;
        const int count = static_cast<int>(min(static_cast<int64_t>(kTile), B.n - c0));
        fold_into_list(
            p.rows, p.row_list0 + ar, count,
            [&](int s) {
                return (excl && meta.gid[1][s] == g) ? kInf : fmaf(sc * meta.scale[1][s], row[s], off + meta.off[1][s]);
            },
            [&](int s) { return meta.gid[1][s]; });
    } else if (p.update_cols) {
        const int c = tid - kTile;
        const int64_t bc = c0 + c;
        if (bc >= B.n) return;
        const float off = meta.off[1][c], sc = gamma * meta.scale[1][c];
        const int32_t g = meta.gid[1][c];
        const int count = static_cast<int>(min(static_cast<int64_t>(kTile), A.n - r0));
        fold_into_list(
            p.cols, p.col_list0 + bc, count,
            [&](int s) {
                return (excl && meta.gid[0][s] == g) ? kInf
                                                     : fmaf(sc * meta.scale[0][s], tile[s * kTileLd + c], off + meta.off[0][s]);
            },
            [&](int s) { return meta.gid[0][s]; });
    }
}

// The fold with warps instead of threads (HUBNESS_FAST_CUDA_FOLD=warp; lists
// of at most kLocalCap): warps 0-3 take 32 rows each, warps 4-7 32 columns
// each. For each list every lane forms and tests 4 of its 128 keys against the
// list's threshold, a ballot finds the survivors (rare once the lists are
// tight), and lane 0 inserts them under the list's lock. Same lists, same
// result as fold_tile; no serial walk over the 128 keys.
__device__ void fold_tile_warp(const TilePass& p, const TileMeta& meta, const float* tile, int64_t r0, int64_t c0,
                               int tid) {
    const int warp = tid / 32, lane = tid % 32;
    const bool rows_side = warp < 4;
    if (!rows_side && !p.update_cols) return;
    const int side = rows_side ? 0 : 1, other = 1 - side;
    const int64_t self0 = rows_side ? r0 : c0, other0 = rows_side ? c0 : r0;
    const int64_t n_self = rows_side ? p.a.n : p.b.n, n_other = rows_side ? p.b.n : p.a.n;
    const Lists& L = rows_side ? p.rows : p.cols;
    const int64_t list0 = rows_side ? p.row_list0 : p.col_list0;
    const int count = static_cast<int>(min(static_cast<int64_t>(kTile), n_other - other0));
    // This lane's 4 entries of the other side (s = lane + 32 j), and its list's threshold.
    float off_o[4], sc_o[4];
    int32_t gid_o[4];
#pragma unroll
    for (int j = 0; j < 4; ++j) {
        const int s = lane + 32 * j;
        off_o[j] = meta.off[other][s];
        sc_o[j] = meta.scale[other][s];
        gid_o[j] = s < count ? meta.gid[other][s] : -1;
    }
    const int l_mine = (warp % 4) * 32 + lane;
    const float thr_mine =
        self0 + l_mine < n_self ? *reinterpret_cast<const volatile float*>(L.thr + list0 + self0 + l_mine) : -kInf;
    for (int t = 0; t < 32; ++t) {
        const int l = (warp % 4) * 32 + t;
        if (self0 + l >= n_self) break;  // uniform across the warp
        const float thr = __shfl_sync(0xffffffffu, thr_mine, t);
        const float off = meta.off[side][l], sc = p.gamma * meta.scale[side][l];
        const int32_t g = meta.gid[side][l];
        float key[4];
        unsigned any = 0, hit[4];
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            const int s = lane + 32 * j;
            const float dot = rows_side ? tile[l * kTileLd + s] : tile[s * kTileLd + l];
            const bool ok = gid_o[j] >= 0 && !(p.exclude_same && gid_o[j] == g);
            key[j] = ok ? fmaf(sc * sc_o[j], dot, off + off_o[j]) : kInf;
            hit[j] = __ballot_sync(0xffffffffu, key[j] <= thr && key[j] < kInf);
            any |= hit[j];
        }
        if (!any) continue;
        const int64_t row = list0 + self0 + l;
        LocalList list;
        if (lane == 0) list.load(L, row);
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            for (unsigned bits = hit[j]; bits; bits &= bits - 1) {
                const int b = __ffs(bits) - 1;
                const float kb = __shfl_sync(0xffffffffu, key[j], b);
                const int32_t ib = __shfl_sync(0xffffffffu, gid_o[j], b);
                if (lane == 0) list.offer(kb, ib);
            }
        }
        if (lane == 0) list.store(L, row);
        __syncwarp();
    }
}

// Piece h (0, 1) a thread stages per depth step: row srow + 64 h of the A and
// B tiles, features 4 quad .. 4 quad + 3 of the step (nullptr past the end).
__device__ inline void piece_pointers(const TilePass& p, int64_t r0, int64_t c0, int srow, int quad,
                                      const float* (&pa)[2], const float* (&pb)[2]) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
        const int64_t ar = r0 + srow + 64 * h, bc = c0 + srow + 64 * h;
        pa[h] = ar < p.a.n ? p.a.x + data_row(p.a, ar) * p.a.ld + quad * 4 : nullptr;
        pb[h] = bc < p.b.n ? p.b.x + data_row(p.b, bc) * p.b.ld + quad * 4 : nullptr;
    }
}

// The fp32 product on the CUDA cores.
// Two resident blocks per SM (128 registers a thread).
__global__ void __launch_bounds__(kThreads, 2) tile_kernel(TilePass p, Items it, int64_t w0, int64_t w1) {
    extern __shared__ float4 smem4[];
    float* smem = reinterpret_cast<float*>(smem4);
    float* const As = smem;                  // [2][kBK][kLds]
    float* const Bs = smem + 2 * kBK * kLds;  // [2][kBK][kLds]
    float* const tile = smem;                // [kTile][kTileLd], after the product
    const int tid = threadIdx.x, ty = tid / 16, tx = tid % 16;
    __shared__ TileMeta meta;

    for (int64_t w = w0 + blockIdx.x; w < w1; w += gridDim.x) {
        int64_t I, J;
        item_tiles(it, w, I, J);
        const int64_t r0 = I * kTile, c0 = J * kTile;
        load_meta(p, meta, r0, c0, tid);

        // Each thread stages two 16-byte pieces of A and two of B per depth step.
        const int srow = tid >> 2, quad = tid & 3;
        const float* pa[2];
        const float* pb[2];
        piece_pointers(p, r0, c0, srow, quad, pa, pb);
        float4 ra[2], rb[2];
        auto load = [&](int64_t p0) {
#pragma unroll
            for (int h = 0; h < 2; ++h) {
                const bool in = p0 + quad * 4 < p.depth;
                ra[h] = (pa[h] && in) ? *reinterpret_cast<const float4*>(pa[h] + p0) : make_float4(0, 0, 0, 0);
                rb[h] = (pb[h] && in) ? *reinterpret_cast<const float4*>(pb[h] + p0) : make_float4(0, 0, 0, 0);
            }
        };
        auto store = [&](int buf) {
            float* as = As + buf * kBK * kLds;
            float* bs = Bs + buf * kBK * kLds;
#pragma unroll
            for (int h = 0; h < 2; ++h) {
                const int f = quad * 4, r = srow + 64 * h;
                as[(f + 0) * kLds + r] = ra[h].x;
                as[(f + 1) * kLds + r] = ra[h].y;
                as[(f + 2) * kLds + r] = ra[h].z;
                as[(f + 3) * kLds + r] = ra[h].w;
                bs[(f + 0) * kLds + r] = rb[h].x;
                bs[(f + 1) * kLds + r] = rb[h].y;
                bs[(f + 2) * kLds + r] = rb[h].z;
                bs[(f + 3) * kLds + r] = rb[h].w;
            }
        };

        float acc[8][8];
#pragma unroll
        for (int i = 0; i < 8; ++i)
#pragma unroll
            for (int j = 0; j < 8; ++j) acc[i][j] = 0.f;

        load(0);
        store(0);
        __syncthreads();
        int buf = 0;
        for (int64_t p0 = 0; p0 < p.depth; p0 += kBK) {
            const bool more = p0 + kBK < p.depth;
            if (more) load(p0 + kBK);
            const float* as = As + buf * kBK * kLds;
            const float* bs = Bs + buf * kBK * kLds;
#pragma unroll
            for (int kk = 0; kk < kBK; ++kk) {
                const float4 a0 = *reinterpret_cast<const float4*>(as + kk * kLds + ty * 4);
                const float4 a1 = *reinterpret_cast<const float4*>(as + kk * kLds + 64 + ty * 4);
                const float4 b0 = *reinterpret_cast<const float4*>(bs + kk * kLds + tx * 4);
                const float4 b1 = *reinterpret_cast<const float4*>(bs + kk * kLds + 64 + tx * 4);
                const float a[8] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
                const float b[8] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
#pragma unroll
                for (int i = 0; i < 8; ++i)
#pragma unroll
                    for (int j = 0; j < 8; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
            }
            if (more) store(buf ^ 1);
            __syncthreads();
            buf ^= 1;
        }

        // Raw dot products to the shared tile; keys are formed while folding.
#pragma unroll
        for (int i = 0; i < 8; ++i) {
            const int lr = (i < 4 ? 0 : 64) + ty * 4 + (i & 3);
#pragma unroll
            for (int j = 0; j < 8; ++j) tile[lr * kTileLd + (j < 4 ? 0 : 64) + tx * 4 + (j & 3)] = acc[i][j];
        }
        __syncthreads();
        if (p.warp_fold) fold_tile_warp(p, meta, tile, r0, c0, tid);
        else fold_tile(p, meta, tile, r0, c0, tid);
        __syncthreads();
    }
}

// ---- the tf32 product on the tensor cores (a candidate pass; see knn_cuda.cu) ----
//
// Operands go global -> shared memory by cp.async, kStages stages of kBKt
// features in flight (no registers held), row-major with a 4-float pad so
// that the mma fragment loads are free of bank conflicts. The fp32 values
// are given to mma as they are: the tensor cores read them as tf32 (the low
// mantissa bits ignored), which the bound allows for. Warp w computes rows
// 64 (w / 4) .. + 63 and columns 32 (w % 4) .. + 31 of the tile as 4 x 4 mma
// tiles of 16 x 8.
constexpr int kStages = 5;
constexpr int kBKt = 16;
constexpr int kLdk = kBKt + 4;
constexpr int kStageFloatsT = 2 * kTile * kLdk;
constexpr size_t kSmemBytesT = sizeof(float) * (kStages * kStageFloatsT > kTile * kTileLd ? kStages * kStageFloatsT
                                                                                         : kTile * kTileLd);

__device__ inline void cp_async16(float* dst, const float* src, bool valid) {
    const auto s = static_cast<unsigned>(__cvta_generic_to_shared(dst));
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(src), "r"(valid ? 16 : 0));
}
__device__ inline void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ inline void cp_async_wait() {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

// D += A B: A 16 x 8 (row), B 8 x 8 (col), tf32 in, fp32 accumulate.
__device__ inline void mma_tf32(float* d, const uint32_t (&a)[4], const uint32_t (&b)[2]) {
    asm volatile(
        "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

__global__ void __launch_bounds__(kThreads, 2) tile_kernel_tf32(TilePass p, Items it, int64_t w0, int64_t w1) {
    extern __shared__ float4 smem4[];
    float* smem = reinterpret_cast<float*>(smem4);
    float* const tile = smem;  // [kTile][kTileLd], after the product
    const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32, g = lane >> 2, t4 = lane & 3;
    const int m0 = (warp / 4) * 64, n0 = (warp % 4) * 32;
    const Operand& A = p.a;
    const Operand& B = p.b;
    __shared__ TileMeta meta;
    const int nk = static_cast<int>((p.depth + kBKt - 1) / kBKt);

    for (int64_t w = w0 + blockIdx.x; w < w1; w += gridDim.x) {
        int64_t I, J;
        item_tiles(it, w, I, J);
        const int64_t r0 = I * kTile, c0 = J * kTile;
        load_meta(p, meta, r0, c0, tid);

        // Copy piece h of thread tid per stage (see piece_pointers).
        const int srow = tid >> 2, quad = tid & 3;
        const float* pa[2];
        const float* pb[2];
        piece_pointers(p, r0, c0, srow, quad, pa, pb);
        auto issue = [&](int stage, int kt) {
            float* as = smem + stage * kStageFloatsT;
            float* bs = as + kTile * kLdk;
            const int64_t f0 = static_cast<int64_t>(kt) * kBKt;
            const bool in = f0 + quad * 4 < p.depth;
#pragma unroll
            for (int h = 0; h < 2; ++h) {
                const int r = srow + 64 * h;
                cp_async16(as + r * kLdk + quad * 4, (pa[h] && in) ? pa[h] + f0 : A.x, pa[h] && in);
                cp_async16(bs + r * kLdk + quad * 4, (pb[h] && in) ? pb[h] + f0 : B.x, pb[h] && in);
            }
        };

        float acc[4][4][4];
#pragma unroll
        for (int mi = 0; mi < 4; ++mi)
#pragma unroll
            for (int ni = 0; ni < 4; ++ni)
#pragma unroll
                for (int c = 0; c < 4; ++c) acc[mi][ni][c] = 0.f;

#pragma unroll
        for (int s = 0; s < kStages - 1; ++s) {
            if (s < nk) issue(s, s);
            cp_async_commit();
        }
        for (int kt = 0; kt < nk; ++kt) {
            cp_async_wait<kStages - 2>();  // this thread's copies of stage kt have landed
            __syncthreads();               // everyone's have; the buffer of stage kt - 1 is free
            if (kt + kStages - 1 < nk) issue((kt + kStages - 1) % kStages, kt + kStages - 1);
            cp_async_commit();
            const float* as = smem + (kt % kStages) * kStageFloatsT;
            const float* bs = as + kTile * kLdk;
#pragma unroll
            for (int kb = 0; kb < kBKt; kb += 8) {
                uint32_t b[4][2];
#pragma unroll
                for (int ni = 0; ni < 4; ++ni) {
                    const float* q = bs + (n0 + ni * 8 + g) * kLdk + kb + t4;
                    b[ni][0] = __float_as_uint(q[0]);
                    b[ni][1] = __float_as_uint(q[4]);
                }
#pragma unroll
                for (int mi = 0; mi < 4; ++mi) {
                    const float* q = as + (m0 + mi * 16 + g) * kLdk + kb + t4;
                    const uint32_t a[4] = {__float_as_uint(q[0]), __float_as_uint(q[8 * kLdk]), __float_as_uint(q[4]),
                                           __float_as_uint(q[8 * kLdk + 4])};
#pragma unroll
                    for (int ni = 0; ni < 4; ++ni) mma_tf32(acc[mi][ni], a, b[ni]);
                }
            }
        }
        cp_async_wait<0>();
        __syncthreads();  // the stages are done with: the shared memory becomes the tile
#pragma unroll
        for (int mi = 0; mi < 4; ++mi)
#pragma unroll
            for (int ni = 0; ni < 4; ++ni) {
                const int r = m0 + mi * 16 + g, col = n0 + ni * 8 + t4 * 2;
                tile[r * kTileLd + col] = acc[mi][ni][0];
                tile[r * kTileLd + col + 1] = acc[mi][ni][1];
                tile[(r + 8) * kTileLd + col] = acc[mi][ni][2];
                tile[(r + 8) * kTileLd + col + 1] = acc[mi][ni][3];
            }
        __syncthreads();
        if (p.warp_fold) fold_tile_warp(p, meta, tile, r0, c0, tid);
        else fold_tile(p, meta, tile, r0, c0, tid);
        __syncthreads();
    }
}

__global__ void init_lists_kernel(Lists L, int64_t n) {
    const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (i < n * L.cap) {
        L.keys[i] = kInf;
        L.ids[i] = INT_MAX;
    }
    if (i < n) {
        L.thr[i] = kInf;
        L.lock[i] = 0;
    }
}

struct Event {
    cudaEvent_t ev = nullptr;
    Event() { check(cudaEventCreateWithFlags(&ev, cudaEventDisableTiming), "cudaEventCreate"); }
    ~Event() { cudaEventDestroy(ev); }
    Event(const Event&) = delete;
    Event& operator=(const Event&) = delete;
};

}  // namespace

int64_t tile_count(TileMode mode, int64_t na, int64_t nb) {
    const int64_t ti = tiles_of(na), tj = tiles_of(nb);
    switch (mode) {
        case TileMode::Diagonal: return ti;
        case TileMode::Triangle: return ti * (ti - 1) / 2;
        default: return ti * tj;
    }
}

void init_lists(const Lists& lists, int64_t n, cudaStream_t stream) {
    const int64_t total = n * lists.cap;
    if (total == 0) return;
    init_lists_kernel<<<static_cast<unsigned>((total + 255) / 256), 256, 0, stream>>>(lists, n);
    check(cudaGetLastError(), "launch of init_lists_kernel");
}

int64_t run_tile_pass(const TilePass& pass, cudaStream_t stream, int64_t done0, int64_t total,
                      const Progress& progress) {
    check_arg(pass.depth % 4 == 0 && pass.a.ld % 4 == 0 && pass.b.ld % 4 == 0 && pass.depth <= pass.a.ld &&
                  pass.depth <= pass.b.ld,
              "tile operands need row strides and a depth that are multiples of 4");
    const int64_t items = tile_count(pass.mode, pass.a.n, pass.b.n);
    if (items == 0) return 0;
    Items it{pass.mode, tiles_of(pass.a.n), tiles_of(pass.b.n), nullptr, 0};
    std::vector<int64_t> prefix(1, 0);
    DeviceBuffer<int64_t> dprefix;
    if (pass.mode != TileMode::Diagonal) {
        it.ngroups = (it.ti + kGroup - 1) / kGroup;
        for (int64_t g = 0; g < it.ngroups; ++g) prefix.push_back(prefix.back() + group_items(pass.mode, it.ti, it.tj, g));
        dprefix.reset(prefix.size(), "cudaMalloc (tile order)");
        check(cudaMemcpyAsync(dprefix.get(), prefix.data(), prefix.size() * sizeof(int64_t), cudaMemcpyHostToDevice,
                              stream),
              "cudaMemcpyAsync (tile order)");
        it.prefix = dprefix.get();
    }
    // HUBNESS_FAST_CUDA_FOLD=warp (as the binding read it, knobs.h): the warp-cooperative fold
    // (fold_tile_warp), for lists of <= kLocalCap.
    TilePass run = pass;
    run.warp_fold = knobs::cuda_warp_fold() && pass.rows.cap <= kLocalCap &&
                    (!pass.update_cols || pass.cols.cap <= kLocalCap);
    auto kernel = pass.tensor ? tile_kernel_tf32 : tile_kernel;
    const size_t smem_bytes = pass.tensor ? kSmemBytesT : kSmemBytes;
    check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem_bytes)),
          "cudaFuncSetAttribute(tile_kernel)");
    int device = 0, sms = 0;
    check(cudaGetDevice(&device), "cudaGetDevice");
    check(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device), "cudaDeviceGetAttribute");
    const int64_t grid = std::min<int64_t>(items, 2LL * sms);
    // Slices of about 1.5 TFLOP keep each launch near 50 ms on a large GPU.
    const int64_t per_tile = 2LL * kTile * kTile * std::max<int64_t>(pass.depth, 16);
    const int64_t slice = std::max<int64_t>(grid, 1'500'000'000'000LL / per_tile);
    std::array<Event, 2> events;
    std::deque<std::pair<int, int64_t>> pending;
    int64_t w = 0;
    int next = 0;
    while (w < items || !pending.empty()) {
        while (w < items && pending.size() < 2) {
            const int64_t end = std::min(items, w + slice);
            kernel<<<static_cast<unsigned>(std::min(grid, end - w)), kThreads, smem_bytes, stream>>>(run, it, w, end);
            check(cudaGetLastError(), "launch of tile_kernel");
            check(cudaEventRecord(events[next].ev, stream), "cudaEventRecord");
            pending.emplace_back(next, end);
            next ^= 1;
            w = end;
        }
        const auto [e, end] = pending.front();
        pending.pop_front();
        check(cudaEventSynchronize(events[e].ev), "tile_kernel");
        if (progress && !progress(done0 + end, total)) {
            cudaStreamSynchronize(stream);
            throw Interrupted();
        }
    }
    return items;
}

}  // namespace hf::cuda
