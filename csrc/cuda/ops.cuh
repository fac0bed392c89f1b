// Per-row preparation of an operand and the float64 certification of the
// candidate lists, on the device.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "device.cuh"

namespace hf::cuda {

// An operand prepared for the tile kernel (a padded fp32 copy only when the
// input cannot be read in place) with the per-row data of the certification.
struct Prepared {
    DeviceBuffer<float> copy, off, scale;
    DeviceBuffer<double> stat, norm;
    double max_stat = 0;
    Operand op;
    int64_t depth = 0;
};

// Validates the rows (NaN/Inf, huge norms, zero rows for cosine: ValueError
// naming the first bad row) and fills `out`. `name` is the argument's name.
void prepare(const Matrix& m, Metric metric, const char* name, cudaStream_t stream,
             Prepared& out);

// Offsets and scales of an fp32 chunk already laid out for the tile kernel.
void prepare_chunk(const float* x, int64_t n, int64_t ld, Metric metric, float* off, float* scale,
                   cudaStream_t stream);

struct CertifyArgs {
    Matrix qa, xb;                  // exact data (original dtype, device memory, ld set): query rows and database rows
    const int64_t* map = nullptr;   // list row s -> query row (nullptr: s)
    int64_t rows = 0;
    const float* keys = nullptr;
    const int32_t* ids = nullptr;
    int cap = 0;
    int k = 0;
    Metric metric = Metric::SqEuclidean;
    int64_t n_cand = 0;
    const double *stat_a = nullptr, *stat_b = nullptr, *norm_a = nullptr, *norm_b = nullptr;
    double max_stat_b = 0, bound_scale = 0;
    int64_t* out_ids = nullptr;
    double* out_dist = nullptr;
    unsigned long long* counts = nullptr;
    int64_t* fail_rows = nullptr;   // query rows left for a wider pass
    int* n_fail = nullptr;
    int* n_recomputed = nullptr;
};

// Certifies each row's k best fp32 candidates with the fp32 rounding bound,
// recomputing in float64 where the boundary is too close; rows that even
// then cannot be settled go to fail_rows.
void certify(const CertifyArgs& args, cudaStream_t stream);

}  // namespace hf::cuda
