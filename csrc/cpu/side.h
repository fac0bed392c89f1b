// A matrix as the CPU engines see it (Side): validated once, with the
// per-point quantities of the fp32 keys and their rounding bounds computed in
// float64; and the exact float64 distance every engine checks with.
#pragma once
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <string>
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
    double max_stat = 0;
};

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

}  // namespace hf
