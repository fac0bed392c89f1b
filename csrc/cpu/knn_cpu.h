// Exact k nearest neighbours on the CPU: tiled fp32 candidate pass with fused
// top-k, certified (and where needed recomputed) in float64. See knn_cpu.cpp.
#pragma once
#include <cstdint>
#include <string>

#include "../common/types.h"

namespace hf {

struct KnnParams {
    int k = 5;
    Metric metric = Metric::SqEuclidean;
    bool exclude_self = true;  // self-join only: point i is never its own neighbour
    int n_threads = 0;         // <= 0: OpenMP default
    std::string simd = "auto";
    Progress progress;
};

// Host matrices, C-contiguous. Self-join when queries.data == nullptr (queries = db). Writes out_ids[nq*k]
// and, when out_dist is not null, out_dist[nq*k] (float64 distances of the
// metric; similarities for inner_product), each row sorted by (distance, id).
// With out_dist == nullptr each row holds the exact neighbour set, ordered by
// the fp32 keys (enough for hub counts, and cheaper).
KnnStats knn_cpu(const Matrix& db, const Matrix& queries, const KnnParams& params,
                 int64_t* out_ids, double* out_dist);

// Certifies fp32 candidate lists produced by another backend (the CUDA pass):
// keys and ids are [rows x candidate_cap(k, n_candidates)], padded with
// +inf / -1. Same outputs and guarantees as knn_cpu.
KnnStats certify_candidates_cpu(const Matrix& db, const Matrix& queries, const KnnParams& params,
                                 const float* keys, const int64_t* ids, int64_t* out_ids, double* out_dist);

// Validates the inputs as certify_candidates_cpu will (finite, in range;
// cosine: no row of zeros, none below kCosineMinSquaredNorm), so that another
// backend can refuse them before its own pass rather than after it.
void check_inputs_cpu(const Matrix& db, const Matrix& queries, const KnnParams& params);

// The two halves of a symmetric block pair: the k nearest points of b for
// every row of a and the k nearest points of a for every row of b (k capped
// by the other set's size), each pair of points computed once. Ids are row
// indices in the other set; rows sorted by (distance, id). The building block
// of distributed self-joins: merging these partial lists gives exact k-NN.
KnnStats knn_pair_cpu(const Matrix& a, const Matrix& b, const KnnParams& params, int64_t* a_ids, double* a_dist,
                      int64_t* b_ids, double* b_dist);

// Totals over every knn_cpu, knn_pair_cpu and certify_candidates_cpu call of
// this process (thread safe), since it started or since the last reset.
struct EngineCounters {
    int64_t calls = 0;
    int64_t rows = 0, rows_certified = 0, rows_recomputed = 0, rows_scanned = 0, rows_widened = 0;
    std::string last_kernels;  // the candidate pass of the latest call
};
EngineCounters engine_counters(bool reset);

// A probe of the AMX pass for tests: the int8x4 (int8) or bf16x3 keys of
// every pair (row i of a, row j of b) into keys[i * b.rows + j], formed by the
// tiles (tiles) or the portable scalar reference, and their rounding bounds
// (AmxBound) into bounds; both in scaled units. Returns the scale s: keys
// approximate s^2 |a_i - b_j|^2 (centre: the mean of b).
double amx_keys_cpu(const Matrix& a, const Matrix& b, bool tiles, bool int8, float* keys, double* bounds);

// The scheme ("int8x4" or "bf16x3") the AMX pass of a self-join on x uses
// (amx_scheme_for, then amx_pack_database's rule, as the engines apply it).
const char* amx_scheme_cpu(const Matrix& x);

}  // namespace hf
