// Exact k-NN on the CPU.
//
// 1. Candidate pass (fp32). Rows are cut into blocks of kBlock; a pair of
//    blocks meets as A (contiguous fp32 rows: read in place or packed) and B
//    (panels of 16 or 48 rows by kernel level, kKC deep), is multiplied by the SIMD micro-kernel
//    into a tile of dot products, and each micro-tile (6 rows by one panel,
//    simd.h) is folded from registers into
//    per-point candidate lists of k + kCandidateMargin entries (TopKSet). A
//    self-join visits each unordered block pair once and feeds both its rows
//    and its columns; PairSchedule hands pairs out so that no two threads
//    ever hold the same block, hence the same list, and a thread keeps one
//    block packed as B for all the pairs it meets it in.
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
//    strictly below the unseen bound (ties beyond the list) the row gets a
//    wider fp32 pass of its own, lists of 32 then 4 times longer, certified
//    by the same rule (settle); only rows no list of at most a quarter of the
//    points settles, and rows equal value for value to another unsettled row,
//    are solved by a float64 scan of the whole database (one per group of
//    equal rows). The wider passes run on the fp32 kernels at every level,
//    AMX included, for both sides of a block pair, and for the rows another
//    backend's lists leave unsettled (certify_external). Ties are ordered by index at every step, so the
//    result equals a float64 brute force whatever the threads or tiles.
//    Points gathered far from the origin (W space) are centred on the
//    database's mean first (cosine: the unit rows), which shrinks |x|^2 and
//    so the bound (centre_sides, side.h); the float64 keys still come from
//    the input.
// 3. At an AMX level the candidates of every metric (cosine on the
//    normalised rows, inner products uncentred) come from bf16x3 tile products instead (amx.h,
//    simd_amx.cpp): the same block pairs and lists, keys in scaled units,
//    certified by the same rule with Bf16x3Bound (common/bound.h).
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
#include <mutex>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

#include "../common/errors.h"
#include "../common/topk.h"
#include "amx.h"
#include "certify.h"
#include "pair_schedule.h"
#include "product.h"
#include "runner.h"
#include "side.h"
#include "simd.h"

