// Ball queries on the CPU: which balls of one point set contain the points of
// another, by the same tiled fp32 pass as k-NN with float64 re-checks at the
// ball boundaries. Distances are squared Euclidean, in float64.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "knn_cpu.h"

namespace hf {

struct BallParams {
    // One flag per layer: d^2 <= r^2 (improved precision/recall) instead of d^2 < r^2 (prdc).
    std::vector<unsigned char> inclusive = {0};
    int n_threads = 0;
    std::string simd = "auto";
    Progress progress;
};

// All layers in one pass over the pairs. Extra memory: O(layers (|a| + threads |b|)) plus per-thread tiles.
void balls_cpu(const Matrix& a, const BallSide& sa, const Matrix& b, const BallSide& sb, const BallParams& params);

// Every pair (i, j) with |a_i - b_j|^2 <= radius2 (params.inclusive[0]; else < radius2), decided as the
// ball pass decides containment (fp32 or bf16x3 keys, float64 at the boundary), in CSR form: row i's
// columns are indices[indptr[i] : indptr[i + 1]], sorted by (value, column), with their values: the
// float64 squared distances. same_set: a and b are one point set and (i, i) is left out (a duplicate at
// another index stays). Memory: the output (twice, while it is assembled) plus O(|a|).
//
// With `cosine`, a and b are the rows divided by their norms and radius2 a squared radius wide enough for
// every pair wanted: each pair the pass lists is then valued by the k-NN engine's cosine of the rows as
// given (exact_cosine, side.h), sorted by it, and kept where it is <= cosine->radius.
struct RadiusPairs {
    std::vector<int64_t> indptr, indices;
    std::vector<double> values;
};
struct CosineValues {
    Matrix a, b;                     // the rows as given (one dtype, the width of the pass's rows)
    const double* a_norm = nullptr;  // |a_i| and |b_j|
    const double* b_norm = nullptr;
    double radius = 0;
};
void radius_pairs_cpu(const Matrix& a, double radius2, const Matrix& b, bool same_set, const BallParams& params,
                      RadiusPairs& out, const CosineValues* cosine = nullptr);

// The k-NN engine's float64 cosine of listed pairs: out[p] = 1 - <a_i, b_j> / (|a_i| |b_j|) for i = rows[p],
// j = cols[p], the dot product summed in feature order without fused multiply-add (certify.h's key, bit for
// bit), with the norms given (|a| and |b|, square roots of in-order sums). Radius searches decide on it.
void pair_cosines_cpu(const Matrix& a, const double* a_norm, const Matrix& b, const double* b_norm,
                      const int64_t* rows, const int64_t* cols, int64_t n, int n_threads, double* out);

}  // namespace hf
