// Building blocks shared by the CPU engines (k-NN, ball queries): input
// preparation and validation, packing, tile products and the threaded runner
// with progress, interrupts and error parking.
#pragma once
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <string>
#include <type_traits>
#include <vector>

#include "../common/bound.h"
#include "../common/errors.h"
#include "knn_cpu.h"
#include "simd.h"

namespace hf {

constexpr int kBlock = 576;  // rows per block: a multiple of kMR and kNR, large enough to amortize packing
constexpr int kKC = 512;     // panel depth: up to D = 512 a tile is folded straight from registers, no C round trip
constexpr int kMC = 192;     // rows per sweep: their A rows (192 x 512 fp32) stay in L2
constexpr int kNC = 96;      // columns per sweep: their B panels (96 x 512 fp32) stay in L2 beside the A rows
constexpr int64_t kPrepackFloats = 1 << 22;  // 16 MiB: the largest per-thread copy of a block's rows
constexpr int kRowPad = 16;  // floats of padding after each packed row (see row_stride)
// Whole micro-tiles per block and per sweep: the fold's padding (ws.alpha,
// ws.beta) stays inside a block and a strip is a whole number of panels.
static_assert(kBlock % kMR == 0 && kBlock % kNR == 0 && kNC % kNR == 0 && kMC % kMR == 0,
              "blocks and sweeps must hold whole micro-tiles");

struct FreeDeleter {
    void operator()(float* p) const { std::free(p); }
};
using Buffer = std::unique_ptr<float[], FreeDeleter>;

inline Buffer aligned_floats(size_t n) {
    if (n == 0) return Buffer();
    const size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, bytes);
    if (!p) throw std::bad_alloc();
    return Buffer(static_cast<float*>(p));
}

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
inline int round_up(int a, int b) { return (a + b - 1) / b * b; }

inline bool euclidean_family(Metric m) { return m == Metric::SqEuclidean || m == Metric::Euclidean; }

// Per-matrix quantities derived once, in float64, while validating the input.
template <class T>
struct Side {
    const T* x = nullptr;
    int64_t n = 0;
    std::vector<double> stat;      // |x|^2 (euclidean family), |x| (inner product), 1 (cosine)
    std::vector<float> offset;     // the per-point term of the fp32 key
    std::vector<double> inv_norm;  // cosine only: 1/|x|, applied while packing
    std::vector<double> norm;      // cosine only: |x|, for the float64 key
    double max_stat = 0;
};

template <class T>
Side<T> prepare(const T* x, int64_t n, int64_t d, Metric metric, const char* name, int threads) {
    Side<T> s;
    s.x = x;
    s.n = n;
    s.stat.resize(n);
    s.offset.resize(n);
    if (metric == Metric::Cosine) {
        s.inv_norm.resize(n);
        s.norm.resize(n);
    }
    int64_t first_bad = n;
#pragma omp parallel for num_threads(threads) schedule(static) reduction(min : first_bad)
    for (int64_t i = 0; i < n; ++i) {
        double sq = 0;
        for (int64_t c = 0; c < d; ++c) {
            const double v = static_cast<double>(x[i * d + c]);
            sq += v * v;
        }
        s.stat[i] = sq;  // NaN/Inf propagate into sq
        if (!std::isfinite(sq)) first_bad = std::min(first_bad, i);
    }
    if (first_bad < n) {
        bool nonfinite = false;
        for (int64_t c = 0; c < d; ++c) nonfinite |= !std::isfinite(static_cast<double>(x[first_bad * d + c]));
        throw_value_error(std::string(name) + (nonfinite ? " contains NaN or Inf" : " has values too large for float32 arithmetic") +
                          " (first at row " + std::to_string(first_bad) + "); " +
                          (nonfinite ? "drop or impute those rows" : "rescale the data"));
    }
    for (int64_t i = 0; i < n; ++i) {
        const double sq = s.stat[i];
        if (sq > kMaxSquaredNorm)
            throw_value_error(std::string(name) + " row " + std::to_string(i) +
                              " has a squared norm above 1e36, too large for float32 arithmetic; rescale the data");
        if (metric == Metric::Cosine && sq == 0)
            throw_value_error(std::string(name) + " row " + std::to_string(i) +
                              " is all zeros: cosine distance is undefined for it; drop it or use another metric");
        switch (metric) {
            case Metric::SqEuclidean:
            case Metric::Euclidean:
                s.offset[i] = static_cast<float>(sq);
                break;
            case Metric::InnerProduct:
                s.stat[i] = std::sqrt(sq);
                s.offset[i] = 0.f;
                break;
            case Metric::Cosine:
                s.norm[i] = std::sqrt(sq);
                s.inv_norm[i] = 1.0 / s.norm[i];
                s.stat[i] = 1.0;
                s.offset[i] = 0.5f;  // key = 0.5 + 0.5 - cos
                break;
        }
        s.max_stat = std::max(s.max_stat, s.stat[i]);
    }
    return s;
}

