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
#include <limits>
#include <utility>
#include <vector>

#include "../common/bound.h"
#include "../common/errors.h"
#include "../common/topk.h"
#include "../common/types.h"
#include "side.h"

namespace hf {

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
    template <class Bounds>
    void certify(const TopKSet& set, const Side<T>& rows, const Side<T>& cols, int64_t n_cand, int k,
                 bool skip_self, int64_t* out_ids, double* out_dist, KnnStats& stats, const Bounds& bounds) const {
        int64_t certified = 0, recomputed = 0, scanned = 0;
        std::atomic<bool> stop{false};
        auto last_poll = std::chrono::steady_clock::now();  // thread 0's
        // Thread 0 polls at its chunks' first rows and after each float64 scan (a scan can take long).
        const auto poll = [&] {
            if (!progress_ || omp_get_thread_num() != 0) return;
            const auto now = std::chrono::steady_clock::now();
            if (now - last_poll < std::chrono::milliseconds(100)) return;
            last_poll = now;
            if (!(*progress_)(-1, 0)) stop = true;
        };
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
                        scan_all(rows, i, cols, k, skip_self, exact);
                        poll();
                    }
                }
                for (int s = 0; s < k; ++s) {
                    out_ids[i * k + s] = exact[s].second;
                    if (out_dist) out_dist[i * k + s] = to_distance(exact[s].first);
                }
            }
        }
        if (stop) throw Interrupted();
        stats.rows += rows.n;
        stats.rows_certified += certified;
        stats.rows_recomputed += recomputed;
        stats.rows_scanned += scanned;
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

    // The last resort for a row whose boundary fp32 could not settle: every
    // candidate in float64, the k best by (key, id) left at the front of `out`.
    void scan_all(const Side<T>& rows, int64_t i, const Side<T>& cols, int k, bool skip_self,
                  std::vector<std::pair<double, int64_t>>& out) const {
        out.clear();
        for (int64_t j = 0; j < cols.n; ++j) {
            if (skip_self && j == i) continue;
            out.emplace_back(exact_key(rows, i, cols, j), j);
        }
        std::partial_sort(out.begin(), out.begin() + k, out.end());
    }

    Metric metric_;
    int64_t d_;
    int threads_;
    const Progress* progress_ = nullptr;
    bool additive_;        // the float64 key is a squared distance (else a dot product or cosine)
    bool additive_bound_;  // the bound is bound_scale (stat_i + stat_j) (else bound_scale stat_i stat_j)
    double abs_slack_ = kAbsSlack;
    double bound_scale_;
};

}  // namespace hf
