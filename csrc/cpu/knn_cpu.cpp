// Exact k-NN on the CPU.
//
// 1. Candidate pass (fp32). Rows are cut into blocks of kBlock; a pair of
//    blocks is packed (A: contiguous fp32 rows, B: kNR-row
//    micro-panels, kKC deep), multiplied by the SIMD micro-kernel into a
//    tile of dot products, and each 6 x 16 micro-tile is folded from registers
//    into per-point candidate lists of k + kMargin entries (TopKSet). A
//    self-join visits each unordered block pair once and feeds both its rows
//    and its columns; PairSchedule hands pairs out so that no two threads
//    ever hold the same block, hence the same list.
// 2. Certification (float64). With u = 2^-24, the fp32 key of a pair differs
//    from the exact one by at most b_ij = (D + 16) u (|x_i|^2 + |y_j|^2) for
//    the euclidean family and (D + 16) u |x_i| |y_j| for dot products (norms
//    of unit rows for cosine), a 5 % padded form of the classic gamma_D dot
//    product bound plus the roundings of the norms, the key assembly and the
//    float64 -> float32 input conversion. A row's k best fp32 candidates are
//    its exact neighbour set when their upper bounds lie strictly below the
//    lower bounds of every other candidate, kept or not (unseen points all
//    have keys >= the list's worst kept key). Otherwise every kept candidate
//    is recomputed in float64; if the k-th exact distance is still not
//    strictly below the unseen bound the row is solved by a float64 scan of
//    the whole database. Ties are ordered by index at every step, so the
//    result equals a float64 brute force whatever the threads or tiles.
#include "knn_cpu.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <limits>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

#include "../common/errors.h"
#include "../common/topk.h"
#include "pair_schedule.h"
#include "simd.h"

namespace hf {
namespace {

constexpr int kBlock = 576;  // rows per block: a multiple of kMR and kNR, large enough to amortize packing
constexpr int kKC = 512;     // panel depth: up to D = 512 a tile is folded straight from registers, no C round trip
constexpr int kMC = 192;     // rows per sweep: their A rows (192 x 512 fp32) stay in L2
constexpr int kNC = 96;      // columns per sweep: their B panels (96 x 512 fp32) stay in L2 beside the A rows
constexpr int64_t kPrepackFloats = 1 << 22;  // 16 MiB: the largest per-thread copy of a block's rows
constexpr int kRowPad = 16;  // floats of padding after each packed row (see row_stride)
constexpr int kMargin = 3;   // extra fp32 candidates per row, so the float64 boundary check rarely fails
constexpr double kUnit = 1.0 / (1 << 24);  // fp32 unit roundoff
constexpr double kAbsSlack = 1e-30;  // covers fp32 underflow of tiny products, which the relative bound ignores
constexpr double kMaxSquaredNorm = 1e36;  // keys up to ~4x this must stay finite in fp32 (max 3.4e38)

struct FreeDeleter {
    void operator()(float* p) const { std::free(p); }
};
using Buffer = std::unique_ptr<float[], FreeDeleter>;

Buffer aligned_floats(size_t n) {
    if (n == 0) return Buffer();
    const size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, bytes);
    if (!p) throw std::bad_alloc();
    return Buffer(static_cast<float*>(p));
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
int round_up(int a, int b) { return (a + b - 1) / b * b; }

bool euclidean_family(Metric m) { return m == Metric::SqEuclidean || m == Metric::Euclidean; }

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
    Buffer rows;  // the rows of one block packed for the whole depth (or empty)
    Buffer a = aligned_floats(static_cast<size_t>(kBlock) * kKC);
    Buffer b = aligned_floats(static_cast<size_t>(kBlock) * kKC);
    Buffer c = aligned_floats(static_cast<size_t>(kBlock) * kBlock);
    Buffer beta = aligned_floats(kBlock);  // the column offsets of a pair, zero-padded to whole micro-tiles
};

template <class T>
class Engine {
public:
    Engine(const Matrix& db, const Matrix& queries, const KnnParams& params)
        : p_(params), kern_(select_kernels(params.simd)), d_(db.cols), self_(queries.data == nullptr) {
        threads_ = params.n_threads > 0 ? params.n_threads : omp_get_max_threads();
        db_ = prepare<T>(static_cast<const T*>(db.data), db.rows, d_, p_.metric, self_ ? "x" : "x (database)", threads_);
        if (!self_) q_ = prepare<T>(static_cast<const T*>(queries.data), queries.rows, d_, p_.metric, "queries", threads_);
        additive_ = euclidean_family(p_.metric);
        gamma_ = additive_ ? -2.f : -1.f;
        bound_scale_ = (static_cast<double>(d_) + 16) * kUnit * 1.05;
        n_cand_ = self_ ? (p_.exclude_self ? db_.n - 1 : db_.n) : db_.n;
        check_arg(p_.k >= 1 && p_.k <= n_cand_,
                  "k must be between 1 and " + std::to_string(n_cand_) + " (the number of candidate neighbours), got " +
                      std::to_string(p_.k));
        cap_ = static_cast<int>(std::min<int64_t>(p_.k + kMargin, n_cand_));
    }