namespace hf {
namespace {


// The number of candidate neighbours of each row, checked against k.
inline int64_t candidates_per_row(int64_t n_db, bool self, bool exclude_self, int k, bool pair) {
    const int64_t n_cand = self ? (exclude_self ? n_db - 1 : n_db) : n_db;
    check_arg(k >= 1 && (pair || k <= n_cand),
              "k must be between 1 and " + std::to_string(n_cand) + " (the number of candidate neighbours), got " +
                  std::to_string(k));
    return n_cand;
}

inline int threads_of(const KnnParams& p) { return p.n_threads > 0 ? p.n_threads : omp_get_max_threads(); }

// The fp32 kernels of a level (an AMX level runs them for every pass but the
// euclidean family's candidates).
inline const Kernels& fp32_kernels(const Kernels& level) { return level.fp32 ? *level.fp32 : level; }

// The AMX pass's bounds (AmxBound) in the Certifier's terms: keys in scaled units.
// key_scale: the candidate keys over the float64 keys: s^2 (euclidean family),
// 2 s^2 for cosine (|x/|x| - y/|y||^2 = 2 (1 - cos)) and for inner products
// (keys -2 s^2 <x, y>, float64 keys -<x, y>; the float64 dot's own rounding,
// under D 2^-53 |a| |b|, is inside the bound's (3 d_pad + 8) 2^-53 (alpha_i + alpha_j)).
struct AmxBounds {
    const AmxBound& b;
    const AmxSide& rows;
    const AmxSide& cols;
    double key_scale;
    AmxBounds(const AmxBound& bound, const AmxSide& r, const AmxSide& c, Metric metric)
        : b(bound), rows(r), cols(c), key_scale(r.scale * r.scale * (metric == Metric::Cosine || metric == Metric::InnerProduct ? 2 : 1)) {}
    double pair(int64_t i, int64_t j) const { return b.key(rows.stats[i], cols.stats[j]); }
    double unseen(int64_t i) const { return b.key(rows.stats[i], cols.max_stats); }
};

// The candidate passes (self-join, search, block pair) over prepared sides:
// fp32 on the SIMD kernels, or bf16x3 on AMX tiles for the euclidean family at
// an AMX level; each run ends in the Certifier.
// What an Engine is built for: its own candidate pass (a self-join or search), a block pair, or
// lists another backend formed (certified as they are, the unsettled rows widened here).
enum class Role { Pass, Pair, External };

template <class T>
class Engine {
public:
    // Pair: a = queries, b = db, both sides folded (see knn_pair_cpu). External: no tile pass of its
    // own, so the sides stay as given (the lists' keys were formed from them) and nothing is packed.
    Engine(const Matrix& db, const Matrix& queries, const KnnParams& params, Role role = Role::Pass)
        : p_(params), level_(select_kernels(params.simd)), kern_(fp32_kernels(level_)), d_(db.cols),
          self_(queries.data == nullptr), pair_(role == Role::Pair), threads_(threads_of(params)),
          cert_(params.metric, db.cols, threads_) {
        cert_.poll_with(p_.progress);
        cert_.scan_with_avx2(std::strcmp(level_.name, "generic") != 0);
        db_ = prepare<T>(static_cast<const T*>(db.data), db.rows, d_, p_.metric,
                         self_ ? "x" : (pair_ ? "b" : "x (database)"), threads_);
        if (!self_) q_ = prepare<T>(static_cast<const T*>(queries.data), queries.rows, d_, p_.metric,
                                    pair_ ? "a" : "queries", threads_);
        gamma_ = euclidean_family(p_.metric) ? -2.f : -1.f;
        n_cand_ = candidates_per_row(db_.n, self_, p_.exclude_self, p_.k, pair_);
        cap_ = candidate_cap(p_.k, n_cand_);
        // Cosine runs the euclidean pass on the normalised rows. Inner products
        // run it uncentred (a shift changes them) with zero offsets: keys
        // -2 s^2 <x, y>, bounded like the others by the norms (as the fp32
        // bound is), hence looser than the centred euclidean family's for
        // data far from the origin.
        if (role == Role::External) return;
        amx_scheme_ = amx_scheme_for(d_);
        AmxTransform t;
        if (level_.amx && amx_pack_bytes() <= kAmxMaxPackBytes) {
            amx_ = level_.amx;
            t = amx_transform(db_, self_ ? nullptr : &q_, d_, threads_, p_.metric == Metric::InnerProduct, amx_scheme_);
            // Rows of the tile products: the points whose lists a search fills (queries, or a
            // pair's a); columns: the database. A self-join needs its points in both layouts.
            if (!amx_pack_database(db_, d_, t, self_, threads_, amx_point_layouts(), amx_db_)) amx_ = nullptr;
            amx_scheme_ = t.scheme;
        }
        if (amx_) {
            if (!self_) amx_q_ = amx_pack(q_, d_, t, true, false, threads_);
            // Cosine: the float64 rows x/|x| are unit vectors only to about (D + 6) 2^-53,
            // and the certifier's key 1 - <x,y> / (|x| |y|) has its own rounding of
            // about (D + 4) 2^-53: together below (8 D + 64) 2^-53 s^2 between
            // s^2 |x/|x| - y/|y||^2 and 2 s^2 times the float64 key.
            const double extra = p_.metric == Metric::Cosine
                                     ? (8.0 * static_cast<double>(d_) + 64) * 0x1p-53 * t.scale * t.scale : 0.0;
            amx_bound_ = amx_bound(amx_db_, extra);
        } else if (p_.metric != Metric::InnerProduct && centre_sides(db_, self_ ? nullptr : &q_, d_, threads_)) {
            cert_.set_centred();
        }
    }

    // Pair mode: the lists of a (against b) and of b (against a).
    KnnStats run_pair_mode(int64_t* a_ids, double* a_dist, int64_t* b_ids, double* b_dist) {
        const int ka = static_cast<int>(std::min<int64_t>(p_.k, db_.n)), kb = static_cast<int>(std::min<int64_t>(p_.k, q_.n));
        TopKSet set_a(q_.n, candidate_cap(ka, db_.n), db_.n);
        with_bounds(q_, amx_q_, db_, amx_db_, [&](const auto& bounds) { set_margins(set_a, ka, bounds); });
        std::vector<TopKSet> sets_b;  // per thread: several a-blocks meet one b-block at once
        for (int t = 0; t < threads_; ++t) {
            sets_b.emplace_back(db_.n, candidate_cap(kb, q_.n), q_.n);
            with_bounds(db_, amx_db_, q_, amx_q_, [&](const auto& bounds) { set_margins(sets_b.back(), kb, bounds); });
        }
        amx_ ? pair_blocks_amx(set_a, sets_b) : pair_blocks(set_a, sets_b);
        for (int t = 1; t < threads_; ++t) sets_b[0].merge_from(sets_b[t]);
        set_a.finalize();
        sets_b[0].finalize();
        KnnStats stats;
        stats.kernels = amx_ ? level_.name : kern_.name;
        std::vector<int64_t> todo_a, todo_b;
        with_bounds(q_, amx_q_, db_, amx_db_, [&](const auto& bounds) {
            cert_.certify(set_a, q_, db_, db_.n, ka, false, a_ids, a_dist, stats, bounds, &todo_a);
        });
        with_bounds(db_, amx_db_, q_, amx_q_, [&](const auto& bounds) {
            cert_.certify(sets_b[0], db_, q_, q_.n, kb, false, b_ids, b_dist, stats, bounds, &todo_b);
        });
        sets_b.clear();  // the lists' memory, before the wider ones
        settle(q_, Target{db_, db_.n, candidate_cap(ka, db_.n), ka, false}, std::move(todo_a), a_ids, a_dist, stats);
        settle(db_, Target{q_, q_.n, candidate_cap(kb, q_.n), kb, false}, std::move(todo_b), b_ids, b_dist, stats);
        return stats;
    }

