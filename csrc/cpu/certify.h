// Certification: turns each row's fp32 candidate list into its exact k
// nearest neighbours, sorted by (float64 distance, id). The rule, with its
// rounding bound, is stated at the top of knn_cpu.cpp; this class applies it.
#pragma once
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <utility>
#include <vector>

#include "../common/bound.h"
#include "../common/errors.h"
#include "../common/topk.h"
#include "../common/types.h"
#include "side.h"

namespace hf {

// The float64 scan's inner loop (Certifier::scan_rows): each of 8 lanes sums the pair of a row (a0, a1)
// and one point of a block (feature-major: block[c * 8 + p]) in feature order, (a - b)^2 for the
// euclidean family and a b otherwise: the steps of exact_sqdist and exact_dot, one rounding each (this
// file is built with -ffp-contract=off), so every lane's sum is theirs bit for bit. Two rows share
// each load, and W-wide vectors hold the lanes: 2 (SSE2, every x86-64) or 4 (AVX2, exact_lanes_wide).
template <class T, int W>
__attribute__((always_inline)) inline void exact_lanes(const T* a0, const T* a1, const double* block, int64_t d,
                                                       bool additive, double* out0, double* out1) {
    typedef double V __attribute__((vector_size(8 * W)));
    constexpr int N = 8 / W;
    V s[N] = {}, t[N] = {};
    const V* b = reinterpret_cast<const V*>(block);
    for (int64_t c = 0; c < d; ++c, b += N) {
        const double x = static_cast<double>(a0[c]), y = static_cast<double>(a1[c]);
#pragma GCC unroll 4
        for (int q = 0; q < N; ++q) {
            if (additive) {
                const V e = x - b[q], f = y - b[q];
                s[q] += e * e;
                t[q] += f * f;
            } else {
                s[q] += x * b[q];
                t[q] += y * b[q];
            }
        }
    }
    for (int q = 0; q < N; ++q) {
        for (int p = 0; p < W; ++p) {
            out0[q * W + p] = s[q][p];
            out1[q * W + p] = t[q][p];
        }
    }
}

#if defined(__x86_64__) || defined(__i386__)
#define HF_TARGET_AVX2 __attribute__((target("avx2")))
#else
#define HF_TARGET_AVX2
#endif

template <class T>
HF_TARGET_AVX2 void exact_lanes_wide(const T* a0, const T* a1, const double* block, int64_t d, bool additive,
                                     double* out0, double* out1) {
    exact_lanes<T, 4>(a0, a1, block, d, additive, out0, out1);
}

template <class T>
class Certifier {
public:
    Certifier(Metric metric, int64_t d, int threads)
        : metric_(metric), d_(d), threads_(threads), additive_(euclidean_family(metric)), additive_bound_(additive_),
          bound_scale_(fp32_bound_scale(d)) {}

    // Sides centred by centre_sides: their stats bound the fp32 keys of the
    // centred rows, which are a little off the shifted inputs (side.h). Cosine's
    // centred keys are |w_i - w_j|^2 / 2 (stats |w|^2 / 2, the additive form),
    // compared with 1 - cos from float64 rows that are unit vectors only to
    // about D 2^-53: cosine_rows_slack (side.h) covers that and the float64 key's rounding.
    void set_centred() {
        bound_scale_ = fp32_bound_scale(d_) + kCentringBoundScale;
        additive_bound_ = true;
        if (metric_ == Metric::Cosine) abs_slack_ += cosine_rows_slack(d_);
    }

    // The float64 scan on AVX2 vectors (the same keys, bit for bit): where the kernel level is above generic.
    void scan_with_avx2(bool on) { avx2_ = on; }

    // Ctrl-C during the certification: the caller's thread polls progress(-1, 0) about every 100 ms
    // (a row's float64 scan of every point can take long on data full of ties).
    void poll_with(const Progress& progress) { progress_ = progress ? &progress : nullptr; }