    KnnStats run(int64_t* out_ids, double* out_dist) {
        const Side<T>& rows = self_ ? db_ : q_;
        std::vector<TopKSet> sets;
        if (self_) {
            sets.emplace_back(db_.n, cap_);
            self_join(sets[0]);
        } else {
            const int64_t nqb = ceil_div(q_.n, kBlock), ndb = ceil_div(db_.n, kBlock);
            const int slices = (nqb >= 2 * threads_) ? 1 : static_cast<int>(std::min<int64_t>(threads_, ndb));
            for (int s = 0; s < slices; ++s) sets.emplace_back(q_.n, cap_);
            cross(sets);
            for (int s = 1; s < slices; ++s) sets[0].merge_from(sets[s]);
        }
        KnnStats stats;
        stats.kernels = kern_.name;
        finalize(sets[0], rows, out_ids, out_dist, stats);
        return stats;
    }

private:
    // Dot products of rows [r0, r0+m) of `a` with rows [c0, c0+n) of `b` into ws.c,
    // then folded into the candidate lists.
    // a_rows: the A rows already packed for the whole depth (row stride d_), or nullptr.
    void run_pair(Workspace& ws, const Side<T>& a, int64_t r0, int m, const Side<T>& b, int64_t c0, int n,
                  TopKSet* rows, TopKSet* cols, bool diag, const float* a_rows = nullptr) {
        const int mpad = round_up(m, kMR), npad = round_up(n, kNR);
        std::copy(b.offset.begin() + c0, b.offset.begin() + c0 + n, ws.beta.get());
        std::fill(ws.beta.get() + n, ws.beta.get() + npad, 0.f);
        for (int64_t p0 = 0; p0 < d_; p0 += kKC) {
            const int kc = static_cast<int>(std::min<int64_t>(kKC, d_ - p0));
            const float* a_ptr = a_rows ? a_rows + p0 : ws.a.get();
            const int64_t lda = a_rows ? row_stride() : kc;
            if (!a_rows) pack_rows(a, d_, r0, m, p0, kc, ws.a.get(), kc);  // contiguous rows: one stream per tile row
            pack_panels(kern_, b, d_, c0, n, p0, kc, ws.b.get());
            // Off-diagonal pairs fold each micro-tile on the last depth pass, straight
            // from registers; diagonal pairs keep the tile and scan its upper triangle.
            const bool fold_now = !diag && p0 + kKC >= d_;
            for (int ic = 0; ic < mpad; ic += kMC) {
                const int iend = std::min(mpad, ic + kMC);
                for (int jc = 0; jc < npad; jc += kNC) {
                    const int jend = std::min(npad, jc + kNC);
                    for (int ir = ic; ir < iend; ir += kMR) {
                        for (int jr = jc; jr < jend; jr += kNR) {
                            if (diag && jr + kNR <= ir) continue;  // strictly below the diagonal: never read
                            TileFold f{a.offset.data() + r0 + ir, ws.beta.get() + jr, gamma_, r0 + ir, c0 + jr,
                                       std::min(kMR, m - ir), std::min(kNR, n - jr), rows, cols};
                            kern_.microkernel(kc, a_ptr + ir * lda, lda, ws.b.get() + jr * kc,
                                              ws.c.get() + ir * kBlock + jr, kBlock, p0 > 0, fold_now ? &f : nullptr);
                        }
                    }
                }
            }
        }
        if (!diag) return;
        ScanArgs s{ws.c.get(), kBlock,      m,  n,    a.offset.data() + r0, b.offset.data() + c0, gamma_, r0, c0,
                   rows,       cols,        diag ? (p_.exclude_self ? 1 : 2) : 0};
        kern_.scan(s);
    }

    // Visit each unordered block pair once; PairSchedule keeps the blocks of
    // concurrent pairs disjoint.
    void self_join(TopKSet& set) {
        const int64_t nb = ceil_div(db_.n, kBlock);
        PairSchedule schedule(nb);
        total_ = schedule.size();
        const int threads = static_cast<int>(std::min<int64_t>(threads_, std::max<int64_t>(1, nb / 2)));
        // A thread keeps the rows of one block packed for the whole depth and
        // asks for pairs with that block first, so most pairs pack only B.
        const bool prepack = static_cast<int64_t>(kBlock) * d_ <= kPrepackFloats;
        parallel([&](Workspace& ws) {
            std::pair<int64_t, int64_t> pr;
            int64_t packed = -1;
            while (schedule.acquire(pr, packed)) {
                auto [I, J] = pr;
                if (J == packed) std::swap(I, J);
                step([&] {
                    if (prepack && I != packed) {
                        pack_rows(db_, d_, I * kBlock, block_len(db_, I), 0, static_cast<int>(d_), ws.rows.get(),
                                  row_stride());
                        packed = I;
                    }
                    run_pair(ws, db_, I * kBlock, block_len(db_, I), db_, J * kBlock, block_len(db_, J), &set, &set,
                             I == J, prepack ? ws.rows.get() : nullptr);
                });
                schedule.release(pr);
            }
        }, threads, prepack ? static_cast<size_t>(kBlock) * row_stride() : 0);
    }

