// pybind11 module hubness_fast._cuda. Device arrays arrive as raw pointers
// with their shape and stride (hubness_fast/_inputs.py reads them from torch
// tensors or __cuda_array_interface__ without a copy); host arrays as numpy.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>

#include "../common/errors.h"
#include "../cuda/memory.h"
#include "../cuda/balls_cuda.h"
#include "../cuda/knn_cuda.h"
#include "ball_arrays.h"
#include "knn_arrays.h"
#include "progress.h"

namespace py = pybind11;
using hf::bindings::KnnArrays;
using hf::bindings::ProgressBridge;

namespace {

template <class T>
T* ptr(uintptr_t p) {
    return reinterpret_cast<T*>(p);
}

py::dict knn_device(uintptr_t x, int64_t n, int64_t d, int64_t ld, bool f64, uintptr_t q, int64_t nq, int64_t q_ld,
                    int k, const std::string& metric, bool exclude_self, uintptr_t out_ids, uintptr_t out_dist,
                    uintptr_t counts, const std::string& precision, uintptr_t stream, int device,
                    const py::object& progress) {
    hf::check_arg(x != 0 && n > 0 && d > 0 && ld >= d, "x must be a non-empty 2-D device array");
    hf::cuda::DeviceKnnArgs a;
    a.x = {ptr<const void>(x), n, d, ld, f64};
    if (q) a.q = {ptr<const void>(q), nq, d, q_ld, f64};
    a.k = k;
    a.metric = hf::parse_metric(metric);
    a.exclude_self = exclude_self;
    a.out_ids = ptr<int64_t>(out_ids);
    a.out_dist = ptr<double>(out_dist);
    a.counts = ptr<int64_t>(counts);
    a.precision = hf::cuda::parse_precision(precision);
    a.stream = ptr<void>(stream);
    a.device = device;
    ProgressBridge bridge{progress, nullptr};
    a.progress = bridge.make();
    hf::KnnStats stats;
    bridge.run([&] { stats = hf::cuda::knn_device(a); });
    return hf::bindings::stats_dict(stats);
}

// Host arrays on the GPU, certified by the CPU engine (hf::cuda::knn_host); returns as _cpu.knn.
py::tuple knn_host(const py::array& x, const py::object& queries, int k, const std::string& metric, bool exclude_self,
                   int n_threads, const std::string& simd, int64_t chunk_rows, int device, const py::object& progress,
                   bool want_distances) {
    hf::KnnParams p = hf::bindings::knn_params(k, metric, exclude_self, n_threads, simd);
    ProgressBridge bridge{progress, nullptr};
    p.progress = bridge.make();
    const hf::Matrix db = hf::bindings::host_matrix(x, "x"), q = hf::bindings::optional_host_matrix(queries, "queries");
    KnnArrays out(q.data ? q.rows : db.rows, k, want_distances);
    int64_t* ids_ptr = out.ids.mutable_data();
    hf::KnnStats stats;
    bridge.run([&] { stats = hf::cuda::knn_host(db, q, p, chunk_rows, device, ids_ptr, out.dist_ptr); });
    return out.result(stats);
}

// One point set of a ball pass on the GPU: its rows and its ball arrays.
struct CudaBallSet : hf::bindings::BallArrays {
    hf::Matrix rows;
    hf::BallSide side;

    CudaBallSet(const py::array& x, const py::object& r2, const char* name)
        : BallArrays(x.ndim() == 2 ? x.shape(0) : 0, 1, r2), rows(hf::bindings::host_matrix(x, name)) {
        hf::check_arg(rows.rows > 0, std::string(name) + " must have at least one row");
        side.radius2 = radii();
        side.in_count = in_count.mutable_data();
        side.own_count = own_count.mutable_data();
        side.min_radius2 = min_radius2.mutable_data();
    }
};

py::tuple balls(const py::array& a, const py::object& a_radius2, const py::array& b, const py::object& b_radius2,
                bool inclusive, int device, const py::object& progress) {
    CudaBallSet sa(a, a_radius2, "a"), sb(b, b_radius2, "b");
    ProgressBridge bridge{progress, nullptr};
    auto cb = bridge.make();
    bridge.run([&] { hf::cuda::balls_host(sa.rows, sa.side, sb.rows, sb.side, inclusive, device, cb); });
    return py::make_tuple(sa.to_dict(), sb.to_dict());
}

}  // namespace

PYBIND11_MODULE(_cuda, m) {
    m.doc() = "hubness_fast CUDA backend: exact k-NN and hub counts on NVIDIA GPUs";
    py::register_exception<hf::DeviceOutOfMemory>(m, "DeviceMemoryError", PyExc_MemoryError);
    m.def("device_count", &hf::cuda::device_count, "Number of usable CUDA devices (0 without a driver or GPU).");
    m.def(
        "memory_stats", [] { return py::make_tuple(hf::cuda::g_bytes_now.load(), hf::cuda::g_bytes_peak.load()); },
        "(bytes held now, peak bytes since reset_peak()) of this module's device allocations.");
    m.def(
        "reset_peak", [] { hf::cuda::g_bytes_peak.store(hf::cuda::g_bytes_now.load()); },
        "Restart the peak of memory_stats().");
    m.def("balls", &balls, py::arg("a"), py::arg("a_radius2"), py::arg("b"), py::arg("b_radius2"),
          py::arg("inclusive"), py::arg("device"), py::arg("progress"),
          "The GPU twin of _cpu.balls for one layer of balls: both sets' ball counts in one pass over all pairs "
          "(host arrays); outputs [n, 1].");
    m.def("knn_device", &knn_device, py::arg("x"), py::arg("n"), py::arg("d"), py::arg("ld"), py::arg("f64"),
          py::arg("q"), py::arg("nq"), py::arg("q_ld"), py::arg("k"), py::arg("metric"), py::arg("exclude_self"),
          py::arg("out_ids"), py::arg("out_dist"), py::arg("counts"), py::arg("precision"), py::arg("stream"), py::arg("device"),
          py::arg("progress"),
          "Exact k-NN of device-resident data (raw pointers); results written to the given device buffers.");
    m.def("knn_host", &knn_host, py::arg("x"), py::arg("queries"), py::arg("k"), py::arg("metric"),
          py::arg("exclude_self"), py::arg("n_threads"), py::arg("simd"), py::arg("chunk_rows"), py::arg("device"),
          py::arg("progress"), py::arg("want_distances"),
          "Exact k-NN of host arrays: fp32 candidate lists on the GPU (rows streamed in chunks of chunk_rows, 0: "
          "sized by free memory), certified in float64 on the CPU; returns as _cpu.knn().");
}
