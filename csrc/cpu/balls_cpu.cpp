// Ball queries: one pass over the pairs of a-blocks x b-blocks. A tile of dot
// products gives fp32 squared distances; a pair whose distance is within the
// rounding bound of a radius (see knn_cpu.cpp for the bound) is recomputed in
// float64, so every containment test equals its float64 answer. Several
// layers of balls (one radius per point and layer, each layer with its own
// boundary rule) share the pass: the tile is computed once for all of them.
// At an AMX level the tile holds the AMX pass's keys (amx.h) and the bound
// is its AmxBound; the rule is the same.
#include "balls_cpu.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <exception>
#include <limits>
#include <numeric>
#include <vector>

#include "amx.h"
#include "product.h"
#include "runner.h"
#include "side.h"

namespace hf {
namespace {

// Per-point outputs of one set, written by one thread while it works on a
// pair: either the caller's output arrays themselves (no copy) or a thread's
// own storage, summed into them after the join.
struct Tally {
    int64_t *in_count, *own_count;
    double* min_radius2;
    int64_t n;
    std::vector<int64_t> counts;  // own storage (empty for a view of the outputs)
    std::vector<double> mins;

    Tally(const BallSide& out, int64_t cells) : in_count(out.in_count), own_count(out.own_count),
                                                 min_radius2(out.min_radius2), n(cells) { reset(); }
    explicit Tally(int64_t cells) : n(cells), counts(2 * cells), mins(cells) {
        in_count = counts.data();
        own_count = counts.data() + cells;
        min_radius2 = mins.data();
        reset();
    }
    Tally(const Tally&) = delete;
    Tally(Tally&& o) noexcept = default;  // vectors keep their buffers: the pointers stay valid

    void reset() {
        std::fill(in_count, in_count + n, 0);
        std::fill(own_count, own_count + n, 0);
        std::fill(min_radius2, min_radius2 + n, std::numeric_limits<double>::infinity());
    }
    void add(const Tally& o) {
        for (int64_t i = 0; i < n; ++i) {
            in_count[i] += o.in_count[i];
            own_count[i] += o.own_count[i];
            min_radius2[i] = std::min(min_radius2[i], o.min_radius2[i]);
        }
    }
};

// Twice the absolute part of a key's bound (kAbsSlack: fp32 underflow, which the relative part misses):
// without it, pairs whose squared distances are fp32 subnormals were rejected here unchecked.
constexpr float kTwiceAbsSlack = 2 * static_cast<float>(kAbsSlack);

// near[j] = 1 where pair (row, j) may lie inside a ball: its fp32 key less twice its bound is within the
// column's radius (br2) or the row's (ar2). Branch-free, so the compiler vectorises it; cloned per ISA.
// Rounding of `far` (with or without fused multiply-adds) stays far inside the doubled bound.
__attribute__((target_clones("avx512f", "avx2", "default"))) void near_fp32(
    const float* crow, int n, float ai, const float* boff, float astat, const float* bstat, float scale,
    const float* br2, float ar2, unsigned char* near) {
    for (int j = 0; j < n; ++j) {
        const float far = ai + boff[j] - 2.0f * crow[j] - 2.0f * scale * (astat + bstat[j]) - kTwiceAbsSlack;
        near[j] = static_cast<unsigned char>((far <= br2[j]) | (far <= ar2));
    }
}

// The same for the AMX level's scaled keys, in float64.
__attribute__((target_clones("avx512f", "avx2", "default"))) void near_scaled(
    const float* krow, int n, double twice, const double* reach, double ar2, unsigned char* near) {
    for (int j = 0; j < n; ++j) {
        const double far = static_cast<double>(krow[j]) - twice;
        near[j] = static_cast<unsigned char>((far <= reach[j]) | (far <= ar2));
    }
}

// near[j] = 1 where key[j] <= thr: the AMX level's test when only the rows have balls (a radius search),
// with thr the row's radius plus twice its bound rounded up to a float.
__attribute__((target_clones("avx512f", "avx2", "default"))) void near_below(const float* krow, int n, float thr,
                                                                              unsigned char* near) {
    for (int j = 0; j < n; ++j) near[j] = static_cast<unsigned char>(krow[j] <= thr);
}

// Calls f(j) for each j < n with near[j] set; eight flags per word, so the
// (usual) empty stretches cost one test per eight columns. near is readable
// and zero up to the next multiple of 8.
template <class F>
inline void for_each_near(const unsigned char* near, int n, F f) {
    for (int j0 = 0; j0 < n; j0 += 8) {
        uint64_t w;
        std::memcpy(&w, near + j0, 8);
        for (; w; w &= w - 1) f(j0 + __builtin_ctzll(w) / 8);
    }
}

template <class T>
class BallEngine {
public:
    BallEngine(const Matrix& a, const Matrix& b, const BallParams& p)
        : p_(p), kern_(select_kernels(p.simd)), d_(a.cols), layers_(static_cast<int>(p.inclusive.size())) {
        threads_ = p.n_threads > 0 ? p.n_threads : omp_get_max_threads();
        a_ = prepare<T>(static_cast<const T*>(a.data), a.rows, d_, Metric::SqEuclidean, "queries", threads_);
        b_ = prepare<T>(static_cast<const T*>(b.data), b.rows, d_, Metric::SqEuclidean, "centres", threads_);
        bound_scale_ = fp32_bound_scale(d_);
        amx_scheme_ = amx_scheme_for(d_);
        if (kern_.amx && amx_pack_bytes() <= kAmxMaxPackBytes) {
            // The AMX level: keys from the tiles (amx.h), in scaled units, with their bound.
            amx_ = kern_.amx;
            AmxTransform t = amx_transform(b_, &a_, d_, threads_, false, amx_scheme_);
            if (!amx_pack_database(b_, d_, t, false, threads_, amx_point_layouts(), amx_b_)) amx_ = nullptr;
            amx_scheme_ = t.scheme;
            if (amx_) {
                amx_a_ = amx_pack(a_, d_, t, true, false, threads_);
                amx_bound_ = amx_bound(amx_a_);
                inv_scale2_ = 1.0 / (t.scale * t.scale);  // a power of two: exact
            }
        }
        // The fp32 pass: operands centred on the centres' mean where that shrinks the bounds (side.h).
        if (!amx_ && centre_sides(b_, &a_, d_, threads_)) bound_scale_ += kCentringBoundScale;
        a_stat_ = to_float(a_.stat);
        b_stat_ = to_float(b_.stat);
    }