    // Query blocks x database slices; each slice has its own candidate lists
    // (merged afterwards), so few queries still keep every thread busy.
    void cross(std::vector<TopKSet>& sets) {
        const int64_t nqb = ceil_div(q_.n, kBlock), ndb = ceil_div(db_.n, kBlock);
        const int64_t slices = static_cast<int64_t>(sets.size());
        total_ = nqb * ndb;
        // A query block meets every database block: pack its rows once for the whole
        // depth when that copy stays small, instead of once per pair.
        const bool prepack = static_cast<int64_t>(kBlock) * d_ <= kPrepackFloats;
        parallel([&](Workspace& ws) {
#pragma omp for schedule(dynamic, 1)
            for (int64_t item = 0; item < nqb * slices; ++item) {
                const int64_t qb = item / slices, s = item % slices;
                const int m = block_len(q_, qb);
                if (prepack) pack_rows(q_, d_, qb * kBlock, m, 0, static_cast<int>(d_), ws.rows.get(), row_stride());
                for (int64_t J = s * ndb / slices; J < (s + 1) * ndb / slices; ++J) {
                    step([&] {
                        run_pair(ws, q_, qb * kBlock, m, db_, J * kBlock, block_len(db_, J), &sets[s], nullptr, false,
                                 prepack ? ws.rows.get() : nullptr);
                    });
                }
            }
        }, threads_, prepack ? static_cast<size_t>(kBlock) * row_stride() : 0);
    }

    // Row stride of a block packed for the whole depth: padded off a multiple of
    // 1 KiB so that the six rows a micro-kernel reads do not share L1 sets.
    int64_t row_stride() const { return d_ + kRowPad; }

    static int block_len(const Side<T>& s, int64_t b) {
        return static_cast<int>(std::min<int64_t>(kBlock, s.n - b * kBlock));
    }

    // Runs body(workspace) on every thread; the first exception raised by a
    // step stops all threads and is rethrown here.
    template <class Body>
    void parallel(Body body, int threads, size_t row_copy_floats = 0) {
        std::vector<Workspace> spaces;  // allocated up front: no thread may miss a worksharing loop
        for (int t = 0; t < threads; ++t) spaces.emplace_back(row_copy_floats);
        error_ = nullptr;
        stop_ = false;
        done_ = 0;
        last_tick_ = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(threads)
        body(spaces[omp_get_thread_num()]);
        if (error_) std::rethrow_exception(error_);
        if (!stop_ && p_.progress && !p_.progress(total_, total_)) stop_ = true;  // final report: done == total
        if (stop_) throw Interrupted();
    }

    // One unit of work, skipped once a stop was requested; thread 0 (the
    // caller's thread) reports progress and polls for interrupts. No
    // exception may leave an OpenMP loop, so it is parked in error_.
    template <class Work>
    void step(Work work) {
        if (stop_.load(std::memory_order_relaxed)) return;
        try {
            work();
            done_.fetch_add(1, std::memory_order_relaxed);
            if (omp_get_thread_num() != 0 || !p_.progress) return;
            const auto now = std::chrono::steady_clock::now();
            if (now - last_tick_ < std::chrono::milliseconds(100)) return;
            last_tick_ = now;
            if (!p_.progress(done_.load(), total_)) stop_ = true;
        } catch (...) {
#pragma omp critical(hf_error)
            if (!error_) error_ = std::current_exception();
            stop_ = true;
        }
    }

    double bound(double row_stat, double col_stat) const {
        return bound_scale_ * (additive_ ? row_stat + col_stat : row_stat * col_stat) + kAbsSlack;
    }

    // Exact key in float64: smaller is nearer for every metric.
    double exact_key(const Side<T>& rows, int64_t i, int64_t j) const {
        const T* a = rows.x + i * d_;
        const T* b = db_.x + j * d_;
        double acc = 0;
        if (additive_) {
            for (int64_t c = 0; c < d_; ++c) {
                const double diff = static_cast<double>(a[c]) - static_cast<double>(b[c]);
                acc += diff * diff;
            }
            return acc;
        }
        for (int64_t c = 0; c < d_; ++c) acc += static_cast<double>(a[c]) * static_cast<double>(b[c]);
        // 1 - <x,y> / (|x| |y|) exactly as written, so that parallel vectors tie exactly.
        if (p_.metric == Metric::Cosine) return 1.0 - acc / (rows.norm[i] * db_.norm[j]);
        return -acc;
    }