    // Upper limit of |fp32 key - exact key| for a row and a column with these stats.
    double bound(double row_stat, double col_stat) const {
        return bound_scale_ * (additive_bound_ ? row_stat + col_stat : row_stat * col_stat) + abs_slack_;
    }

    // The fp32 passes' bound of a pair (rows i, cols j) and of a row against
    // any column (unseen points); their keys are in the units of the float64 keys.
    struct Fp32Bounds {
        const Certifier& c;
        const Side<T>& rows;
        const Side<T>& cols;
        double key_scale = 1;
        double pair(int64_t i, int64_t j) const { return c.bound(rows.stat[i], cols.stat[j]); }
        double unseen(int64_t i) const { return c.bound(rows.stat[i], cols.max_stat); }
    };

    // The k best of each row's candidates (points of `cols`), certified or
    // recomputed in float64; n_cand: how many candidates each row has in all.
    // bounds: pair(i, j) and unseen(i) bound |candidate key - key_scale x
    // float64 key| (Fp32Bounds for the fp32 passes, AmxBounds for the AMX pass).
    // Rows whose list cannot settle them go to the float64 scan or, with `unsettled`, are appended
    // to it (their output rows left unwritten) for the caller to settle (a wider pass, then scan()).
    template <class Bounds>
    void certify(const TopKSet& set, const Side<T>& rows, const Side<T>& cols, int64_t n_cand, int k,
                 bool skip_self, int64_t* out_ids, double* out_dist, KnnStats& stats, const Bounds& bounds,
                 std::vector<int64_t>* unsettled = nullptr) const {
        int64_t certified = 0, recomputed = 0, scanned = 0;
        std::atomic<bool> stop{false};
        const Poll poll{progress_, stop};  // at each chunk's first row and during the float64 scan
        std::vector<std::vector<int64_t>> to_scan(threads_);  // per thread: rows left to scan_distinct
#pragma omp parallel num_threads(threads_) reduction(+ : certified, recomputed, scanned)
        {
            std::vector<std::pair<float, int64_t>> cand;
            std::vector<std::pair<double, int64_t>> exact;
#pragma omp for schedule(dynamic, 64)
            for (int64_t i = 0; i < rows.n; ++i) {
                if (stop.load(std::memory_order_relaxed)) continue;  // no break out of a worksharing loop
                if ((i & 63) == 0) poll();  // a chunk's first row (the loop starts at 0, chunks of 64)
                const int c = set.size(i);
                cand.resize(c);
                for (int s = 0; s < c; ++s) cand[s] = {set.keys(i)[s], set.ids(i)[s]};
                std::sort(cand.begin(), cand.end());
                // Points never kept have candidate keys >= the worst kept key when the list is full;
                // a list holding every candidate leaves none unseen. A list that is neither (cut
                // short by another backend) says nothing of the points it left out: -inf sends the
                // row to the float64 scan.
                const double unseen_lo = c >= n_cand ? std::numeric_limits<double>::infinity()
                                         : c >= set.cap() ? static_cast<double>(set.thr()[i]) - bounds.unseen(i)
                                                          : -std::numeric_limits<double>::infinity();
                double hi = -std::numeric_limits<double>::infinity(), lo = unseen_lo;
                for (int s = 0; s < c; ++s) {
                    const double b = bounds.pair(i, cand[s].second);
                    if (s < k) hi = std::max(hi, cand[s].first + b);
                    else lo = std::min(lo, cand[s].first - b);
                }
                const bool set_certified = hi < lo;
                certified += set_certified;
                exact.clear();
                if (set_certified && !out_dist) {
                    for (int s = 0; s < k; ++s) out_ids[i * k + s] = cand[s].second;
                    continue;
                }
                const int n_exact = set_certified ? k : c;
                for (int s = 0; s < n_exact; ++s)
                    exact.emplace_back(exact_key(rows, i, cols, cand[s].second), cand[s].second);
                std::sort(exact.begin(), exact.end());
                if (!set_certified) {
                    ++recomputed;
                    // key_scale is a power of two: the product is exact.
                    if (c < k || !(exact[k - 1].first * bounds.key_scale < unseen_lo)) {
                        ++scanned;
                        to_scan[omp_get_thread_num()].push_back(i);
                        continue;
                    }
                }
                for (int s = 0; s < k; ++s) {
                    out_ids[i * k + s] = exact[s].second;
                    if (out_dist) out_dist[i * k + s] = to_distance(exact[s].first);
                }
            }
        }
        if (stop) throw Interrupted();
        std::vector<int64_t> todo;
        for (const std::vector<int64_t>& mine : to_scan) todo.insert(todo.end(), mine.begin(), mine.end());
        stats.rows += rows.n;
        stats.rows_certified += certified;
        stats.rows_recomputed += recomputed;
        if (unsettled) {
            unsettled->insert(unsettled->end(), todo.begin(), todo.end());
            return;
        }
        scan_distinct(rows, cols, todo, k, skip_self, out_ids, out_dist, poll, stop);
        if (stop) throw Interrupted();
        stats.rows_scanned += scanned;
    }

