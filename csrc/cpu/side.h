// A matrix as the CPU engines see it (Side): validated once, with the
// per-point quantities of the fp32 keys and their rounding bounds computed in
// float64; and the exact float64 distance every engine checks with.
#pragma once
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <new>
#include <string>
#include <type_traits>
#include <vector>

#include "../common/bound.h"
#include "../common/errors.h"
#include "../common/types.h"

namespace hf {

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
    std::vector<float> centred;    // when centred (centre_sides): fl32(fl64(x - c)), the rows the fp32 kernels read
    double max_stat = 0;
};

// The fp32 rows the kernels may read in place: the centred copy, the input
// itself (fp32, not cosine), or nullptr (they are converted while packing).
template <class T>
const float* fp32_rows(const Side<T>& s) {
    if (!s.centred.empty()) return s.centred.data();
    if constexpr (std::is_same<T, float>::value) {
        if (s.inv_norm.empty()) return s.x;
    }
    return nullptr;
}

// |x|^2 in float64 over kLanes interleaved partial sums (independent chains the
// compiler vectorises; any order of float64 additions keeps the norm's error far
// below the fp32 bounds' allowance for it), combined pairwise.
template <class T>
double squared_norm(const T* x, int64_t d) {
    constexpr int kLanes = 8;
    double acc[kLanes] = {};
    int64_t c = 0;
    for (; c + kLanes <= d; c += kLanes)
        for (int l = 0; l < kLanes; ++l) {
            const double v = static_cast<double>(x[c + l]);
            acc[l] += v * v;
        }
    for (int l = 0; c < d; ++c, ++l) {
        const double v = static_cast<double>(x[c]);
        acc[l] += v * v;
    }
    for (int w = kLanes / 2; w > 0; w /= 2)
        for (int l = 0; l < w; ++l) acc[l] += acc[l + w];
    return acc[0];
}

// |x|^2 in float64, added in feature order.
template <class T>
double ordered_squared_norm(const T* x, int64_t d) {
    double sq = 0;
    for (int64_t c = 0; c < d; ++c) {
        const double v = static_cast<double>(x[c]);
        sq += v * v;
    }
    return sq;
}

// Some of a side's points (rows `idx`, in that order) as a side of their own, every per-point
// value copied: the fp32 kernels read the same fp32 rows (centred or not) and the certification
// the same float64 ones, so keys, bounds and exact keys are those of the side it came from.
template <class T>
struct SideRows {
    std::vector<T> x;
    Side<T> side;