    // Pair mode (radius_pairs_cpu): every pair inside a's balls is also listed,
    // per thread, as (row << 32) | column. With same_set (a is b) only the
    // pairs j > i are visited (the blocks J >= I) and each is listed both ways;
    // the counts are then not those of the whole pass.
    void collect_pairs(std::vector<std::vector<int64_t>>* pairs, bool same_set) {
        pairs_ = pairs;
        same_set_ = same_set;
        pairs_->assign(threads_, {});
    }
    const Side<T>& a_side() const { return a_; }
    const Side<T>& b_side() const { return b_; }
    int64_t dim() const { return d_; }
    int threads() const { return threads_; }

    void run(const BallSide& sa, const BallSide& sb) {
        a_r2_ = reject_radii(sa.radius2, a_.n, layers_);
        b_r2_ = reject_radii(sb.radius2, b_.n, layers_);
        const int64_t nab = ceil_div(a_.n, kBlock), nbb = ceil_div(b_.n, kBlock);
        Tally ta(sa, a_.n * layers_);  // a's rows belong to one thread at a time: written in place
        std::vector<Tally> tb;          // b's counts: thread 0 writes in place, the others keep their own
        tb.reserve(threads_);
        tb.emplace_back(sb, b_.n * layers_);
        for (int t = 1; t < threads_; ++t) tb.emplace_back(b_.n * layers_);
        const bool prepack = prepack_fits(d_);
        TileRunner runner(p_.progress);
        runner.run([&](Workspace& ws) {
            Tally& mine = tb[omp_get_thread_num()];
            if (amx_) amx_->thread_begin();
#pragma omp for schedule(dynamic, 1)
            for (int64_t I = 0; I < nab; ++I) {
                const int m = block_len(a_.n, I);
                if (prepack && !amx_)
                    pack_rows(a_, d_, I * kBlock, m, 0, static_cast<int>(d_), ws.rows.get(), row_stride(d_));
                for (int64_t J = same_set_ ? I : 0; J < nbb; ++J)
                    runner.step([&] {
                        const int n = block_len(b_.n, J);
                        if (amx_)
                            run_pair_amx(ws, I * kBlock, m, J * kBlock, n, sa, sb, ta, mine);
                        else
                            run_pair(ws, I * kBlock, m, J * kBlock, n, prepack, sa, sb, ta, mine);
                    });
            }
            if (amx_) amx_->thread_end();
        }, threads_, same_set_ ? nab * (nab + 1) / 2 : nab * nbb,
                   prepack && !amx_ ? static_cast<size_t>(kBlock) * row_stride(d_) : 0);
        for (int t = 1; t < threads_; ++t) tb[0].add(tb[t]);
    }

private:
    void run_pair(Workspace& ws, int64_t r0, int m, int64_t c0, int n, bool prepacked, const BallSide& sa,
                  const BallSide& sb, Tally& ta, Tally& tb) {
        tile_product(kern_, ws, a_, r0, m, b_, c0, n, d_, prepacked_rows(ws, prepacked, d_), false,
                     [](int, int) -> const TileFold* { return nullptr; });
        const float scale = static_cast<float>(bound_scale_);
        std::array<unsigned char, kBlock> near;
        for (int i = 0; i < m; ++i) {
            const int64_t gi = r0 + i;
            const float* crow = ws.c.get() + static_cast<int64_t>(i) * kBlock;
            const float ai = a_.offset[gi], astat = a_stat_[gi], ar2 = a_r2_[gi];
            const float* boff = b_.offset.data() + c0;
            const float* bstat = b_stat_.data() + c0;
            const float* br2 = b_r2_.data() + c0;
            // Quick rejection in fp32 (vectorised): a pair farther than twice its
            // bound beyond both radii is outside both balls; the rest is checked exactly.
            near_fp32(crow, n, ai, boff, astat, bstat, scale, br2, ar2, near.data());
            std::fill(near.begin() + n, near.begin() + round_up(n, 8), 0);
            for_each_near(near.data(), n, [&](int j) {
                const int64_t gj = c0 + j;
                if (same_set_ && gj <= gi) return;
                const double key = a_.offset[gi] + b_.offset[gj] - 2.0f * crow[j];
                const double slack = bound_scale_ * (a_.stat[gi] + b_.stat[gj]) + kAbsSlack;
                count_pair(gi, gj, key, slack, sa, sb, ta, tb);
            });
        }
    }