    // The float64 scan of `todo`'s rows (rows certify left unsettled), counted as scanned.
    void scan(const Side<T>& rows, const Side<T>& cols, const std::vector<int64_t>& todo, int k, bool skip_self,
              int64_t* out_ids, double* out_dist, KnnStats& stats) const {
        std::atomic<bool> stop{false};
        scan_distinct(rows, cols, todo, k, skip_self, out_ids, out_dist, Poll{progress_, stop}, stop);
        if (stop) throw Interrupted();
        stats.rows_scanned += static_cast<int64_t>(todo.size());
    }

    // Moves out of `todo` the rows equal value for value to another of its rows, and returns them:
    // scan_distinct settles such a group with one scan, cheaper than any wider pass.
    std::vector<int64_t> take_repeated(const Side<T>& rows, std::vector<int64_t>& todo) const {
        std::vector<std::pair<uint64_t, int64_t>> by_hash;
        std::vector<int64_t> reps, rep_of;
        group_identical(rows, todo, by_hash, reps, rep_of);
        std::vector<int64_t> members(reps.size(), 0);
        for (int64_t r : rep_of) ++members[r];
        std::vector<int64_t> single, repeated;
        for (size_t t = 0; t < by_hash.size(); ++t)
            (members[rep_of[t]] > 1 ? repeated : single).push_back(by_hash[t].second);
        std::sort(single.begin(), single.end());
        todo.swap(single);
        return repeated;
    }

    void certify(const TopKSet& set, const Side<T>& rows, const Side<T>& cols, int64_t n_cand, int k,
                 bool skip_self, int64_t* out_ids, double* out_dist, KnnStats& stats) const {
        certify(set, rows, cols, n_cand, k, skip_self, out_ids, out_dist, stats, Fp32Bounds{*this, rows, cols});
    }

private:
    // Exact key in float64: smaller is nearer for every metric.
    double exact_key(const Side<T>& rows, int64_t i, const Side<T>& cols, int64_t j) const {
        const T* a = rows.x + i * d_;
        const T* b = cols.x + j * d_;
        if (additive_) return exact_sqdist(a, b, d_);
        if (metric_ == Metric::Cosine) return exact_cosine(a, b, d_, rows.norm[i], cols.norm[j]);
        return -exact_dot(a, b, d_);
    }

    double to_distance(double key) const {
        switch (metric_) {
            case Metric::Euclidean: return std::sqrt(key);
            case Metric::InnerProduct: return -key;
            default: return key;
        }
    }

    // The last resort for rows whose boundary fp32 could not settle: every point in float64, each
    // row's k best by (key, id) (scan_distinct, scan_rows).
    static constexpr int kScanLanes = 8;
    static constexpr int64_t kScanRows = 32;
    struct alignas(64) Lanes {
        double v[kScanLanes];
    };

