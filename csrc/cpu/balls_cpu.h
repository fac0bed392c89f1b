// Ball queries on the CPU: which balls of one point set contain the points of
// another, by the same tiled fp32 pass as k-NN with float64 re-checks at the
// ball boundaries. Distances are squared Euclidean, in float64.
#pragma once
#include <cstdint>
#include <string>

#include "knn_cpu.h"

namespace hf {

struct BallParams {
    bool inclusive = false;  // d^2 <= r^2 (improved precision/recall) instead of d^2 < r^2 (prdc)
    int n_threads = 0;
    std::string simd = "auto";
    Progress progress;
};

// Extra memory: O(|a| + threads * |b|) plus per-thread tiles.
void balls_cpu(const Matrix& a, const BallSide& sa, const Matrix& b, const BallSide& sb, const BallParams& params);

}  // namespace hf
