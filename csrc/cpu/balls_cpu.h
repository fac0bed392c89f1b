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

}  // namespace hf