    // Thread 0's check for Ctrl-C, about every 100 ms: progress(-1, 0) returning false sets stop.
    struct Poll {
        const Progress* progress;
        std::atomic<bool>& stop;
        mutable std::chrono::steady_clock::time_point last = std::chrono::steady_clock::now();
        void operator()() const {
            if (!progress || omp_get_thread_num() != 0) return;
            const auto now = std::chrono::steady_clock::now();
            if (now - last < std::chrono::milliseconds(100)) return;
            last = now;
            if (!(*progress)(-1, 0)) stop = true;
        }
    };

    // Groups `todo`'s rows equal value for value (a hash of their bytes, then memcmp): by_hash holds
    // (hash, row) sorted, reps one row per group, rep_of each by_hash entry's group.
    void group_identical(const Side<T>& rows, const std::vector<int64_t>& todo,
                         std::vector<std::pair<uint64_t, int64_t>>& by_hash, std::vector<int64_t>& reps,
                         std::vector<int64_t>& rep_of) const {
        const size_t bytes = static_cast<size_t>(d_) * sizeof(T);
        const auto row = [&](int64_t i) { return reinterpret_cast<const unsigned char*>(rows.x + i * d_); };
        by_hash.resize(todo.size());
        for (size_t t = 0; t < todo.size(); ++t) {
            const unsigned char* p = row(todo[t]);
            uint64_t h = 1469598103934665603ull;  // 8 bytes a step, each mixed in (multiply, xor-shift)
            size_t b = 0;
            for (uint64_t w; b + 8 <= bytes; b += 8) {
                std::memcpy(&w, p + b, 8);
                h = (h ^ w) * 0x9E3779B97F4A7C15ull;
                h ^= h >> 29;
            }
            for (; b < bytes; ++b) h = (h ^ p[b]) * 1099511628211ull;
            by_hash[t] = {h, todo[t]};
        }
        std::sort(by_hash.begin(), by_hash.end());
        reps.clear();
        rep_of.assign(todo.size(), 0);
        for (size_t t = 0; t < by_hash.size(); ++t) {
            int64_t r = static_cast<int64_t>(reps.size());
            for (size_t u = t; u-- > 0 && by_hash[u].first == by_hash[t].first;) {
                if (std::memcmp(row(by_hash[u].second), row(by_hash[t].second), bytes) == 0) {
                    r = rep_of[u];
                    break;
                }
            }
            if (r == static_cast<int64_t>(reps.size())) reps.push_back(by_hash[t].second);
            rep_of[t] = r;
        }
    }

    // Rows identical value for value have the same key to every point: one row of each such group is
    // scanned (for k + 1 points when rows leave themselves out) and every row of the group takes k of
    // its list, itself left out. Data made of repeated rows then costs one scan per distinct row.
    void scan_distinct(const Side<T>& rows, const Side<T>& cols, const std::vector<int64_t>& todo, int k,
                       bool skip_self, int64_t* out_ids, double* out_dist, const Poll& poll,
                       std::atomic<bool>& stop) const {
        if (todo.empty()) return;
        std::vector<std::pair<uint64_t, int64_t>> by_hash;
        std::vector<int64_t> reps, rep_of;
        group_identical(rows, todo, by_hash, reps, rep_of);
        const int kk = k + (skip_self ? 1 : 0);
        std::vector<double> keys(reps.size() * kk);
        std::vector<int64_t> ids(reps.size() * kk);
        scan_rows(rows, cols, reps, kk, keys.data(), ids.data(), poll, stop);
        if (stop) return;
        for (size_t t = 0; t < by_hash.size(); ++t) {
            const int64_t i = by_hash[t].second, r = rep_of[t];
            int s = 0;
            for (int e = 0; e < kk && s < k; ++e) {
                if (skip_self && ids[r * kk + e] == i) continue;
                out_ids[i * k + s] = ids[r * kk + e];
                if (out_dist) out_dist[i * k + s] = to_distance(keys[r * kk + e]);
                ++s;
            }
        }
    }

