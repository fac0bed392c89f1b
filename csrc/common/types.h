// Types every backend shares: the metric, the progress callback, a matrix
// view, one set's side of a ball pass, and the statistics of a k-NN run.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

#include "errors.h"

namespace hf {

enum class Metric : int { SqEuclidean = 0, Euclidean = 1, InnerProduct = 2, Cosine = 3 };

// The metric as Python names it; parsed once, at the binding.
inline Metric parse_metric(const std::string& name) {
    if (name == "sqeuclidean") return Metric::SqEuclidean;
    if (name == "euclidean") return Metric::Euclidean;
    if (name == "inner_product") return Metric::InnerProduct;
    if (name == "cosine") return Metric::Cosine;
    throw_value_error("metric must be one of cosine, euclidean, inner_product, sqeuclidean, got '" + name + "'");
}

// Called on the calling thread with (done, total) work units (about every 100 ms
// on the CPU, between kernel launches on the GPU); returning false stops the run,
// which then throws hf::Interrupted. done < 0 is a poll for an interrupt only, not
// a report (the float64 certification, which has no work units of the bar's).
using Progress = std::function<bool(int64_t, int64_t)>;

// A row-major matrix of float32 or float64 owned by the caller, in host or
// device memory (each function says which): rows x cols values, row stride ld
// elements (0: cols, C-contiguous). data == nullptr stands for "none" (for
// example the queries of a self-join).
struct Matrix {
    const void* data = nullptr;
    int64_t rows = 0, cols = 0, ld = 0;
    bool f64 = false;
    int64_t stride() const { return ld > 0 ? ld : cols; }
};

// One point set of a ball pass. Each point may carry one ball per layer
// (layers: the number of radii per point, BallParams::inclusive.size() on the
// CPU, 1 on the GPU); every array is [points x layers], row-major, and layer l
// of one set is tested against layer l of the other only.
struct BallSide {
    const double* radius2 = nullptr;  // in: squared radii of this set's balls, or nullptr (no balls)
    int64_t* in_count = nullptr;      // out: balls of the other set containing the point (0 if it has no balls)
    double* min_radius2 = nullptr;    // out: smallest squared radius among those balls (+inf if none)
    int64_t* own_count = nullptr;     // out: points of the other set inside this point's ball (0 without radii)
};

// How a k-NN run reached its exact answer.
struct KnnStats {
    int64_t rows = 0;             // rows certified (both halves of a block pair count)
    int64_t rows_certified = 0;   // rows whose candidate list was certified as it stood
    int64_t rows_recomputed = 0;  // rows whose fp32 boundary needed every kept candidate in float64
    int64_t rows_scanned = 0;     // of those, rows solved by a float64 scan of the whole database (CPU)
    int64_t rows_widened = 0;     // of those, rows solved by a wider fp32 candidate pass (GPU and CPU)
    const char* kernels = "";     // the candidate pass: "generic", "avx2", "avx512", "amx", "amx-reference",
                                  // "cuda-fp32", "cuda-tf32", "external"
};

}  // namespace hf