// Feature value c of row `row` of a side, as the fp32 the kernels consume.
template <class T>
struct RowReader {
    const Side<T>& s;
    int64_t d;
    float operator()(int64_t row, int64_t c) const {
        const double v = static_cast<double>(s.x[row * d + c]);
        return static_cast<float>(s.inv_norm.empty() ? v : v * s.inv_norm[row]);
    }
};

// Rows [r0, r0 + m) and features [p0, p0 + kc) of x as a row-major fp32
// block (row stride kc), zero rows up to a multiple of kMR: the A operand.
template <class T>
void pack_rows(const Side<T>& s, int64_t d, int64_t r0, int m, int64_t p0, int kc, float* out, int64_t ld) {
    const RowReader<T> read{s, d};
    for (int row = 0; row < round_up(m, kMR); ++row) {
        float* dst = out + row * ld;
        if (row >= m) {
            std::fill(dst, dst + kc, 0.f);
        } else if (std::is_same<T, float>::value && s.inv_norm.empty()) {
            std::memcpy(dst, s.x + (r0 + row) * d + p0, kc * sizeof(float));
        } else {
            for (int c = 0; c < kc; ++c) dst[c] = read(r0 + row, p0 + c);
        }
    }
}

// The same block as micro-panels of kNR rows: panel q stores, feature after
// feature, the kNR row values (zero past m), so the micro-kernel reads B
// linearly. Writes are sequential; reads walk kNR rows side by side.
template <class T>
void pack_panels(const Kernels& kern, const Side<T>& s, int64_t d, int64_t r0, int m, int64_t p0, int kc,
                 float* out) {
    const RowReader<T> read{s, d};
    for (int q = 0; q < m; q += kNR) {
        float* dst = out + static_cast<int64_t>(q) * kc;
        const int rows = std::min(kNR, m - q);
        if (std::is_same<T, float>::value && s.inv_norm.empty() && rows == kNR) {
            kern.pack16(reinterpret_cast<const float*>(s.x) + (r0 + q) * d + p0, d, kc, dst);
            continue;
        }
        for (int c = 0; c < kc; ++c, dst += kNR) {
            for (int r = 0; r < rows; ++r) dst[r] = read(r0 + q + r, p0 + c);
            for (int r = rows; r < kNR; ++r) dst[r] = 0.f;
        }
    }
}

struct Workspace {
    explicit Workspace(size_t row_copy_floats = 0) : rows(aligned_floats(row_copy_floats)) {}
    Buffer rows;  // one block packed for the whole depth (or empty): A rows, or B panels in a self-join
    Buffer a = aligned_floats(static_cast<size_t>(kBlock) * kKC);
    Buffer b = aligned_floats(static_cast<size_t>(kBlock) * kKC);
    Buffer c = aligned_floats(static_cast<size_t>(kBlock) * kBlock);
    Buffer alpha = aligned_floats(kBlock);  // the row offsets of a pair, NaN-padded to whole micro-tiles
    Buffer beta = aligned_floats(kBlock);   // the column offsets, NaN-padded to whole micro-tiles
};

// Blocks whose rows fit in a per-thread copy for the whole depth.
inline bool prepack_fits(int64_t d) { return static_cast<int64_t>(kBlock) * d <= kPrepackFloats; }
// Row stride of a block packed for the whole depth: padded off a multiple of
// 1 KiB so that the six rows a micro-kernel reads do not share L1 sets.
inline int64_t row_stride(int64_t d) { return d + kRowPad; }
inline int block_len(int64_t n, int64_t b) { return static_cast<int>(std::min<int64_t>(kBlock, n - b * kBlock)); }

// Exact squared Euclidean distance in float64.
template <class T>
double exact_sqdist(const T* a, const T* b, int64_t d) {
    double acc = 0;
    for (int64_t c = 0; c < d; ++c) {
        const double diff = static_cast<double>(a[c]) - static_cast<double>(b[c]);
        acc += diff * diff;
    }
    return acc;
}

// Operands of a tile product already laid out for the whole depth; a null
// pointer means "pack per pair". a_rows: A rows, row stride a_ld. b_panels: B
// as micro-panels, the depth slab at p0 starting at b_panels + p0 * round_up(n, kNR)
// (pack_block_panels).
struct Prepacked {
    const float* a_rows = nullptr;
    int64_t a_ld = 0;
    const float* b_panels = nullptr;
};

// The A rows a thread packed into ws.rows for the whole depth (row stride
// row_stride(d)) when `prepacked`; otherwise nothing is laid out beforehand.
inline Prepacked prepacked_rows(const Workspace& ws, bool prepacked, int64_t d) {
    Prepacked pre;
    if (prepacked) pre = {ws.rows.get(), row_stride(d), nullptr};
    return pre;
}

// B panels of rows [r0, r0 + m) for the whole depth, in the layout of Prepacked::b_panels.
template <class T>
void pack_block_panels(const Kernels& kern, const Side<T>& s, int64_t d, int64_t r0, int m, float* out) {
    for (int64_t p0 = 0; p0 < d; p0 += kKC) {
        const int kc = static_cast<int>(std::min<int64_t>(kKC, d - p0));
        pack_panels(kern, s, d, r0, m, p0, kc, out + p0 * round_up(m, kNR));
    }
}

