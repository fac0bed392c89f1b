// Ball queries on the CPU: which balls of one point set contain the points of
// another, by the same tiled fp32 pass as k-NN with float64 re-checks at the
// ball boundaries. Distances are squared Euclidean, in float64.
#pragma once
#include <cstdint>
#include <string>

#include "knn_cpu.h"

namespace hf {

// One of the two point sets. Each point may carry a ball (squared radius).
// Outputs are written for every point (arrays of its set's size).
struct BallSide {
    const double* radius2 = nullptr;  // in: squared radii of this set's balls, or nullptr (no balls)
    int64_t* in_count = nullptr;      // out: balls of the other set containing the point (0 if it has no balls)
    double* min_radius2 = nullptr;    // out: smallest squared radius among those balls (+inf if none)
    int64_t* own_count = nullptr;     // out: points of the other set inside this point's ball (0 without radii)
};

struct BallParams {
    bool inclusive = false;  // d^2 <= r^2 (improved precision/recall) instead of d^2 < r^2 (prdc)
    int n_threads = 0;
    std::string simd = "auto";
    Progress progress;
};

// Extra memory: O(|a| + threads * |b|) plus per-thread tiles.
void balls_cpu(const Matrix& a, const BallSide& sa, const Matrix& b, const BallSide& sb, const BallParams& params);

}  // namespace hf