    // Another backend's lists (`set`, of cap_ entries a row): certified by the fp32 rule, as they
    // are; the rows they leave unsettled get this engine's wider passes, then the scan.
    KnnStats run_external(const TopKSet& set, int64_t* out_ids, double* out_dist) {
        const Side<T>& rows = self_ ? db_ : q_;
        const bool skip_self = self_ && p_.exclude_self;
        KnnStats stats;
        stats.kernels = "external";
        std::vector<int64_t> todo;
        cert_.certify(set, rows, db_, n_cand_, p_.k, skip_self, out_ids, out_dist, stats, fp32_bounds(rows, db_),
                      &todo);
        settle(rows, Target{db_, n_cand_, cap_, p_.k, skip_self}, std::move(todo), out_ids, out_dist, stats);
        return stats;
    }

    int cap() const { return cap_; }
    int64_t n_rows() const { return self_ ? db_.n : q_.n; }
    int64_t n_db() const { return db_.n; }

    KnnStats run(int64_t* out_ids, double* out_dist) {
        const Side<T>& rows = self_ ? db_ : q_;
        std::vector<TopKSet> sets;
        const AmxSide& amx_rows = self_ ? amx_db_ : amx_q_;
        auto margins = [&](TopKSet& set) {
            with_bounds(rows, amx_rows, db_, amx_db_, [&](const auto& bounds) { set_margins(set, p_.k, bounds); });
        };
        if (self_) {
            sets.emplace_back(db_.n, cap_, db_.n);
            margins(sets[0]);
            amx_ ? self_join_amx(sets[0]) : self_join(sets[0]);
        } else {
            const int64_t nqb = ceil_div(q_.n, kBlock), ndb = ceil_div(db_.n, kBlock);
            const int slices = (nqb >= 2 * threads_) ? 1 : static_cast<int>(std::min<int64_t>(threads_, ndb));
            for (int s = 0; s < slices; ++s) {
                sets.emplace_back(q_.n, cap_, db_.n);
                margins(sets.back());
            }
            amx_ ? cross_amx(sets) : cross(q_, db_, sets, runner_);
            for (int s = 1; s < slices; ++s) sets[0].merge_from(sets[s]);
        }
        sets[0].finalize();
        KnnStats stats;
        stats.kernels = amx_ ? level_.name : kern_.name;
        const bool skip_self = self_ && p_.exclude_self;
        std::vector<int64_t> todo;
        with_bounds(rows, amx_rows, db_, amx_db_, [&](const auto& bounds) {
            cert_.certify(sets[0], rows, db_, n_cand_, p_.k, skip_self, out_ids, out_dist, stats, bounds, &todo);
        });
        sets.clear();  // the lists' memory, before the wider ones
        settle(rows, Target{db_, n_cand_, cap_, p_.k, skip_self}, std::move(todo), out_ids, out_dist, stats);
        return stats;
    }

private:
    // Dot products of rows [r0, r0+m) of `a` with rows [c0, c0+n) of `b`, folded
    // into the candidate lists: off-diagonal pairs fold each micro-tile from
    // registers on the last depth pass; diagonal pairs keep the tile in ws.c
    // and scan its upper triangle.
    void run_pair(Workspace& ws, const Side<T>& a, int64_t r0, int m, const Side<T>& b, int64_t c0, int n,
                  TopKSet* rows, TopKSet* cols, bool diag, const Prepacked& pre, bool same_set = true) {
        std::copy(a.offset.begin() + r0, a.offset.begin() + r0 + m, ws.alpha.get());
        std::fill(ws.alpha.get() + m, ws.alpha.get() + round_up(m, kMR), std::numeric_limits<float>::quiet_NaN());
        std::copy(b.offset.begin() + c0, b.offset.begin() + c0 + n, ws.beta.get());
        std::fill(ws.beta.get() + n, ws.beta.get() + round_up(n, kern_.nr), std::numeric_limits<float>::quiet_NaN());  // padded columns never pass a fold
        // The lists this pair may update were last touched long ago: fetch them while the tile runs.
        if (rows)
            for (int i = 0; i < m; ++i) rows->prefetch(r0 + i);
        if (cols)
            for (int j = 0; j < n; ++j) cols->prefetch(c0 + j);
        TileFold f{nullptr, nullptr, gamma_, 0, 0, rows, cols, same_set};
        tile_product(kern_, ws, a, r0, m, b, c0, n, d_, pre, diag, [&](int ir, int jr) -> const TileFold* {
            if (diag) return nullptr;
            f.alpha = ws.alpha.get() + ir;
            f.beta = ws.beta.get() + jr;
            f.row0 = r0 + ir;
            f.col0 = c0 + jr;
            return &f;
        });
        if (!diag) return;
        ScanArgs s{ws.c.get(), kBlock, m, n, a.offset.data() + r0, b.offset.data() + c0, gamma_, r0, c0,
                   rows, cols, p_.exclude_self ? 1 : 2};
        kern_.scan(s);
    }