// Rows [r0, r0 + m) read in place as the A operand (row stride d), or nullptr
// when they need packing: another dtype, cosine scaling, or a block whose
// last micro-tile would read past the end of the array.
template <class T>
const float* rows_in_place(const Side<T>& s, int64_t d, int64_t r0, int m) {
    if constexpr (std::is_same<T, float>::value) {
        if (s.inv_norm.empty() && r0 + round_up(m, kMR) <= s.n) return s.x + r0 * d;
    }
    return nullptr;
}

// Tile of dot products of rows [r0, r0+m) of `a` with rows [c0, c0+n) of `b`.
// fold_for(ir, jr) gives the TileFold of the strip of micro-tiles from column
// jr on, rows ir..ir+kMR, on the last depth pass (or nullptr: the tile is
// stored in ws.c, row stride kBlock). pre: operands laid out beforehand.
// skip_lower: micro-tiles strictly below the diagonal are skipped.
template <class T, class FoldFor>
void tile_product(const Kernels& kern, Workspace& ws, const Side<T>& a, int64_t r0, int m, const Side<T>& b,
                  int64_t c0, int n, int64_t d, const Prepacked& pre, bool skip_lower, FoldFor fold_for) {
    const int mpad = round_up(m, kMR), npad = round_up(n, kNR);
    for (int64_t p0 = 0; p0 < d; p0 += kKC) {
        const int kc = static_cast<int>(std::min<int64_t>(kKC, d - p0));
        const float* a_ptr = pre.a_rows ? pre.a_rows + p0 : ws.a.get();
        const int64_t lda = pre.a_rows ? pre.a_ld : kc;
        if (!pre.a_rows) pack_rows(a, d, r0, m, p0, kc, ws.a.get(), kc);  // contiguous rows: one stream per tile row
        const float* b_ptr = pre.b_panels ? pre.b_panels + p0 * npad : ws.b.get();
        if (!pre.b_panels) pack_panels(kern, b, d, c0, n, p0, kc, ws.b.get());
        const bool last = p0 + kKC >= d;
        for (int ic = 0; ic < mpad; ic += kMC) {
            const int iend = std::min(mpad, ic + kMC);
            for (int jc = 0; jc < npad; jc += kNC) {
                const int jend = std::min(npad, jc + kNC);
                for (int ir = ic; ir < iend; ir += kMR) {
                    // Micro-tiles strictly below the diagonal (jr + kNR <= ir) are never read.
                    const int jr = skip_lower ? std::max(jc, ir / kNR * kNR) : jc;
                    if (jr >= jend) continue;
                    kern.microkernel(kc, a_ptr + ir * lda, lda, b_ptr + jr * kc, (jend - jr) / kNR,
                                     ws.c.get() + ir * kBlock + jr, kBlock, p0 > 0, last ? fold_for(ir, jr) : nullptr);
                }
            }
        }
    }
}

// Runs a body on OpenMP threads, each with its own Workspace. Work goes
// through step(): skipped once a stop was requested; thread 0 (the caller's
// thread) reports progress about every 100 ms and polls for interrupts; no
// exception may leave an OpenMP region, so the first one is parked and
// rethrown after the join.
class TileRunner {
public:
    explicit TileRunner(const Progress& progress) : progress_(progress) {}

    template <class Body>
    void run(Body body, int threads, int64_t total, size_t row_copy_floats = 0) {
        std::vector<Workspace> spaces;  // allocated up front: no thread may miss a worksharing loop
        for (int t = 0; t < threads; ++t) spaces.emplace_back(row_copy_floats);
        error_ = nullptr;
        stop_ = false;
        done_ = 0;
        total_ = total;
        last_tick_ = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(threads)
        body(spaces[omp_get_thread_num()]);
        if (error_) std::rethrow_exception(error_);
        if (!stop_ && progress_ && !progress_(total_, total_)) stop_ = true;  // final report: done == total
        if (stop_) throw Interrupted();
    }

    template <class Work>
    void step(Work work) {
        if (stop_.load(std::memory_order_relaxed)) return;
        try {
            work();
            done_.fetch_add(1, std::memory_order_relaxed);
            if (omp_get_thread_num() != 0 || !progress_) return;
            const auto now = std::chrono::steady_clock::now();
            if (now - last_tick_ < std::chrono::milliseconds(100)) return;
            last_tick_ = now;
            if (!progress_(done_.load(), total_)) stop_ = true;
        } catch (...) {
#pragma omp critical(hf_error)
            if (!error_) error_ = std::current_exception();
            stop_ = true;
        }
    }

private:
    const Progress& progress_;
    int64_t total_ = 0;
    std::atomic<int64_t> done_{0};
    std::atomic<bool> stop_{false};
    std::exception_ptr error_;
    std::chrono::steady_clock::time_point last_tick_;
};

}  // namespace hf