    // The k best (key, id) of every point for each of `todo`'s rows, into keys/ids [todo x k]. Rows go
    // in groups sharing each block of kScanLanes points, copied once per group to float64,
    // feature-major; each lane sums its own pair in feature order with the operations of exact_key,
    // so every key is exact_key's bit for bit, at several pairs per cycle instead of one add's latency.
    void scan_rows(const Side<T>& rows, const Side<T>& cols, const std::vector<int64_t>& todo, int k, double* keys_out,
                   int64_t* ids_out, const Poll& poll, std::atomic<bool>& stop) const {
        const int64_t n_todo = static_cast<int64_t>(todo.size());
        const int64_t group = std::max<int64_t>(1, std::min<int64_t>(kScanRows, (n_todo + threads_ - 1) / threads_));
        const int64_t n_groups = (n_todo + group - 1) / group;
        const int threads = static_cast<int>(std::min<int64_t>(threads_, n_groups));
#pragma omp parallel num_threads(threads)
        {
            std::vector<Lanes> block(static_cast<size_t>(d_));
            std::vector<int> held(kScanRows);
#pragma omp for schedule(dynamic, 1)
            for (int64_t g = 0; g < n_groups; ++g) {
                const int64_t first = g * group, m = std::min(group, n_todo - first);
                double* keys = keys_out + first * k;
                int64_t* ids = ids_out + first * k;
                std::fill(held.begin(), held.end(), 0);
                for (int64_t j0 = 0; j0 < cols.n && !stop.load(std::memory_order_relaxed); j0 += kScanLanes) {
                    const int lanes = static_cast<int>(std::min<int64_t>(kScanLanes, cols.n - j0));
                    for (int64_t c = 0; c < d_; ++c) {
                        for (int p = 0; p < kScanLanes; ++p)
                            block[c].v[p] = p < lanes ? static_cast<double>(cols.x[(j0 + p) * d_ + c]) : 0.0;
                    }
                    for (int64_t r = 0; r < m; r += 2) {
                        const int64_t i0 = todo[first + r], i1 = r + 1 < m ? todo[first + r + 1] : i0;
                        double acc[2][kScanLanes];
                        (avx2_ ? exact_lanes_wide<T> : exact_lanes<T, 2>)(rows.x + i0 * d_, rows.x + i1 * d_,
                                                                           block[0].v, d_, additive_, acc[0], acc[1]);
                        for (int64_t h = 0; h < 2 && r + h < m; ++h) {
                            const int64_t i = h ? i1 : i0;
                            for (int p = 0; p < lanes; ++p) {
                                const int64_t j = j0 + p;
                                const double v = acc[h][p];
                                const double key = additive_ ? v
                                                   : metric_ == Metric::Cosine ? 1.0 - v / (rows.norm[i] * cols.norm[j])
                                                                               : -v;
                                keep_best(key, j, k, &keys[(r + h) * k], &ids[(r + h) * k], held[r + h]);
                            }
                        }
                    }
                    if ((j0 & 1023) == 0) poll();
                }
            }
        }
    }

    // Inserts (key, j) into a row's best list (sorted by key, then id; held entries so far). Points
    // come in increasing id, so a key equal to the worst kept one never displaces it.
    static void keep_best(double key, int64_t j, int k, double* keys, int64_t* ids, int& held) {
        if (held == k && !(key < keys[k - 1])) return;
        int s = held < k ? held++ : k - 1;
        for (; s > 0 && key < keys[s - 1]; --s) {
            keys[s] = keys[s - 1];
            ids[s] = ids[s - 1];
        }
        keys[s] = key;
        ids[s] = j;
    }

    Metric metric_;
    int64_t d_;
    int threads_;
    const Progress* progress_ = nullptr;
    bool avx2_ = false;
    bool additive_;        // the float64 key is a squared distance (else a dot product or cosine)
    bool additive_bound_;  // the bound is bound_scale (stat_i + stat_j) (else bound_scale stat_i stat_j)
    double abs_slack_ = kAbsSlack;
    double bound_scale_;
};

}  // namespace hf