    // Visit each unordered block pair once; PairSchedule keeps the blocks of
    // concurrent pairs disjoint.
    void self_join(TopKSet& set) {
        const int64_t nb = ceil_div(db_.n, kBlock);
        PairSchedule schedule(nb);
        total_ = schedule.size();
        const int threads = static_cast<int>(std::min<int64_t>(threads_, std::max<int64_t>(1, nb / 2)));
        // A thread keeps one block I packed as B panels for the whole depth and
        // asks for pairs with that block first; the other block's rows are the
        // A operand, read in place when they are fp32, so most pairs pack nothing.
        // Its rows are the tile's rows, I's points its columns.
        const bool prepack = prepack_fits(d_);
        runner_.run([&](Workspace& ws) {
            std::pair<int64_t, int64_t> pr;
            int64_t packed = -1;
            while (schedule.acquire(pr, packed)) {
                auto [I, J] = pr;
                if (J == packed) std::swap(I, J);
                runner_.step([&] {
                    const int mi = block_len(db_, I), mj = block_len(db_, J);
                    Prepacked pre;
                    if (prepack) {
                        if (I != packed) {
                            pack_block_panels(kern_, db_, d_, I * kBlock, mi, ws.rows.get());
                            packed = I;
                        }
                        pre = {rows_in_place(db_, d_, J * kBlock, mj), d_, ws.rows.get()};
                    }
                    run_pair(ws, db_, J * kBlock, mj, db_, I * kBlock, mi, &set, &set, I == J, pre);
                });
                schedule.release(pr);
            }
        }, threads, total_, prepack ? static_cast<size_t>(kBlock) * d_ : 0);
    }

    // What unsettled rows were matched against: the columns, each row's number of candidates,
    // the length of the lists that left them unsettled, k, and whether a row's own point
    // (a self-join's) is left out.
    struct Target {
        const Side<T>& cols;
        int64_t n_cand;
        int cap;
        int k;
        bool skip_self;
    };

    // The rows certify left unsettled (`todo`: the k-th key ties with points beyond the list) get
    // a wider pass of their own on the fp32 kernels (at an AMX level too, as the GPU path's wider
    // passes use its fp32 product), lists 4 times as long each time (the GPU path's rule), certified
    // by the same rule; the float64 scan takes the rows still unsettled once a list would hold more
    // than a quarter of the candidates or a block's lists more than kWideBytes, and at once the rows
    // equal value for value to another unsettled row (scan_distinct settles such a group with one
    // scan). Rows go in chunks of about kWideBytes of lists and copied rows (one block at the least).
    // Both directions of a block pair settle this way, each against the other side.
    void settle(const Side<T>& rows, const Target& to, std::vector<int64_t> todo, int64_t* out_ids, double* out_dist,
                KnnStats& stats) {
        std::vector<int64_t> scan = cert_.take_repeated(rows, todo);
        constexpr int64_t kWideBytes = int64_t{128} << 20;
        int64_t wide = 0;  // the wider lists' length, a row's own point included where it is left out
        while (!todo.empty()) {
            wide = wide ? 4 * wide : TopKSet::kSortedMaxCap;  // sorted lists first, then heaps
            // each row's lists: one per slice (threads) and the certified copy
            const int64_t list_bytes = wide * static_cast<int64_t>(sizeof(float) + sizeof(int64_t)) * (threads_ + 1);
            if (4 * wide > to.n_cand || kBlock * list_bytes > kWideBytes) break;
            if (wide - to.skip_self <= to.cap) continue;  // no longer than the lists that left these rows unsettled
            const int64_t row_bytes = d_ * static_cast<int64_t>(sizeof(T) + sizeof(float)) + list_bytes;
            const int64_t chunk = std::max<int64_t>(kBlock, kWideBytes / row_bytes);
            std::vector<int64_t> still;
            for (size_t c0 = 0; c0 < todo.size(); c0 += static_cast<size_t>(chunk)) {
                const std::vector<int64_t> part(todo.begin() + c0,
                                                todo.begin() + std::min(todo.size(), c0 + static_cast<size_t>(chunk)));
                widen(rows, to, part, static_cast<int>(wide), out_ids, out_dist, still);
            }
            stats.rows_widened += static_cast<int64_t>(todo.size() - still.size());
            todo.swap(still);
        }
        scan.insert(scan.end(), todo.begin(), todo.end());
        cert_.scan(rows, to.cols, scan, to.k, to.skip_self, out_ids, out_dist, stats);
    }

