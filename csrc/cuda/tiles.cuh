// The fp32 tile kernel: 128 x 128 tiles of keys computed in registers, staged
// in shared memory and folded into the rows' (and, for a symmetric pair, the
// columns') candidate lists. Tiles never reach global memory.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <vector>

#include "device.cuh"

namespace hf::cuda {

constexpr int kTile = 128;

enum class TileMode : int {
    Diagonal = 0,    // tiles (I, I) of one operand, rows only
    Triangle = 1,    // tiles (I, J), I < J, of one operand, rows and columns
    Rectangle = 2,   // every (I, J) of two operands, rows (and columns if asked)
};

struct TilePass {
    Operand a, b;
    int64_t depth = 0;                // features, padded to a multiple of 4 (zeros)
    Lists rows, cols;                 // lists of a's rows and (update_cols) of b's rows
    int64_t row_list0 = 0, col_list0 = 0;  // list index of local row 0 / column 0
    bool update_cols = false;
    bool exclude_same = false;        // skip pairs with equal global indices
    float gamma = -2.f;               // key = off_a + off_b + gamma * s_a * s_b * <a, b>
    TileMode mode = TileMode::Rectangle;
    bool tensor = false;              // tf32 tensor-core product (a candidate pass; see knn_cuda.cu)
    bool warp_fold = false;           // set by run_tile_pass (HUBNESS_FAST_CUDA_FOLD=warp)
};

// Runs every tile of the pass on `stream` in slices of launches; progress
// sees (done0 + tiles done, total) between slices and may stop the run.
// Returns the number of tiles.
int64_t run_tile_pass(const TilePass& pass, cudaStream_t stream, int64_t done0, int64_t total,
                      const Progress& progress);

// Number of tiles a pass will run (for progress totals).
int64_t tile_count(TileMode mode, int64_t na, int64_t nb);

// Fills lists of n rows with empty entries.
void init_lists(const Lists& lists, int64_t n, cudaStream_t stream);

}  // namespace hf::cuda