    // The AMX level's pair: scaled keys from the tiles into ws.c, rejected in
    // float64 with twice the row's largest bound, the rest as in run_pair.
    void run_pair_amx(Workspace& ws, int64_t r0, int m, int64_t c0, int n, const BallSide& sa, const BallSide& sb,
                      Tally& ta, Tally& tb) {
        amx_->block_keys({&amx_a_, r0, m, &amx_b_, c0, n, nullptr, nullptr, 0, false}, ws.c.get(), kBlock);
        const double s2 = 1.0 / inv_scale2_;
        std::array<double, kBlock> reach;  // b's largest squared radius of each column, scaled
        for (int j = 0; j < n; ++j) reach[j] = static_cast<double>(b_r2_[c0 + j]) * s2;
        std::array<unsigned char, kBlock> near;
        for (int i = 0; i < m; ++i) {
            const int64_t gi = r0 + i;
            const float* krow = ws.c.get() + static_cast<int64_t>(i) * kBlock;
            // A pair farther than twice the row's largest bound beyond both radii is outside both balls.
            const double twice = 2 * amx_bound_.key(amx_a_.stats[gi], amx_b_.max_stats);
            const double ar2 = static_cast<double>(a_r2_[gi]) * s2;
            if (sb.radius2) {
                near_scaled(krow, n, twice, reach.data(), ar2, near.data());
            } else {  // far <= ar2 with far = key - twice: key <= ar2 + twice, rounded up (never rejects more)
                const float thr = std::nextafter(static_cast<float>(ar2 + twice), std::numeric_limits<float>::infinity());
                near_below(krow, n, thr, near.data());
            }
            std::fill(near.begin() + n, near.begin() + round_up(n, 8), 0);
            for_each_near(near.data(), n, [&](int j) {
                const int64_t gj = c0 + j;
                if (same_set_ && gj <= gi) return;
                const double key = static_cast<double>(krow[j]) * inv_scale2_;
                const double slack = amx_bound_.key(amx_a_.stats[gi], amx_b_.stats[gj]) * inv_scale2_;
                count_pair(gi, gj, key, slack, sa, sb, ta, tb);
            });
        }
    }

