// Instruction-set specific kernels, compiled once per level from simd_impl.h
// and chosen at run time (select_kernels, simd_select.cpp). The packed
// layouts they read are described in packing.h.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "../common/topk.h"

namespace hf {

struct AmxPass;  // amx.h

constexpr int kMR = 6;      // rows of a micro-tile (broadcast operand), at every level
constexpr int kMaxNR = 48;  // columns of the widest B panel of any level (Kernels::nr)
// A micro-tile is kMR rows by one B panel of Kernels::nr columns: 6 x 16 (two
// 8-float vectors per row) for the generic and AVX2 levels, 6 x 48 (three
// 16-float vectors per row, 18 accumulators) for AVX-512. Rows are packed (or
// read in place) the same way at every level; B panels, the column padding of
// a tile (to a multiple of nr) and the strips handed to the micro-kernel
// follow the level's nr (packing.h, product.h).
static_assert(TopKSet::kThrPad >= kMaxNR, "a fold reads the column thresholds of a whole panel");

// One tile of dot products C[i][j] (row stride ldc) is turned into keys
// alpha[i] + beta[j] + gamma * C[i][j] and offered to the per-point candidate
// lists of row i (row0 + i) and, when `cols` is set, of column j (col0 + j).
struct ScanArgs {
    const float* c;
    int ldc, m, n;
    const float* alpha;
    const float* beta;
    float gamma;
    int64_t row0, col0;
    TopKSet* rows;
    TopKSet* cols;  // nullptr: rows only (query-vs-database search)
    int diag;       // 0: whole tile; 1: only j > i (self excluded); 2: j >= i (self included)
};

// Fused fold of a strip of micro-tiles (kMR rows, consecutive panels), used on the last depth pass: the keys alpha[r] + beta[c] + gamma *
// dot are formed in registers and only candidates passing a threshold leave
// them. alpha/beta point at the strip's first row and column and are readable
// for whole micro-tiles: NaN past the valid rows and columns, which is what
// keeps padding out of the lists (the kernels are never built with
// -ffast-math / -ffinite-math-only; simd_impl.h refuses them).
struct TileFold {
    const float* alpha;
    const float* beta;
    float gamma;
    int64_t row0, col0;
    TopKSet* rows;      // nullptr: columns only (a search with the queries as columns)
    TopKSet* cols;      // nullptr: rows only
    bool same_set;      // rows and columns index one point set: never offer a point to itself
};

struct Kernels {
    const char* name;
    int nr;  // columns of a B panel and of a micro-tile: 16, or 48 (avx512)
    // For each of `panels` consecutive B panels q (nr x kc each):
    // C[0:6][nr q : nr q + nr] (+)= A(6 x kc, row stride lda) * B_panel_q^T,
    // where a panel holds the nr values of each feature together (64-byte
    // aligned). With `fold`, the result (plus C when accumulating) is folded
    // into the candidate lists instead of being stored.
    void (*microkernel)(int kc, const float* a, int64_t lda, const float* b, int panels, float* c,
                        int ldc, bool accumulate, const TileFold* fold);
    // out[c * nr + r] = src[r * ld + c], r < nr, c < kc: a B panel from fp32 rows.
    void (*pack_panel)(const float* src, int64_t ld, int kc, float* out);
    void (*scan)(const ScanArgs& args);
    // The amx levels: the tile pass that forms the euclidean family's,
    // cosine's and the ball pass's keys, and the fp32 kernels (above: a copy
    // of `fp32`'s) that inner products run. nullptr at fp32 levels.
    const AmxPass* amx = nullptr;
    const Kernels* fp32 = nullptr;
};

const Kernels& kernels_generic();
const Kernels& kernels_avx2();
const Kernels& kernels_avx512();

// What this build and CPU can run (CPUID, and the OS's consent for the wider
// register state).
bool cpu_has_avx2();    // AVX2 + FMA, and this build has the avx2 kernels
bool cpu_has_avx512();  // AVX-512 F/VL/BW/DQ + FMA, and this build has the avx512 kernels
// AMX-TILE and AMX-BF16, and Linux granted this process the tile data state
// (arch_prctl ARCH_REQ_XCOMP_PERM); false when refused or off Linux.
bool cpu_has_amx();

// The levels select_kernels accepts besides "auto", from the portable one up:
// generic, avx2, avx512, amx where available (amx needs avx512 too: its fold
// and its fp32 passes are AVX-512 code).
std::vector<std::string> simd_levels();
// level: "auto" (the best level in simd_levels()) or one of simd_levels(),
// or the unlisted "amx-reference": the AMX pass emulated by its portable
// scalar reference (amx_reference.cpp; slow, for tests on any CPU).
// A level this build or CPU cannot run is an error naming the ones it can,
// never a silent fallback.
const Kernels& select_kernels(const std::string& level);

}  // namespace hf
