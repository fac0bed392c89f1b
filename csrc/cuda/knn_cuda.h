// Exact k-NN on NVIDIA GPUs: fp32 tiles folded into per-row candidate lists on
// the device, then certified in float64 (on the device for device-resident
// data, by the CPU module for host data).
#pragma once
#include <cstdint>
#include <stdexcept>

#include "../common/types.h"

namespace hf {

struct DeviceOutOfMemory : std::runtime_error {
    using std::runtime_error::runtime_error;
};

namespace cuda {

// A matrix already on the device: n rows of d values, row stride ld elements.
struct DeviceMatrix {
    const void* data = nullptr;
    int64_t n = 0, d = 0, ld = 0;
    bool f64 = false;
};

struct DeviceKnnArgs {
    DeviceMatrix x;        // the database
    DeviceMatrix q;        // queries; data == nullptr for a self-join
    int k = 1;
    Metric metric = Metric::SqEuclidean;
    bool exclude_self = true;
    int64_t* out_ids = nullptr;   // [rows x k] or nullptr
    double* out_dist = nullptr;   // [rows x k] float64 distances, or nullptr
    int64_t* counts = nullptr;    // [x.n] k-occurrences (added to), or nullptr
    int precision = 0;            // 0 auto, 1 fp32 product, 2 tf32 tensor-core candidates
    void* stream = nullptr;       // cudaStream_t of the caller's framework
    int device = 0;
    Progress progress;
};

struct DeviceKnnStats {
    int64_t rows_recomputed = 0;  // rows whose fp32 boundary needed float64 keys
    int64_t rows_widened = 0;     // rows solved by a wider candidate pass (the CPU instead scans in float64)
    bool tensor = false;          // the candidates came from the tf32 tensor-core pass
};

// Extra candidates per row of the tf32 pass: its rounding bound is about
// 2^-9 |x| |y|, so the lists need a wider margin than the fp32 pass's.
constexpr int kTensorMargin = 16;

// Scale of the rounding bound of a tf32 candidate key (derivation in
// knn_cuda.cu): times |x|^2 + |y|^2 (euclidean family) or |x| |y| (dot products).
double tf32_bound_scale(int64_t d);

// Exact k-NN of device-resident data; results stay on the device.
DeviceKnnStats knn_device(const DeviceKnnArgs& args);

// Host data streamed through pinned memory in chunks of chunk_rows rows (0:
// as large as the free device memory allows). Writes each row's cap best fp32
// candidates (keys [rows x cap], ids [rows x cap], padded with inf / -1) for
// the CPU module's float64 certification.
void candidates_host(const float* x, int64_t n, int64_t d, const float* q, int64_t nq, Metric metric,
                     bool exclude_self, int cap, int64_t chunk_rows, int device, const Progress& progress,
                     float* out_keys, int64_t* out_ids);

int device_count();

}  // namespace cuda
}  // namespace hf