    // Counts the pair (gi, gj), whose squared distance is key +- slack, in every layer of balls.
    void count_pair(int64_t gi, int64_t gj, double key, double slack, const BallSide& sa, const BallSide& sb,
                    Tally& ta, Tally& tb) const {
        double exact = -1;  // computed at most once, only at a ball boundary
        for (int l = 0; l < layers_; ++l) {
            const int64_t il = gi * layers_ + l, jl = gj * layers_ + l;
            const bool inclusive = p_.inclusive[l];
            if (sb.radius2 && inside(key, slack, sb.radius2[jl], inclusive, gi, gj, exact)) {
                ++ta.in_count[il];
                ta.min_radius2[il] = std::min(ta.min_radius2[il], sb.radius2[jl]);
                ++tb.own_count[jl];
            }
            if (sa.radius2 && inside(key, slack, sa.radius2[il], inclusive, gi, gj, exact)) {
                ++tb.in_count[jl];
                tb.min_radius2[jl] = std::min(tb.min_radius2[jl], sa.radius2[il]);
                ++ta.own_count[il];
                if (pairs_) {
                    std::vector<int64_t>& mine = (*pairs_)[omp_get_thread_num()];
                    mine.push_back((gi << 32) | gj);
                    if (same_set_) mine.push_back((gj << 32) | gi);  // only gj > gi is visited
                }
            }
        }
    }

    // The AMX pass keeps both sets' parts for the whole run (amx_part_bytes per point).
    int64_t amx_point_layouts() const { return a_.n + b_.n + 2 * kAmxStrip; }
    int64_t amx_pack_bytes() const { return amx_point_layouts() * amx_part_bytes(d_, amx_scheme_); }

    static std::vector<float> to_float(const std::vector<double>& v) { return {v.begin(), v.end()}; }

    // Each point's largest radius over the layers for the fp32 rejection test,
    // rounded up (so rounding never rejects a pair that is inside); -inf where a
    // set has no balls (every pair rejected).
    static std::vector<float> reject_radii(const double* r2, int64_t n, int layers) {
        std::vector<float> out(n, -std::numeric_limits<float>::infinity());
        for (int64_t i = 0; r2 && i < n; ++i) {
            double largest = r2[i * layers];
            for (int l = 1; l < layers; ++l) largest = std::max(largest, r2[i * layers + l]);
            out[i] = std::nextafter(static_cast<float>(largest), std::numeric_limits<float>::infinity());
        }
        return out;
    }

    // Is the pair (i, j), whose fp32 squared distance is `key` +- `slack`, inside a ball of squared radius r2?
    bool inside(double key, double slack, double r2, bool inclusive, int64_t i, int64_t j, double& exact) const {
        if (key + slack < r2) return true;   // certainly inside, even strictly
        if (key - slack > r2) return false;  // certainly outside
        if (exact < 0) exact = exact_sqdist(a_.x + i * d_, b_.x + j * d_, d_);
        return inclusive ? exact <= r2 : exact < r2;
    }


