// Exact k-NN on NVIDIA GPUs: fp32 tiles folded into per-row candidate lists on
// the device, then certified in float64 (on the device for device-resident
// data, by the CPU module for host data).
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>

#include "../common/errors.h"
#include "../common/types.h"
#include "../cpu/knn_cpu.h"

namespace hf {

struct DeviceOutOfMemory : std::runtime_error {
    using std::runtime_error::runtime_error;
};

namespace cuda {

// Where the candidates come from: Auto (tf32 tensor cores on sm_80 and newer,
// else fp32), Exact (the fp32 product), Tensor (tf32 candidates, required).
enum class Precision { Auto, Exact, Tensor };

// The precision as Python names it ("auto", "exact", "tensor"); parsed once, at the binding.
inline Precision parse_precision(const std::string& name) {
    if (name == "auto") return Precision::Auto;
    if (name == "exact") return Precision::Exact;
    if (name == "tensor") return Precision::Tensor;
    throw_value_error("precision must be one of auto, exact, tensor, got '" + name + "'");
}

struct DeviceKnnArgs {
    Matrix x;              // the database, in device memory
    Matrix q;              // queries in device memory; data == nullptr for a self-join
    int k = 1;
    Metric metric = Metric::SqEuclidean;
    bool exclude_self = true;
    int64_t* out_ids = nullptr;   // [rows x k] or nullptr
    double* out_dist = nullptr;   // [rows x k] float64 distances, or nullptr
    int64_t* counts = nullptr;    // [x.n] k-occurrences (added to), or nullptr
    Precision precision = Precision::Auto;
    void* stream = nullptr;       // cudaStream_t of the caller's framework
    int device = 0;
    Progress progress;
};

// Extra candidates per row of the tf32 pass: its rounding bound is about
// 2^-9 |x| |y|, so the lists need a wider margin than the fp32 pass's.
constexpr int kTensorMargin = 16;

// Exact k-NN of device-resident data; results stay on the device.
KnnStats knn_device(const DeviceKnnArgs& args);

// Host data streamed through pinned memory in chunks of chunk_rows rows (0:
// as large as the free device memory allows). Writes each row's cap best fp32
// candidates (keys [rows x cap], ids [rows x cap], padded with inf / -1) for
// the CPU module's float64 certification.
void candidates_host(const float* x, int64_t n, int64_t d, const float* q, int64_t nq, Metric metric,
                     bool exclude_self, int cap, int64_t chunk_rows, int device, const Progress& progress,
                     float* out_keys, int64_t* out_ids);

// Host data on the GPU: candidates_host's lists, then the CPU module's float64
// certification (certify_candidates_cpu). Host matrices, C-contiguous, as
// knn_cpu takes them (float64 data is streamed as float32 and certified in
// float64); same outputs and guarantees as knn_cpu.
KnnStats knn_host(const Matrix& db, const Matrix& queries, const KnnParams& params, int64_t chunk_rows, int device,
                  int64_t* out_ids, double* out_dist);

int device_count();

}  // namespace cuda
}  // namespace hf