    // One wider pass for rows `part` of `rows`: lists of `wide` candidates (a row's own point, which
    // a self-join leaves out, taken out afterwards), certified; rows still unsettled go to `still`.
    void widen(const Side<T>& rows, const Target& to, const std::vector<int64_t>& part, int wide, int64_t* out_ids,
               double* out_dist, std::vector<int64_t>& still) {
        const SideRows<T> sub(rows, part, d_);
        const int64_t m = sub.side.n;
        const int64_t nqb = ceil_div(m, kBlock), ndb = ceil_div(to.cols.n, kBlock);
        const int slices = (nqb >= 2 * threads_) ? 1 : static_cast<int>(std::min<int64_t>(threads_, ndb));
        std::vector<TopKSet> sets;
        for (int s = 0; s < slices; ++s) sets.emplace_back(m, wide, to.cols.n);
        const Progress poll = [this](int64_t, int64_t) { return !p_.progress || p_.progress(-1, 0); };  // Ctrl-C only
        TileRunner runner(poll);
        cross(sub.side, to.cols, sets, runner);
        for (int s = 1; s < slices; ++s) sets[0].merge_from(sets[s]);
        sets[0].finalize();
        TopKSet lists(m, wide - (to.skip_self ? 1 : 0));  // full: n_cand >= 4 wide points were offered
        for (int64_t r = 0; r < m; ++r)
            for (int e = 0; e < sets[0].size(r); ++e)
                if (!(to.skip_self && sets[0].ids(r)[e] == part[r])) lists.push(r, sets[0].keys(r)[e], sets[0].ids(r)[e]);
        sets.clear();
        const int k = to.k;
        std::vector<int64_t> ids(m * k);
        std::vector<double> dist(out_dist ? m * k : 0);
        std::vector<int64_t> open;
        KnnStats counted;  // this pass's rows were counted by the first certification
        cert_.certify(lists, sub.side, to.cols, to.n_cand, k, false, ids.data(), out_dist ? dist.data() : nullptr,
                      counted, fp32_bounds(sub.side, to.cols), &open);
        std::vector<char> unsettled(m, 0);
        for (int64_t r : open) {
            unsettled[r] = 1;
            still.push_back(part[r]);
        }
        for (int64_t r = 0; r < m; ++r) {
            if (unsettled[r]) continue;
            std::copy(ids.begin() + r * k, ids.begin() + (r + 1) * k, out_ids + part[r] * k);
            if (out_dist) std::copy(dist.begin() + r * k, dist.begin() + (r + 1) * k, out_dist + part[r] * k);
        }
    }

    // Query blocks (of q: the queries, or rows being widened) x slices of cols (the database, or a pair's
    // other side); each slice has its
    // own candidate lists (merged afterwards), so few queries still keep every thread busy.
    void cross(const Side<T>& q, const Side<T>& cols, std::vector<TopKSet>& sets, TileRunner& runner) {
        const int64_t nqb = ceil_div(q.n, kBlock), ndb = ceil_div(cols.n, kBlock);
        const int64_t slices = static_cast<int64_t>(sets.size());
        const int64_t total = nqb * ndb;
        // A query block meets every database block: as in the self-join, it is
        // packed once as B panels for the whole depth (its points are the tile's
        // columns, whose lists the fold feeds) and the database rows are the A
        // operand, read in place when they are fp32, so most pairs pack nothing.
        const bool prepack = prepack_fits(d_);
        runner.run([&](Workspace& ws) {
#pragma omp for schedule(dynamic, 1)
            for (int64_t item = 0; item < nqb * slices; ++item) {
                const int64_t qb = item / slices, s = item % slices;
                const int m = block_len(q, qb);
                if (prepack) pack_block_panels(kern_, q, d_, qb * kBlock, m, ws.rows.get());
                for (int64_t J = s * ndb / slices; J < (s + 1) * ndb / slices; ++J) {
                    runner.step([&] {
                        const int mj = block_len(cols, J);
                        Prepacked pre;
                        if (prepack) pre = {rows_in_place(cols, d_, J * kBlock, mj), d_, ws.rows.get()};
                        run_pair(ws, cols, J * kBlock, mj, q, qb * kBlock, m, nullptr, &sets[s], false, pre, false);
                    });
                }
            }
        }, threads_, total, prepack ? static_cast<size_t>(kBlock) * d_ : 0);
    }

    // Calls f with the rounding bounds of the pass that formed the candidate
    // lists of `rows` against `cols`: the AMX pass's or the fp32 kernels'.
    template <class F>
    void with_bounds(const Side<T>& rows, const AmxSide& amx_rows, const Side<T>& cols, const AmxSide& amx_cols,
                     F f) const {
        if (amx_)
            f(AmxBounds(amx_bound_, amx_rows, amx_cols, p_.metric));
        else
            f(fp32_bounds(rows, cols));
    }