    const BallParams& p_;
    const Kernels& kern_;
    int64_t d_;
    int layers_;
    int threads_ = 1;
    Side<T> a_, b_;
    double bound_scale_ = 0;
    std::vector<float> a_stat_, b_stat_;  // squared norms in fp32, for the rejection test
    std::vector<float> a_r2_, b_r2_;      // squared radii in fp32 (see reject_radii)
    const AmxPass* amx_ = nullptr;        // the AMX level's tiles (or their reference)
    AmxSide amx_a_, amx_b_;
    AmxScheme amx_scheme_ = AmxScheme::Bf16x3;
    AmxBound amx_bound_ = AmxBound::bf16x3(0);
    double inv_scale2_ = 1;
    std::vector<std::vector<int64_t>>* pairs_ = nullptr;
    bool same_set_ = false;
};

// The CSR of the pairs the threads listed, each row sorted by (value(i, j), column) and cut after the
// last value <= keep (every pair is kept when keep is +inf).
template <class T, class Value>
void assemble_pairs(const BallEngine<T>& e, std::vector<std::vector<int64_t>>& lists, Value value, double keep,
                    RadiusPairs& out) {
    constexpr int64_t kLow = (int64_t{1} << 32) - 1;
    const int64_t n = e.a_side().n;
    out.indptr.assign(n + 1, 0);
    for (const auto& list : lists)
        for (int64_t v : list) ++out.indptr[(v >> 32) + 1];
    std::partial_sum(out.indptr.begin(), out.indptr.end(), out.indptr.begin());
    out.indices.resize(out.indptr[n]);
    out.values.resize(out.indptr[n]);
    {
        std::vector<int64_t> fill(out.indptr.begin(), out.indptr.end() - 1);
        for (auto& list : lists) {
            for (int64_t v : list) out.indices[fill[v >> 32]++] = v & kLow;
            std::vector<int64_t>().swap(list);
        }
    }
    std::vector<int64_t> kept(n);
    std::exception_ptr error;  // no exception may leave the parallel region (a row too long to sort in memory)
#pragma omp parallel num_threads(e.threads())
    {
        std::vector<std::pair<double, int64_t>> row;
#pragma omp for schedule(dynamic, 256)
        for (int64_t i = 0; i < n; ++i) {
            try {
                const int64_t s = out.indptr[i], len = out.indptr[i + 1] - s;
                row.resize(len);
                for (int64_t t = 0; t < len; ++t) row[t] = {value(i, out.indices[s + t]), out.indices[s + t]};
                std::sort(row.begin(), row.end());
                kept[i] = std::partition_point(row.begin(), row.end(), [&](const auto& p) { return p.first <= keep; }) -
                          row.begin();
                for (int64_t t = 0; t < len; ++t) {
                    out.values[s + t] = row[t].first;
                    out.indices[s + t] = row[t].second;
                }
            } catch (...) {
#pragma omp critical(hf_radius_error)
                if (!error) error = std::current_exception();
            }
        }
    }
    if (error) std::rethrow_exception(error);
    int64_t w = 0;  // each row's kept head moved down over the cut tails before it
    for (int64_t i = 0; i < n; ++i) {
        const int64_t s = out.indptr[i];
        if (w != s) {  // w < s: std::copy may write over its source's earlier part, not over its start
            std::copy(out.indices.begin() + s, out.indices.begin() + s + kept[i], out.indices.begin() + w);
            std::copy(out.values.begin() + s, out.values.begin() + s + kept[i], out.values.begin() + w);
        }
        out.indptr[i] = w;
        w += kept[i];
    }
    out.indptr[n] = w;
    out.indices.resize(w);
    out.values.resize(w);
}

}  // namespace

void balls_cpu(const Matrix& a, const BallSide& sa, const Matrix& b, const BallSide& sb, const BallParams& params) {
    check_arg(a.data && a.rows > 0 && b.data && b.rows > 0 && a.stride() == a.cols && b.stride() == b.cols,
              "both point sets must be non-empty C-contiguous 2-D arrays");
    check_arg(a.cols == b.cols, "queries have " + std::to_string(a.cols) + " features but the centres have " +
                                    std::to_string(b.cols));
    check_arg(a.f64 == b.f64, "queries and centres must share a dtype");
    check_arg(sa.in_count && sa.min_radius2 && sa.own_count && sb.in_count && sb.min_radius2 && sb.own_count,
              "every output array must be given");
    check_arg(!params.inclusive.empty(), "a ball pass needs at least one layer");
    if (a.f64) return BallEngine<double>(a, b, params).run(sa, sb);
    BallEngine<float>(a, b, params).run(sa, sb);
}

namespace {

template <class T>
void radius_pairs(const Matrix& a, double radius2, const Matrix& b, bool same_set, const BallParams& params,
                  RadiusPairs& out, const CosineValues* cosine) {
    BallEngine<T> e(a, b, params);
    std::vector<double> r2(a.rows, radius2);
    std::vector<int64_t> counts(2 * (a.rows + b.rows));
    std::vector<double> mins(a.rows + b.rows);
    const BallSide sa{r2.data(), counts.data(), mins.data(), counts.data() + a.rows};
    const BallSide sb{nullptr, counts.data() + 2 * a.rows, mins.data() + a.rows, counts.data() + 2 * a.rows + b.rows};
    std::vector<std::vector<int64_t>> blocks;
    e.collect_pairs(&blocks, same_set);
    e.run(sa, sb);
    const int64_t d = e.dim();
    if (!cosine) {
        const T* xa = e.a_side().x;
        const T* xb = e.b_side().x;
        return assemble_pairs(e, blocks, [=](int64_t i, int64_t j) { return exact_sqdist(xa + i * d, xb + j * d, d); },
                              std::numeric_limits<double>::infinity(), out);
    }
    const CosineValues c = *cosine;
    auto values = [&](auto* xa, auto* xb) {
        assemble_pairs(e, blocks, [=](int64_t i, int64_t j) {
            return exact_cosine(xa + i * d, xb + j * d, d, c.a_norm[i], c.b_norm[j]);
        }, c.radius, out);
    };
    if (c.a.f64)
        values(static_cast<const double*>(c.a.data), static_cast<const double*>(c.b.data));
    else
        values(static_cast<const float*>(c.a.data), static_cast<const float*>(c.b.data));
}

}  // namespace

void radius_pairs_cpu(const Matrix& a, double radius2, const Matrix& b, bool same_set, const BallParams& params,
                      RadiusPairs& out, const CosineValues* cosine) {
    check_arg(a.data && a.rows > 0 && b.data && b.rows > 0 && a.stride() == a.cols && b.stride() == b.cols,
              "both point sets must be non-empty C-contiguous 2-D arrays");
    check_arg(a.cols == b.cols, "queries have " + std::to_string(a.cols) + " features but x has " +
                                    std::to_string(b.cols));
    check_arg(a.f64 == b.f64, "queries and x must share a dtype");
    check_arg(std::isfinite(radius2) && radius2 >= 0, "the squared radius must be a finite number >= 0");
    check_arg(params.inclusive.size() == 1, "a radius search has one boundary rule");
    check_arg(!same_set || (a.data == b.data && a.rows == b.rows), "same_set needs one point set on both sides");
    check_arg(a.rows < (int64_t{1} << 31) && b.rows < (int64_t{1} << 31), "a radius search takes up to 2^31 points a side");
    if (cosine) {
        const CosineValues& c = *cosine;
        check_arg(c.a.data && c.b.data && c.a.rows == a.rows && c.b.rows == b.rows && c.a.cols == a.cols &&
                      c.b.cols == b.cols && c.a.stride() == c.a.cols && c.b.stride() == c.b.cols && c.a.f64 == c.b.f64,
                  "the cosine rows must be C-contiguous, of one dtype, shaped as the pass's rows");
        check_arg(c.a_norm && c.b_norm && std::isfinite(c.radius), "a cosine search needs the norms and a finite radius");
        check_arg(!same_set || (c.a.data == c.b.data && c.a_norm == c.b_norm), "same_set needs one set of cosine rows");
    }
    if (a.f64) return radius_pairs<double>(a, radius2, b, same_set, params, out, cosine);
    radius_pairs<float>(a, radius2, b, same_set, params, out, cosine);
}

template <class T>
void pair_cosines(const Matrix& a, const double* a_norm, const Matrix& b, const double* b_norm, const int64_t* rows,
                  const int64_t* cols, int64_t n, int threads, double* out) {
    const T* xa = static_cast<const T*>(a.data);
    const T* xb = static_cast<const T*>(b.data);
    const int64_t d = a.cols;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t p = 0; p < n; ++p) {
        out[p] = exact_cosine(xa + rows[p] * d, xb + cols[p] * d, d, a_norm[rows[p]], b_norm[cols[p]]);
    }
}

void pair_cosines_cpu(const Matrix& a, const double* a_norm, const Matrix& b, const double* b_norm,
                      const int64_t* rows, const int64_t* cols, int64_t n, int n_threads, double* out) {
    check_arg(a.data && b.data && a.stride() == a.cols && b.stride() == b.cols && a.f64 == b.f64 && a.cols == b.cols,
              "both point sets must be C-contiguous 2-D arrays of one dtype and width");
    for (int64_t p = 0; p < n; ++p)
        check_arg(rows[p] >= 0 && rows[p] < a.rows && cols[p] >= 0 && cols[p] < b.rows, "a pair index is out of range");
    constexpr int64_t kSmallPairs = 4096;  // fewer pairs than this: one thread (a team costs more)
    const int threads = n < kSmallPairs ? 1 : n_threads > 0 ? n_threads : omp_get_max_threads();
    if (a.f64) return pair_cosines<double>(a, a_norm, b, b_norm, rows, cols, n, threads, out);
    pair_cosines<float>(a, a_norm, b, b_norm, rows, cols, n, threads, out);
}

}  // namespace hf
