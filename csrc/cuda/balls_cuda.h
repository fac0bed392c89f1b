// Ball queries on an NVIDIA GPU: the GPU twin of balls_cpu (same inputs,
// outputs and exactness), for host arrays that fit in GPU memory.
#pragma once
#include <cstdint>

#include "knn_cuda.h"

namespace hf::cuda {

// One point set on the host: n rows of d values (float32 or float64,
// C-contiguous), optional squared radii of its balls (float64), and the
// outputs for each of its points (host arrays of n).
struct HostBallSide {
    const void* x = nullptr;
    int64_t n = 0;
    bool f64 = false;
    const double* radius2 = nullptr;  // nullptr: this set has no balls
    int64_t* in_count = nullptr;      // balls of the other set containing the point
    double* min_radius2 = nullptr;    // smallest squared radius among them (+inf if none)
    int64_t* own_count = nullptr;     // points of the other set inside the point's own ball
};

// Every pair of a x b once: fp32 tiles, float64 re-checks near each ball's
// boundary with the same arithmetic as the CPU (a sequential float64 sum).
void balls_host(const HostBallSide& a, const HostBallSide& b, int64_t d, bool inclusive, int device,
                const Progress& progress);

}  // namespace hf::cuda