    // Pair mode's blocks: a's blocks (rows) x b's blocks (columns), both folded.
    void pair_blocks(TopKSet& set_a, std::vector<TopKSet>& sets_b) {
        const int64_t nab = ceil_div(q_.n, kBlock), nbb = ceil_div(db_.n, kBlock);
        total_ = nab * nbb;
        const bool prepack = prepack_fits(d_);
        runner_.run([&](Workspace& ws) {
            TopKSet& mine = sets_b[omp_get_thread_num()];
#pragma omp for schedule(dynamic, 1)
            for (int64_t I = 0; I < nab; ++I) {
                const int m = block_len(q_, I);
                if (prepack) pack_rows(q_, d_, I * kBlock, m, 0, static_cast<int>(d_), ws.rows.get(), row_stride(d_));
                for (int64_t J = 0; J < nbb; ++J) {
                    runner_.step([&] {
                        run_pair(ws, q_, I * kBlock, m, db_, J * kBlock, block_len(db_, J), &set_a, &mine, false,
                                 prepacked_rows(ws, prepack, d_), false);
                    });
                }
            }
        }, threads_, total_, prepack ? static_cast<size_t>(kBlock) * row_stride(d_) : 0);
    }

    void pair_blocks_amx(TopKSet& set_a, std::vector<TopKSet>& sets_b) {
        const int64_t nab = ceil_div(q_.n, kBlock), nbb = ceil_div(db_.n, kBlock);
        total_ = nab * nbb;
        runner_.run([&](Workspace&) {
            TopKSet& mine = sets_b[omp_get_thread_num()];
            amx_->thread_begin();
#pragma omp for schedule(dynamic, 1)
            for (int64_t I = 0; I < nab; ++I)
                for (int64_t J = 0; J < nbb; ++J)
                    runner_.step([&] {
                        amx_->pair({&amx_q_, I * kBlock, block_len(q_, I), &amx_db_, J * kBlock, block_len(db_, J),
                                    &set_a, &mine, 0, false});
                    });
            amx_->thread_end();
        }, threads_, total_);
    }

    // The AMX self-join: the same schedule of block pairs, each pair's strips on the tiles.
    void self_join_amx(TopKSet& set) {
        const int64_t nb = ceil_div(db_.n, kBlock);
        PairSchedule schedule(nb);
        total_ = schedule.size();
        const int threads = static_cast<int>(std::min<int64_t>(threads_, std::max<int64_t>(1, nb / 2)));
        const int diag = p_.exclude_self ? 1 : 2;
        runner_.run([&](Workspace&) {
            amx_->thread_begin();
            std::pair<int64_t, int64_t> pr;
            int64_t held = -1;
            while (schedule.acquire(pr, held)) {
                int64_t I = pr.first, J = pr.second;
                if (J == held) std::swap(I, J);  // the block met last stays the columns: its B parts stay in cache
                held = I;
                runner_.step([&] {
                    amx_->pair({&amx_db_, J * kBlock, block_len(db_, J), &amx_db_, I * kBlock, block_len(db_, I), &set,
                                &set, I == J ? diag : 0, true});
                });
                schedule.release(pr);
            }
            amx_->thread_end();
        }, threads, total_);
    }

    // The AMX search: query blocks (the tile rows, whose lists they fill) x database slices.
    void cross_amx(std::vector<TopKSet>& sets) {
        const int64_t nqb = ceil_div(q_.n, kBlock), ndb = ceil_div(db_.n, kBlock);
        const int64_t slices = static_cast<int64_t>(sets.size());
        total_ = nqb * ndb;
        runner_.run([&](Workspace&) {
            amx_->thread_begin();
#pragma omp for schedule(dynamic, 1)
            for (int64_t item = 0; item < nqb * slices; ++item) {
                const int64_t qb = item / slices, s = item % slices;
                for (int64_t J = s * ndb / slices; J < (s + 1) * ndb / slices; ++J)
                    runner_.step([&] {
                        amx_->pair({&amx_q_, qb * kBlock, block_len(q_, qb), &amx_db_, J * kBlock, block_len(db_, J),
                                    &sets[s], nullptr, 0, false});
                    });
            }
            amx_->thread_end();
        }, threads_, total_);
    }

    // The AMX pass keeps both sides' parts for the whole run: 2 (int8x4) or 4
    // (bf16x3) bytes per value and layout (a self-join needs two layouts, a
    // search one per side).
    int64_t amx_point_layouts() const { return self_ ? 2 * (db_.n + kAmxStrip) : db_.n + q_.n + 2 * kAmxStrip; }
    int64_t amx_pack_bytes() const { return amx_point_layouts() * amx_part_bytes(d_, amx_scheme_); }

