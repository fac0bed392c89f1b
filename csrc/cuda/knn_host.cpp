// Host arrays on the GPU: fp32 candidate lists from the streamed tile passes
// (candidates_host), then the CPU engine's float64 certification of them.
#include <algorithm>
#include <vector>

#include "../common/errors.h"
#include "../common/topk.h"
#include "knn_cuda.h"

namespace hf::cuda {
namespace {

// The rows as float32, the dtype the tile passes stream (a copy only for float64 data).
const float* as_float32(const Matrix& m, std::vector<float>& copy) {
    if (!m.f64) return static_cast<const float*>(m.data);
    const double* src = static_cast<const double*>(m.data);
    copy.resize(static_cast<size_t>(m.rows) * m.cols);
    std::transform(src, src + copy.size(), copy.begin(), [](double v) { return static_cast<float>(v); });
    return copy.data();
}

}  // namespace

KnnStats knn_host(const Matrix& db, const Matrix& queries, const KnnParams& params, int64_t chunk_rows, int device,
                  int64_t* out_ids, double* out_dist) {
    check_arg(db.data != nullptr && db.rows > 0 && db.cols > 0 && db.stride() == db.cols,
              "the database must be a non-empty C-contiguous 2-D array");
    const bool self = queries.data == nullptr;
    check_arg(self || (queries.rows > 0 && queries.cols == db.cols && queries.f64 == db.f64 &&
                       queries.stride() == queries.cols),
              "queries must be a non-empty C-contiguous 2-D array with the database's features and dtype");
    const bool exclude_self = self && params.exclude_self;
    const int64_t n_cand = exclude_self ? db.rows - 1 : db.rows;
    check_arg(params.k >= 1 && params.k <= n_cand,
              "k must be between 1 and " + std::to_string(n_cand) + " (the number of candidate neighbours), got " +
                  std::to_string(params.k));
    // Cosine rows the certification would refuse (zeros, or norms whose float64
    // products underflow) are refused before the GPU pass, not after it.
    if (params.metric == Metric::Cosine) check_inputs_cpu(db, queries, params);
    const int cap = candidate_cap(params.k, n_cand);
    const int64_t rows = self ? db.rows : queries.rows;
    std::vector<float> keys(static_cast<size_t>(rows) * cap);
    std::vector<int64_t> ids(keys.size());
    {
        std::vector<float> x32, q32;
        const float* x = as_float32(db, x32);
        const float* q = self ? nullptr : as_float32(queries, q32);
        candidates_host(x, db.rows, db.cols, q, rows, params.metric, exclude_self, cap, chunk_rows, device,
                        params.progress, keys.data(), ids.data());
    }
    return certify_candidates_cpu(db, queries, params, keys.data(), ids.data(), out_ids, out_dist);
}

}  // namespace hf::cuda
