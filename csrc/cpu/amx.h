// The AMX candidate pass (bf16x3 on tiles; the euclidean family, and cosine on
// the normalised rows): operands, the per-pair tile walk, and its two builds:
// the tiles (simd_amx.cpp, its own -mamx-* flags) and the portable scalar
// reference (amx_reference.cpp) that emulates them on any CPU. Keys are in scaled units (s^2 times the squared
// distance) and certified with Bf16x3Bound (common/bound.h).
//
// Layout (amx_pack.cpp): points in strips of 32 (two 16-row tiles), features
// in chunks of 32 bf16 (one 64-byte tile row), zero-padded to d_pad. Per part:
//   A (the rows of a tile product):   a[((t * nch + c) * 16 + r) * 32 + e] = part(x_{16 t + r})[32 c + e]
//   B (the columns, VNNI pairs):      b[((t * nch + c) * 16 + e / 2) * 32 + 2 r + e % 2] = part(x_{16 t + r})[32 c + e]
// so that tdpbf16ps(C, A, B) adds sum_e A[r][e] B'[e][r'] with B'[e][r'] = part(x_{16 t' + r'})[e].
#pragma once
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

#include "../common/bound.h"
#include "../common/topk.h"
#include "side.h"

namespace hf {

constexpr int kAmxStrip = 32;  // points per strip: the rows (or columns) of a 2 x 2 block of 16 x 16 tiles
constexpr int kAmxChunk = 32;  // bf16 features per tile row (64 bytes)
constexpr int kAmxTile = 16 * kAmxChunk;  // bf16 values of one tile
static_assert(kAmxStrip == 32 && kAmxChunk == 32, "the micro-kernel is 2 x 2 tiles of 16 x 16 fp32");

struct U16Deleter {
    void operator()(uint16_t* p) const { std::free(p); }
};
using Bf16Buffer = std::unique_ptr<uint16_t[], U16Deleter>;

// Beyond this much packed data (bf16 parts of both sides) the AMX level runs
// the fp32 kernels instead (which need a few MiB per thread); the k-NN stats
// then name them.
constexpr int64_t kAmxMaxPackBytes = int64_t{4} << 30;

// The shared centre and power-of-two scale of a join (both sides use the same).
// dot: inner products, which a shift would change: no centre (zeros), and the
// keys are -2 <a, b> (offsets 0 on the points; the bound, built from the
// norms, still holds).
struct AmxTransform {
    std::vector<double> centre;
    double scale = 1;
    bool dot = false;
};

// One side of a join, centred, scaled and split into bf16 hi and mid parts.
struct AmxSide {
    int64_t n = 0, n_pad = 0;  // points, padded to whole strips
    int64_t d_pad = 0, nch = 0;  // features padded to whole chunks, chunks
    double scale = 1;
    Bf16Buffer a[2], b[2];     // hi, mid in the A and / or B layout (empty when not asked for)
    std::vector<float> offset;  // fl32(|a|^2) per point (0 for inner products), NaN on padding (never passes a compare)
    std::vector<Bf16x3Stats> stats;
    Bf16x3Stats max_stats;

    const uint16_t* a_tile(int part, int64_t tile) const { return a[part].get() + tile * nch * kAmxTile; }
    const uint16_t* b_tile(int part, int64_t tile) const { return b[part].get() + tile * nch * kAmxTile; }
};

// The mean of `db` as centre (distances do not change under a shift; the mean
// makes the norms, hence the bound, small) and the scale putting the largest
// squared norm of db and queries (when given) in [2^29, 2^32).
// dot: the inner-product transform (no centre).
template <class T>
AmxTransform amx_transform(const Side<T>& db, const Side<T>* queries, int64_t d, int threads, bool dot = false);
template <class T>
AmxSide amx_pack(const Side<T>& s, int64_t d, const AmxTransform& t, bool a_layout, bool b_layout, int threads);

// One block pair of the pass: rows [r0, r0 + m) of `a` (A layout) against
// rows [c0, c0 + n) of `b` (B layout), r0 and c0 multiples of kAmxStrip. Each
// key offered to `rows` (lists of a's points) and / or `cols` (b's points)
// where it passes their thresholds (TileFold's rule). diag: 0 every pair;
// 1 a diagonal block of a self-join, only j > i; 2 the same with j >= i.
struct AmxPair {
    const AmxSide* a;
    int64_t r0;
    int m;
    const AmxSide* b;
    int64_t c0;
    int n;
    TopKSet* rows;
    TopKSet* cols;
    int diag;
    bool same_set;
};

struct AmxPass {
    const char* name;
    void (*thread_begin)();  // before a thread's first pair: tile configuration (per thread state)
    void (*thread_end)();
    void (*pair)(const AmxPair& p);
    // The keys of a block pair (p.rows, p.cols and p.diag unused) into
    // keys[i * ldk + j], i < round_up(m, 32), j < round_up(n, 32) <= ldk
    // (NaN past the last points): the ball pass's tile.
    void (*block_keys)(const AmxPair& p, float* keys, int ldk);
};

const AmxPass& amx_pass_tiles();      // simd_amx.cpp; only where cpu_has_amx()
const AmxPass& amx_pass_reference();  // amx_reference.cpp: any CPU, scalar and slow (tests)

// Probes for tests and benchmarks. Keys of every pair of a (rows) and b
// (columns): out[i * b.n + j], scaled units, by the tiles or the reference.
void amx_keys_tiles(const AmxSide& a, const AmxSide& b, float* out);
void amx_keys_reference(const AmxSide& a, const AmxSide& b, float* out);
// GFLOP/s of register-only tdpbf16ps (16 x 16 x 32 multiply-adds each) on n_threads threads.
double amx_peak_gflops(int n_threads, int64_t iterations);
// Whether this build holds the tile pass.
bool amx_built();

}  // namespace hf