    static int block_len(const Side<T>& s, int64_t b) { return hf::block_len(s.n, b); }

    // Lets each row's list turn away points whose key exceeds its k-th key by
    // more than 2.5 times the row's largest rounding bound (TopKSet::set_margins):
    // such points cannot be among its k nearest, and fewer pushes reach the lists.
    // The float64 checks in certify hold as before: thr() stays a lower limit
    // of every key the list did not keep.
    template <class Bounds>
    void set_margins(TopKSet& set, int k, const Bounds& bounds) const {
        std::vector<float> margin(set.n_points());
        for (int64_t i = 0; i < set.n_points(); ++i) margin[i] = static_cast<float>(2.5 * bounds.unseen(i));
        set.set_margins(k, std::move(margin));
    }
    typename Certifier<T>::Fp32Bounds fp32_bounds(const Side<T>& rows, const Side<T>& cols) const {
        return {cert_, rows, cols};
    }

    const KnnParams& p_;
    const Kernels& level_;  // the level asked for
    const Kernels& kern_;   // its fp32 kernels
    int64_t d_;
    bool self_;
    bool pair_ = false;
    int threads_ = 1;
    Certifier<T> cert_;
    Side<T> db_, q_;
    float gamma_ = -2.f;
    int64_t n_cand_ = 0;
    int cap_ = 0;
    int64_t total_ = 0;
    TileRunner runner_{p_.progress};
    const AmxPass* amx_ = nullptr;  // the tile pass (or its reference), when it forms the candidates
    AmxSide amx_q_, amx_db_;        // its operands: queries (or a pair's a) as tile rows, the database as columns
    AmxScheme amx_scheme_ = AmxScheme::Bf16x3;
    AmxBound amx_bound_ = AmxBound::bf16x3(0);
};

// Certifies candidate lists computed elsewhere (another backend's fp32 pass):
// keys/ids [rows x cap], padded with +inf / -1 past a row's last candidate. Rows the lists leave
// unsettled take this CPU's wider fp32 passes, then the float64 scan (Engine::run_external).
template <class T>
KnnStats certify_external(const Matrix& db, const Matrix& queries, const KnnParams& p, const float* keys,
                          const int64_t* ids, int64_t* out_ids, double* out_dist) {
    Engine<T> engine(db, queries, p, Role::External);
    const bool self = queries.data == nullptr;
    const int cap = engine.cap();
    const int64_t n = engine.n_db();
    TopKSet set(engine.n_rows(), cap);
    // The lists are another backend's: a row's own point (self-join excluding it) and a repeated id
    // are dropped here, so a list that held them is short and its row is not certified from it.
    std::vector<std::pair<int64_t, float>> row;
    for (int64_t i = 0; i < engine.n_rows(); ++i) {
        row.clear();
        for (int s = 0; s < cap; ++s) {
            const int64_t id = ids[i * cap + s];
            check_arg(id >= -1 && id < n, "candidate index out of range");
            if (id >= 0 && !(self && p.exclude_self && id == i)) row.emplace_back(id, keys[i * cap + s]);
        }
        std::sort(row.begin(), row.end());
        for (size_t s = 0; s < row.size(); ++s)
            if (s == 0 || row[s].first != row[s - 1].first) set.push(i, row[s].second, row[s].first);
    }
    return engine.run_external(set, out_ids, out_dist);
}

// Host matrices are C-contiguous, with the database's shape and dtype.
void check_host(const Matrix& db, const Matrix& queries) {
    check_arg(db.data != nullptr && db.rows > 0 && db.cols > 0 && db.stride() == db.cols,
              "the database must be a non-empty C-contiguous 2-D array");
    if (!queries.data) return;
    check_arg(queries.rows > 0 && queries.stride() == queries.cols, "queries must be a non-empty C-contiguous 2-D array");
    check_arg(queries.cols == db.cols, "queries have " + std::to_string(queries.cols) + " features but the database has " +
                                           std::to_string(db.cols));
    check_arg(queries.f64 == db.f64, "queries and database must share a dtype");
}

// Totals of every run since the process started (or the last reset).
std::mutex counters_lock;
EngineCounters counters;

KnnStats counted(const KnnStats& stats) {
    std::lock_guard<std::mutex> hold(counters_lock);
    ++counters.calls;
    counters.rows += stats.rows;
    counters.rows_certified += stats.rows_certified;
    counters.rows_recomputed += stats.rows_recomputed;
    counters.rows_scanned += stats.rows_scanned;
    counters.rows_widened += stats.rows_widened;
    counters.last_kernels = stats.kernels;
    return stats;
}

template <class T>
double amx_keys(const Matrix& a, const Matrix& b, bool tiles, AmxScheme scheme, float* keys, double* bounds) {
    const int threads = omp_get_max_threads();
    const Side<T> sa = prepare<T>(static_cast<const T*>(a.data), a.rows, a.cols, Metric::SqEuclidean, "a", threads);
    const Side<T> sb = prepare<T>(static_cast<const T*>(b.data), b.rows, b.cols, Metric::SqEuclidean, "b", threads);
    const AmxTransform t = amx_transform(sb, &sa, a.cols, threads, false, scheme);
    const AmxSide pa = amx_pack(sa, a.cols, t, true, false, threads), pb = amx_pack(sb, b.cols, t, false, true, threads);
    tiles ? amx_keys_tiles(pa, pb, keys) : amx_keys_reference(pa, pb, keys);
    const AmxBound bound = amx_bound(pa);
    for (int64_t i = 0; i < pa.n; ++i)
        for (int64_t j = 0; j < pb.n; ++j) bounds[i * pb.n + j] = bound.key(pa.stats[i], pb.stats[j]);
    return t.scale;
}

template <class T>
const char* amx_scheme_of(const Matrix& x) {
    const int threads = omp_get_max_threads();
    const Side<T> side = prepare<T>(static_cast<const T*>(x.data), x.rows, x.cols, Metric::SqEuclidean, "x", threads);
    AmxTransform t = amx_transform(side, static_cast<const Side<T>*>(nullptr), x.cols, threads, false,
                                   amx_scheme_for(x.cols));
    AmxSide packed;
    amx_pack_database(side, x.cols, t, false, threads, 0, packed);  // the engines' rule, not a copy of it
    return t.scheme == AmxScheme::Int8x4 ? "int8x4" : "bf16x3";
}

}  // namespace

const char* amx_scheme_cpu(const Matrix& x) {
    check_host(x, Matrix{});
    return x.f64 ? amx_scheme_of<double>(x) : amx_scheme_of<float>(x);
}

KnnStats knn_cpu(const Matrix& db, const Matrix& queries, const KnnParams& params, int64_t* out_ids,
                 double* out_dist) {
    check_host(db, queries);
    if (db.f64) return counted(Engine<double>(db, queries, params).run(out_ids, out_dist));
    return counted(Engine<float>(db, queries, params).run(out_ids, out_dist));
}

KnnStats certify_candidates_cpu(const Matrix& db, const Matrix& queries, const KnnParams& params,
                                 const float* keys, const int64_t* ids, int64_t* out_ids, double* out_dist) {
    check_host(db, queries);
    if (db.f64) return counted(certify_external<double>(db, queries, params, keys, ids, out_ids, out_dist));
    return counted(certify_external<float>(db, queries, params, keys, ids, out_ids, out_dist));
}

void check_inputs_cpu(const Matrix& db, const Matrix& queries, const KnnParams& params) {
    check_host(db, queries);
    const int threads = threads_of(params);
    const auto check = [&](const Matrix& m, const char* name) {
        if (m.f64) prepare<double>(static_cast<const double*>(m.data), m.rows, m.cols, params.metric, name, threads);
        else prepare<float>(static_cast<const float*>(m.data), m.rows, m.cols, params.metric, name, threads);
    };
    check(db, "x");
    if (queries.data) check(queries, "queries");
}

EngineCounters engine_counters(bool reset) {
    std::lock_guard<std::mutex> hold(counters_lock);
    const EngineCounters now = counters;
    if (reset) counters = EngineCounters();
    return now;
}

double amx_keys_cpu(const Matrix& a, const Matrix& b, bool tiles, bool int8, float* keys, double* bounds) {
    check_host(b, a);
    check_arg(!tiles || (cpu_has_avx512() && cpu_has_amx() && amx_built()), "this CPU, OS or build has no AMX tiles");
    const AmxScheme scheme = int8 ? AmxScheme::Int8x4 : AmxScheme::Bf16x3;
    check_arg(!int8 || amx_d_pad(a.cols, scheme) <= kInt8x4MaxDepth, "too many features for int8x4");
    return a.f64 ? amx_keys<double>(a, b, tiles, scheme, keys, bounds) : amx_keys<float>(a, b, tiles, scheme, keys, bounds);
}

KnnStats knn_pair_cpu(const Matrix& a, const Matrix& b, const KnnParams& params, int64_t* a_ids, double* a_dist,
                      int64_t* b_ids, double* b_dist) {
    check_arg(a.data && a.rows > 0 && b.data && b.rows > 0 && a.cols > 0 && a.stride() == a.cols &&
                  b.stride() == b.cols,
              "both blocks must be non-empty C-contiguous 2-D arrays");
    check_arg(a.cols == b.cols && a.f64 == b.f64, "both blocks need the same number of features and dtype");
    if (b.f64) return counted(Engine<double>(b, a, params, Role::Pair).run_pair_mode(a_ids, a_dist, b_ids, b_dist));
    return counted(Engine<float>(b, a, params, Role::Pair).run_pair_mode(a_ids, a_dist, b_ids, b_dist));
}

}  // namespace hf
