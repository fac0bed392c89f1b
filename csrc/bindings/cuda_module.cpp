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
#include "progress.h"

namespace py = pybind11;
using hf::bindings::ProgressBridge;

namespace {

// precision as Python names it: 0 auto, 1 exact (fp32 product), 2 tensor (tf32 candidates)
int parse_precision(const std::string& name) {
    if (name == "auto") return 0;
    if (name == "exact") return 1;
    if (name == "tensor") return 2;
    hf::throw_value_error("precision must be one of auto, exact, tensor, got '" + name + "'");
}

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
    a.precision = parse_precision(precision);
    a.stream = ptr<void>(stream);
    a.device = device;
    ProgressBridge bridge{progress, nullptr};
    a.progress = bridge.make();
    hf::cuda::DeviceKnnStats stats;
    bridge.run([&] { stats = hf::cuda::knn_device(a); });
    py::dict info;
    info["rows_recomputed"] = stats.rows_recomputed;
    info["rows_widened"] = stats.rows_widened;
    info["kernels"] = stats.tensor ? "cuda-tf32" : "cuda-fp32";
    return info;
}

template <class T>
using CArray = py::array_t<T, py::array::c_style>;

py::tuple candidates_host(const CArray<float>& x, const py::object& queries, const std::string& metric,
                          bool exclude_self, int cap, int64_t chunk_rows, int device, const py::object& progress) {
    hf::check_arg(x.ndim() == 2 && x.shape(0) > 0 && x.shape(1) > 0, "x must be a non-empty 2-D float32 array");
    const bool self = queries.is_none();
    CArray<float> q = self ? x : queries.cast<CArray<float>>();
    hf::check_arg(q.ndim() == 2 && q.shape(1) == x.shape(1), "queries and x need the same number of features");
    const int64_t rows = q.shape(0);
    hf::check_arg(cap >= 1, "cap must be positive");
    py::array_t<float> keys({rows, static_cast<int64_t>(cap)});
    py::array_t<int64_t> ids({rows, static_cast<int64_t>(cap)});
    float* pk = keys.mutable_data();
    int64_t* pi = ids.mutable_data();
    ProgressBridge bridge{progress, nullptr};
    auto cb = bridge.make();
    bridge.run([&] {
        hf::cuda::candidates_host(x.data(), x.shape(0), x.shape(1), self ? nullptr : q.data(), rows,
                                  hf::parse_metric(metric), exclude_self, cap, chunk_rows, device, cb, pk, pi);
    });
    return py::make_tuple(keys, ids);
}

// One point set of a ball pass on the GPU: the rows and the shared ball arrays.
struct CudaBallSet : hf::bindings::BallArrays {
    py::array rows;
    hf::cuda::HostBallSide side;

    CudaBallSet(const py::array& x, const py::object& r2, const char* name)
        : BallArrays(x.ndim() == 2 ? x.shape(0) : 0, r2), rows(x) {
        const bool f32 = py::isinstance<py::array_t<float>>(x), f64 = py::isinstance<py::array_t<double>>(x);
        hf::check_arg(x.ndim() == 2 && (f32 || f64) && (x.flags() & py::array::c_style) && x.shape(0) > 0,
                      std::string(name) + " must be a non-empty C-contiguous 2-D float32 or float64 array");
        side.x = x.data();
        side.n = x.shape(0);
        side.f64 = f64;
        side.radius2 = radii();
        side.in_count = in_count.mutable_data();
        side.own_count = own_count.mutable_data();
        side.min_radius2 = min_radius2.mutable_data();
    }
};

py::tuple balls(const py::array& a, const py::object& a_radius2, const py::array& b, const py::object& b_radius2,
                bool inclusive, int device, const py::object& progress) {
    CudaBallSet sa(a, a_radius2, "a"), sb(b, b_radius2, "b");
    hf::check_arg(a.shape(1) == b.shape(1) && sa.side.f64 == sb.side.f64, "both sets need the same features and dtype");
    ProgressBridge bridge{progress, nullptr};
    auto cb = bridge.make();
    bridge.run([&] { hf::cuda::balls_host(sa.side, sb.side, a.shape(1), inclusive, device, cb); });
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
          "The GPU twin of _cpu.balls: both sets' ball counts in one pass over all pairs (host arrays).");
    m.def("knn_device", &knn_device, py::arg("x"), py::arg("n"), py::arg("d"), py::arg("ld"), py::arg("f64"),
          py::arg("q"), py::arg("nq"), py::arg("q_ld"), py::arg("k"), py::arg("metric"), py::arg("exclude_self"),
          py::arg("out_ids"), py::arg("out_dist"), py::arg("counts"), py::arg("precision"), py::arg("stream"), py::arg("device"),
          py::arg("progress"),
          "Exact k-NN of device-resident data (raw pointers); results written to the given device buffers.");
    m.def("candidates_host", &candidates_host, py::arg("x"), py::arg("queries"), py::arg("metric"),
          py::arg("exclude_self"), py::arg("cap"), py::arg("chunk_rows"), py::arg("device"), py::arg("progress"),
          "fp32 candidate lists of host data streamed through the GPU (keys float32 [rows, cap], ids int64 "
          "[rows, cap], padded with inf / -1), for _cpu.certify.");
}
