// pybind11 module hubness_fast._cuda: host arrays in, candidate lists out.
#include <cuda_runtime.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

#include "../common/errors.h"
#include "../cuda/knn_cuda.h"

namespace py = pybind11;

namespace {

void check(cudaError_t err, const char* what) {
    if (err == cudaErrorMemoryAllocation) throw hf::DeviceOutOfMemory(std::string(what) + ": out of GPU memory");
    if (err != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(err));
}

// One device allocation, freed on scope exit.
template <class T>
struct DeviceBuffer {
    T* ptr = nullptr;
    explicit DeviceBuffer(size_t n) { check(cudaMalloc(&ptr, n * sizeof(T) + 1), "cudaMalloc"); }
    ~DeviceBuffer() { cudaFree(ptr); }
    DeviceBuffer(const DeviceBuffer&) = delete;
    DeviceBuffer& operator=(const DeviceBuffer&) = delete;
};

template <class T>
using CArray = py::array_t<T, py::array::c_style | py::array::forcecast>;

int device_count() {
    int n = 0;
    return cudaGetDeviceCount(&n) == cudaSuccess ? n : 0;
}

py::tuple candidates(const CArray<float>& x, const py::object& queries, const CArray<float>& x_off,
                     const py::object& q_off, float gamma, bool exclude_same_index, int cap) {
    hf::check_arg(x.ndim() == 2 && x.shape(0) > 0 && x.shape(1) > 0, "x must be a non-empty 2-D array");
    const bool self = queries.is_none();
    const CArray<float> q = self ? x : queries.cast<CArray<float>>();
    const CArray<float> qo = self ? x_off : q_off.cast<CArray<float>>();
    const int64_t nx = x.shape(0), d = x.shape(1), nq = q.shape(0);
    hf::check_arg(q.ndim() == 2 && q.shape(1) == d, "queries and x need the same number of features");
    hf::check_arg(x_off.size() == nx && qo.size() == nq, "one offset per row is needed");
    py::array_t<float> keys({nq, static_cast<int64_t>(cap)});
    py::array_t<int64_t> ids({nq, static_cast<int64_t>(cap)});
    {
        py::gil_scoped_release release;
        DeviceBuffer<float> dx(nx * d), dxo(nx), dk(nq * cap);
        DeviceBuffer<int64_t> di(nq * cap);
        check(cudaMemcpy(dx.ptr, x.data(), nx * d * sizeof(float), cudaMemcpyHostToDevice), "cudaMemcpy x");
        check(cudaMemcpy(dxo.ptr, x_off.data(), nx * sizeof(float), cudaMemcpyHostToDevice), "cudaMemcpy offsets");
        const float* dq = dx.ptr;
        const float* dqo = dxo.ptr;
        DeviceBuffer<float> qbuf(self ? 0 : nq * d), qobuf(self ? 0 : nq);
        if (!self) {
            check(cudaMemcpy(qbuf.ptr, q.data(), nq * d * sizeof(float), cudaMemcpyHostToDevice), "cudaMemcpy queries");
            check(cudaMemcpy(qobuf.ptr, qo.data(), nq * sizeof(float), cudaMemcpyHostToDevice), "cudaMemcpy offsets");
            dq = qbuf.ptr;
            dqo = qobuf.ptr;
        }
        hf::knn_candidates_cuda(dq, nq, dx.ptr, nx, d, dqo, dxo.ptr, gamma, exclude_same_index, cap, dk.ptr, di.ptr,
                                nullptr);
        check(cudaDeviceSynchronize(), "candidates_kernel");
        check(cudaMemcpy(keys.mutable_data(), dk.ptr, nq * cap * sizeof(float), cudaMemcpyDeviceToHost), "cudaMemcpy keys");
        check(cudaMemcpy(ids.mutable_data(), di.ptr, nq * cap * sizeof(int64_t), cudaMemcpyDeviceToHost), "cudaMemcpy ids");
    }
    return py::make_tuple(keys, ids);
}

}  // namespace

PYBIND11_MODULE(_cuda, m) {
    m.doc() = "hubness_fast CUDA backend: fp32 candidate pass (certified in float64 by the CPU module)";
    py::register_exception<hf::DeviceOutOfMemory>(m, "DeviceMemoryError", PyExc_MemoryError);
    m.def("device_count", &device_count, "Number of usable CUDA devices (0 without a driver or GPU).");
    m.def("candidates", &candidates, py::arg("x"), py::arg("queries"), py::arg("x_off"), py::arg("q_off"),
          py::arg("gamma"), py::arg("exclude_same_index"), py::arg("cap"),
          "fp32 candidate lists (keys float32 [nq, cap], ids int64 [nq, cap], padded with inf / -1).");
}
