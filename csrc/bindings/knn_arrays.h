// The numpy side of a k-NN call, shared by the CPU and CUDA modules: host
// matrices in, ids / distances / statistics out.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>

#include "../common/errors.h"
#include "../common/types.h"
#include "../cpu/knn_cpu.h"

namespace hf::bindings {

namespace py = pybind11;

// A C-contiguous 2-D float32 / float64 numpy array as a Matrix (no copy).
inline Matrix host_matrix(const py::array& a, const char* name) {
    const bool f32 = py::isinstance<py::array_t<float>>(a), f64 = py::isinstance<py::array_t<double>>(a);
    check_arg(a.ndim() == 2 && (f32 || f64) && (a.flags() & py::array::c_style),
              std::string(name) + " must be a C-contiguous 2-D float32 or float64 array");
    Matrix m;
    m.data = a.data();
    m.rows = a.shape(0);
    m.cols = a.shape(1);
    m.f64 = f64;
    return m;
}

// The parameters of a k-NN call, the metric parsed from its name.
inline KnnParams knn_params(int k, const std::string& metric, bool exclude_self, int n_threads,
                          const std::string& simd) {
    KnnParams p;
    p.k = k;
    p.metric = parse_metric(metric);
    p.exclude_self = exclude_self;
    p.n_threads = n_threads;
    p.simd = simd;
    return p;
}

// None -> the empty Matrix (a self-join's queries).
inline Matrix optional_host_matrix(const py::object& a, const char* name) {
    return a.is_none() ? Matrix{} : host_matrix(a.cast<py::array>(), name);
}

inline py::dict stats_dict(const KnnStats& stats) {
    py::dict info;
    info["rows"] = stats.rows;
    info["rows_certified"] = stats.rows_certified;
    info["rows_recomputed"] = stats.rows_recomputed;
    info["rows_scanned"] = stats.rows_scanned;
    info["rows_widened"] = stats.rows_widened;
    info["kernels"] = stats.kernels;
    return info;
}

// Output arrays of a k-NN call: ids [rows x k] and, when asked, float64 distances.
struct KnnArrays {
    py::array_t<int64_t> ids;
    py::object dist = py::none();
    double* dist_ptr = nullptr;
    KnnArrays(int64_t rows, int k, bool want_distances) : ids({rows, static_cast<int64_t>(k)}) {
        if (want_distances) {
            py::array_t<double> d({rows, static_cast<int64_t>(k)});
            dist_ptr = d.mutable_data();
            dist = d;
        }
    }
    // (ids, distances or None, stats dict)
    py::tuple result(const KnnStats& stats) const { return py::make_tuple(ids, dist, stats_dict(stats)); }
};

}  // namespace hf::bindings