    SideRows(const Side<T>& from, const std::vector<int64_t>& idx, int64_t d) : x(idx.size() * d) {
        const int64_t m = static_cast<int64_t>(idx.size());
        side.n = m;
        side.stat.resize(m);
        side.offset.resize(m);
        if (!from.inv_norm.empty()) side.inv_norm.resize(m);
        if (!from.norm.empty()) side.norm.resize(m);
        if (!from.centred.empty()) side.centred.resize(m * d);
        for (int64_t r = 0; r < m; ++r) {
            const int64_t i = idx[r];
            std::copy(from.x + i * d, from.x + (i + 1) * d, x.begin() + r * d);
            if (!from.centred.empty())
                std::copy(from.centred.begin() + i * d, from.centred.begin() + (i + 1) * d, side.centred.begin() + r * d);
            side.stat[r] = from.stat[i];
            side.offset[r] = from.offset[i];
            if (!from.inv_norm.empty()) side.inv_norm[r] = from.inv_norm[i];
            if (!from.norm.empty()) side.norm[r] = from.norm[i];
            side.max_stat = std::max(side.max_stat, from.stat[i]);
        }
        side.x = x.data();
    }
    SideRows(const SideRows&) = delete;  // side.x points into x
    SideRows& operator=(const SideRows&) = delete;
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
    // The euclidean family uses |x|^2 only for the fp32 keys and their bounds
    // (results come from exact_sqdist); cosine's float64 key divides by |x|,
    // whose bits are pinned: it keeps the in-order sum.
    const bool lanes = euclidean_family(metric);
    int64_t first_bad = n;
#pragma omp parallel for num_threads(threads) schedule(static) reduction(min : first_bad)
    for (int64_t i = 0; i < n; ++i) {
        const double sq = lanes ? squared_norm(x + i * d, d) : ordered_squared_norm(x + i * d, d);
        s.stat[i] = sq;  // NaN/Inf propagate into sq
        if (!std::isfinite(sq)) first_bad = std::min(first_bad, i);
    }
    if (first_bad < n) {
        bool nonfinite = false;
        for (int64_t c = 0; c < d; ++c) nonfinite |= !std::isfinite(static_cast<double>(x[first_bad * d + c]));
        const char* large = metric == Metric::Cosine ? " has a squared norm beyond the float64 range"
                                                     : " has values too large for float32 arithmetic";
        throw_value_error(std::string(name) + (nonfinite ? " contains NaN or Inf" : large) +
                          " (first at row " + std::to_string(first_bad) + "); " +
                          (nonfinite ? "drop or impute those rows" : "rescale the data"));
    }
    for (int64_t i = 0; i < n; ++i) {
        const double sq = s.stat[i];
        // Cosine's fp32 pass reads the rows divided by |x| in float64 (unit_value), and its float64
        // key 1 - <x,y> / (|x| |y|) stays finite while |x|^2 does (|<x,y>| <= |x| |y| <= max |x|^2):
        // no float32 limit applies to it on the CPU.
        if (sq > kMaxSquaredNorm && metric != Metric::Cosine)
            throw_value_error(std::string(name) + " row " + std::to_string(i) + kHugeRow);
        // a row whose squares all underflow has sq == 0 without being zeros: the tiny-row message
        if (metric == Metric::Cosine && sq == 0 && std::all_of(x + i * d, x + (i + 1) * d, [](T v) { return v == 0; }))
            throw_value_error(std::string(name) + " row " + std::to_string(i) + kCosineZeroRow);
        if (metric == Metric::Cosine && sq < kCosineMinSquaredNorm)
            throw_value_error(std::string(name) + " row " + std::to_string(i) + kCosineTinyRow);
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

// The column sums of a side's rows in float64 (each row times 1/|x| for
// cosine): `threads` fixed ranges of rows summed apart, then added in range
// order, so the same data and `threads` give the same bits whatever team
// OpenMP forms.
template <class T>
std::vector<double> column_sums(const Side<T>& s, int64_t d, int threads) {
    std::vector<std::vector<double>> parts(threads, std::vector<double>(d, 0.0));
#pragma omp parallel for num_threads(threads) schedule(static, 1)
    for (int t = 0; t < threads; ++t) {
        std::vector<double>& part = parts[t];
        for (int64_t i = s.n * t / threads; i < s.n * (t + 1) / threads; ++i) {
            const double scale = s.inv_norm.empty() ? 1.0 : s.inv_norm[i];
            for (int64_t c = 0; c < d; ++c) part[c] += static_cast<double>(s.x[i * d + c]) * scale;
        }
    }
    std::vector<double> out(d, 0.0);
    for (const std::vector<double>& part : parts)
        for (int64_t c = 0; c < d; ++c) out[c] += part[c];
    return out;
}

// Centring of the fp32 operands (euclidean family and cosine). The fp32 bound grows with
// |x|^2 + |y|^2, so points gathered far from the origin (StyleGAN's W space:
// |mean| about 34 times the spread) get bounds far above the gaps between
// their neighbours and nearly every row goes to the float64 scan. Distances do
// not change under a shift: the kernels can read v = fl32(w), w = fl64(x - c)
// with c the database's mean, while the certification's float64 keys still
// come from x. The stats become |w|^2 (float64), the offsets fl32(|w|^2), so
// the fp32 bound holds for |w_i - w_j|^2 exactly as it does for float64 input
// w; w differs from x - c by at most 2^-53 |x - c| per value, which moves
// |w_i - w_j|^2 from |x_i - x_j|^2 by under 4.01 2^-53 (|w_i|^2 + |w_j|^2):
// kCentringBoundScale adds 8 2^-53 for it. Cosine runs the same on the unit
// rows x / |x| (float64): w = fl64(x / |x| - c), keys |w_i - w_j|^2 / 2 (the
// offsets and stats halved, which halves the key and its bound exactly), plus
// cosine_rows_slack. Inner products are never centred (a shift changes them).
constexpr double kCentringBoundScale = 8 * 0x1p-53;
constexpr double kCentringGain = 4;  // centre when the summed stats shrink at least this much
constexpr int64_t kCentredMaxBytes = int64_t{4} << 30;  // the copies' limit (both sides)
constexpr int64_t kCentringSample = 4096;  // rows of each side the decision looks at

// Cosine: the float64 rows x/|x| are unit vectors only to about (D + 6) 2^-53,
// and the float64 key 1 - <x,y> / (|x| |y|) has its own rounding of about
// (D + 4) 2^-53: together below (8 D + 64) 2^-53 between |x/|x| - y/|y||^2
// and twice the float64 key (the AMX pass's allowance, amx.h), so a fortiori
// between half the one and the key.
inline double cosine_rows_slack(int64_t d) { return (8.0 * static_cast<double>(d) + 64) * 0x1p-53; }

// Value c of row i as the pass sees it: x, or x / |x| for cosine (float64, one rounding).
template <class T>
double unit_value(const Side<T>& s, int64_t i, int64_t d, int64_t c) {
    const double v = static_cast<double>(s.x[i * d + c]);
    return s.inv_norm.empty() ? v : v * s.inv_norm[i];
}

// Centres both sides on the mean of `db` when the sum of their squared norms
// shrinks kCentringGain times (it never does for data around the origin) and
// the fp32 copies fit in kCentredMaxBytes and in memory; returns whether it
// did. The decision reads evenly spaced rows of each side (a fixed sample: data
// that stays uncentred costs no pass over it); only then is the mean taken
// over all of db. Its rounding does not matter: any shared c keeps the distances.
template <class T>
bool centre_sides(Side<T>& db, Side<T>* q, int64_t d, int threads) {
    const int64_t n_all = db.n + (q ? q->n : 0);
    if (n_all * d * static_cast<int64_t>(sizeof(float)) > kCentredMaxBytes) return false;
    auto sampled = [](const Side<T>& s, int64_t j) { return j * s.n / std::min(s.n, kCentringSample); };
    std::vector<double> centre(d, 0.0);
    const int64_t m_db = std::min(db.n, kCentringSample);
    for (int64_t j = 0; j < m_db; ++j)
        for (int64_t c = 0; c < d; ++c) centre[c] += unit_value(db, sampled(db, j), d, c);
    for (double& v : centre) v /= static_cast<double>(m_db);
    double raw = 0, shifted = 0;
    for (const Side<T>* s : {static_cast<const Side<T>*>(&db), static_cast<const Side<T>*>(q)}) {
        if (!s) continue;
        for (int64_t j = 0; j < std::min(s->n, kCentringSample); ++j) {
            const int64_t i = sampled(*s, j);
            raw += s->stat[i];  // |x|^2, or 1 for cosine's unit rows
            for (int64_t c = 0; c < d; ++c) {
                const double v = unit_value(*s, i, d, c) - centre[c];
                shifted += v * v;
            }
        }
    }
    if (!(shifted * kCentringGain < raw)) return false;
    try {
        db.centred.resize(static_cast<size_t>(db.n * d));
        if (q) q->centred.resize(static_cast<size_t>(q->n * d));
    } catch (const std::bad_alloc&) {  // no room for the copies: the uncentred pass, slower on such data but exact
        std::vector<float>().swap(db.centred);
        if (q) std::vector<float>().swap(q->centred);
        return false;
    }
    centre = column_sums(db, d, threads);
    for (double& v : centre) v /= static_cast<double>(db.n);
    const bool cosine = !db.inv_norm.empty();
    auto fill = [&](Side<T>& s) {
        double max_stat = 0;
#pragma omp parallel for num_threads(threads) schedule(static) reduction(max : max_stat)
        for (int64_t i = 0; i < s.n; ++i) {
            float* out = s.centred.data() + i * d;
            double sq = 0;
            for (int64_t c = 0; c < d; ++c) {
                const double w = unit_value(s, i, d, c) - centre[c];
                out[c] = static_cast<float>(w);
                sq += w * w;
            }
            if (cosine) sq /= 2;  // keys |w_i - w_j|^2 / 2 = 1 - cos: offsets and stats halved
            s.stat[i] = sq;
            s.offset[i] = static_cast<float>(sq);
            max_stat = std::max(max_stat, sq);
        }
        s.max_stat = max_stat;
    };
    fill(db);
    if (q) fill(*q);
    return true;
}

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

// Exact dot product in float64, summed in feature order (no fused multiply-add).
template <class T>
double exact_dot(const T* a, const T* b, int64_t d) {
    double acc = 0;
    for (int64_t c = 0; c < d; ++c) acc += static_cast<double>(a[c]) * static_cast<double>(b[c]);
    return acc;
}

// The k-NN engine's float64 cosine distance, 1 - <a, b> / (|a| |b|) exactly as written (so that parallel
// rows tie exactly), with the norms given (square roots of in-order sums).
template <class T>
double exact_cosine(const T* a, const T* b, int64_t d, double norm_a, double norm_b) {
    return 1.0 - exact_dot(a, b, d) / (norm_a * norm_b);
}

}  // namespace hf