    double to_distance(double key) const {
        switch (p_.metric) {
            case Metric::Euclidean: return std::sqrt(key);
            case Metric::InnerProduct: return -key;
            default: return key;
        }
    }

    void finalize(const TopKSet& set, const Side<T>& rows, int64_t* out_ids, double* out_dist, KnnStats& stats) {
        const int k = p_.k;
        int64_t recomputed = 0, fallback = 0;
#pragma omp parallel num_threads(threads_) reduction(+ : recomputed, fallback)
        {
            std::vector<std::pair<float, int64_t>> cand;
            std::vector<std::pair<double, int64_t>> exact;
#pragma omp for schedule(dynamic, 64)
            for (int64_t i = 0; i < rows.n; ++i) {
                const int c = set.size(i);
                cand.resize(c);
                for (int s = 0; s < c; ++s) cand[s] = {set.keys(i)[s], set.ids(i)[s]};
                std::sort(cand.begin(), cand.end());
                // Points never kept have fp32 keys >= the worst kept key (the list is full).
                const double unseen_lo = c < n_cand_ ? static_cast<double>(set.thr()[i]) - bound(rows.stat[i], db_.max_stat)
                                                     : std::numeric_limits<double>::infinity();
                double hi = -std::numeric_limits<double>::infinity(), lo = unseen_lo;
                for (int s = 0; s < c; ++s) {
                    const double b = bound(rows.stat[i], db_.stat[cand[s].second]);
                    if (s < k) hi = std::max(hi, cand[s].first + b);
                    else lo = std::min(lo, cand[s].first - b);
                }
                const bool set_certified = hi < lo;
                exact.clear();
                if (set_certified && !out_dist) {
                    for (int s = 0; s < k; ++s) out_ids[i * k + s] = cand[s].second;
                    continue;
                }
                const int n_exact = set_certified ? k : c;
                for (int s = 0; s < n_exact; ++s) exact.emplace_back(exact_key(rows, i, cand[s].second), cand[s].second);
                std::sort(exact.begin(), exact.end());
                if (!set_certified) {
                    ++recomputed;
                    if (!(exact[k - 1].first < unseen_lo)) {
                        ++fallback;
                        scan_all(rows, i, exact);
                    }
                }
                for (int s = 0; s < k; ++s) {
                    out_ids[i * k + s] = exact[s].second;
                    if (out_dist) out_dist[i * k + s] = to_distance(exact[s].first);
                }
            }
        }
        stats.rows_recomputed = recomputed;
        stats.rows_fallback = fallback;
    }

    // The last resort for a row whose boundary fp32 could not settle: every
    // candidate in float64, the k best by (key, id) left at the front of `out`.
    void scan_all(const Side<T>& rows, int64_t i, std::vector<std::pair<double, int64_t>>& out) const {
        out.clear();
        for (int64_t j = 0; j < db_.n; ++j) {
            if (self_ && p_.exclude_self && j == i) continue;
            out.emplace_back(exact_key(rows, i, j), j);
        }
        std::partial_sort(out.begin(), out.begin() + p_.k, out.end());
    }

    const KnnParams& p_;
    const Kernels& kern_;
    int64_t d_;
    bool self_;
    int threads_ = 1;
    Side<T> db_, q_;
    bool additive_ = true;
    float gamma_ = -2.f;
    double bound_scale_ = 0;
    int64_t n_cand_ = 0;
    int cap_ = 0;
    int64_t total_ = 0;
    std::atomic<int64_t> done_{0};
    std::atomic<bool> stop_{false};
    std::exception_ptr error_;
    std::chrono::steady_clock::time_point last_tick_;
};

}  // namespace

KnnStats knn_cpu(const Matrix& db, const Matrix& queries, const KnnParams& params, int64_t* out_ids,
                 double* out_dist) {
    check_arg(db.data != nullptr && db.rows > 0 && db.cols > 0, "the database must be a non-empty 2-D array");
    if (queries.data) {
        check_arg(queries.rows > 0, "queries must be a non-empty 2-D array");
        check_arg(queries.cols == db.cols, "queries have " + std::to_string(queries.cols) +
                                               " features but the database has " + std::to_string(db.cols));
        check_arg(queries.f64 == db.f64, "queries and database must share a dtype");
    }
    if (db.f64) return Engine<double>(db, queries, params).run(out_ids, out_dist);
    return Engine<float>(db, queries, params).run(out_ids, out_dist);
}

}  // namespace hf
