// Ball queries on an NVIDIA GPU: the GPU twin of balls_cpu (same inputs,
// outputs and exactness), for host arrays that fit in GPU memory.
#pragma once
#include <cstdint>

#include "knn_cuda.h"

namespace hf::cuda {

// Every pair of a x b once: fp32 tiles, float64 re-checks near each ball's
// boundary with the same arithmetic as the CPU (a sequential float64 sum).
// a, b: host matrices (C-contiguous, float32 or float64, one dtype).
void balls_host(const Matrix& a, const BallSide& sa, const Matrix& b, const BallSide& sb, bool inclusive, int device,
                const Progress& progress);

}  // namespace hf::cuda
