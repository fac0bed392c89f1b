// The AMX candidate pass (every metric: the euclidean family centred, cosine
// on the normalised rows, inner products uncentred): operands, the per-pair
// tile walk, and its two builds: the tiles (simd_amx.cpp, its own -mamx-*
// flags) and the portable scalar reference (amx_reference.cpp) that emulates
// them on any CPU. Keys are in scaled units (s^2 times the squared distance)
// and certified with AmxBound (common/bound.h). Two schemes form the dot
// products (AmxScheme): bf16x3 (two bf16 parts per value, three tdpbf16ps
// products in fp32) and int8x4 (two int8 parts per value under a power-of-two
// scale per row, four tdpbssd products summed exactly in int32: twice the
// multiply-adds per instruction).
//
// Layout (amx_pack.cpp): points in strips of 32 (two 16-row tiles), features
// in chunks of one 64-byte tile row (32 bf16 or 64 int8), zero-padded to
// d_pad. Per part, with E values per chunk and V = 4 / (bytes per value) the
// VNNI group (2 bf16 or 4 int8):
//   A (the rows of a tile product):   a[((t * nch + c) * 16 + r) * E + e] = part(x_{16 t + r})[E c + e]
//   B (the columns, VNNI groups):     b[((t * nch + c) * 16 + e / V) * E + V r + e % V] = part(x_{16 t + r})[E c + e]
// so that tdpbf16ps / tdpbssd (C, A, B) adds sum_e A[r][e] B'[e][r'] with B'[e][r'] = part(x_{16 t' + r'})[e].
// Every tile is 1 KiB in both schemes.
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
constexpr int kAmxChunkInt8 = 64;  // int8 features per tile row
constexpr int kAmxTile = 16 * kAmxChunk;  // uint16 words of one tile (1 KiB)

// How the dot products are formed (amx.h's first comment).
enum class AmxScheme { Bf16x3, Int8x4 };
inline int amx_chunk(AmxScheme s) { return s == AmxScheme::Int8x4 ? kAmxChunkInt8 : kAmxChunk; }
inline int64_t amx_d_pad(int64_t d, AmxScheme s) { return (d + amx_chunk(s) - 1) / amx_chunk(s) * amx_chunk(s); }
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
    AmxScheme scheme = AmxScheme::Bf16x3;
};

// One side of a join, centred, scaled and split into hi and mid parts.
struct AmxSide {
    int64_t n = 0, n_pad = 0;  // points, padded to whole strips
    int64_t d_pad = 0, nch = 0;  // features padded to whole chunks, chunks
    double scale = 1;
    AmxScheme scheme = AmxScheme::Bf16x3;
    Bf16Buffer a[2], b[2];     // hi, mid in the A and / or B layout (empty when not asked for); int8x4: int8 bytes
    std::vector<float> offset;  // fl32(|a|^2) per point (0 for inner products), NaN on padding (never passes a compare)
    std::vector<float> sigma;   // int8x4: the row's power of two (hi = sigma q1, mid = sigma 2^-8 q2); 1 on padding
    std::vector<AmxStats> stats;
    AmxStats max_stats;

    const uint16_t* a_tile(int part, int64_t tile) const { return a[part].get() + tile * nch * kAmxTile; }
    const uint16_t* b_tile(int part, int64_t tile) const { return b[part].get() + tile * nch * kAmxTile; }
};

// The rounding bound of a pass over these sides (their scheme and depth).
inline AmxBound amx_bound(const AmxSide& s, double extra = 0) {
    return s.scheme == AmxScheme::Int8x4 ? AmxBound::int8x4(s.d_pad, extra) : AmxBound::bf16x3(s.d_pad, extra);
}

// The scheme an engine packs first: int8x4 from kInt8x4MinDepth features up
// to where its integer sums fit (below, the stores of three sums and their
// combination outweigh the products saved), bf16x3 otherwise. The
// environment variable HUBNESS_FAST_AMX_SCHEME=int8x4 or bf16x3 forces one
// (tests and A/B), and then amx_keep_int8 always agrees.
constexpr int64_t kInt8x4MinDepth = 256;
AmxScheme amx_scheme_for(int64_t d);

// Whether an int8x4 pack (the database side) keeps its scheme: its bound,
// taken against the largest column, stays within a few times the bf16x3
// bound estimated from the same norms for most rows. Rows whose largest
// value dwarfs the rest (features of very different scales) get a coarse int8
// step; their candidate lists then need float64 work that costs more than the
// faster products save, and the engine packs bf16x3 instead.
bool amx_keep_int8(const AmxSide& db);

// Bytes of one side's parts per point and layout: two parts of d_pad values.
inline int64_t amx_part_bytes(int64_t d, AmxScheme s) {
    return amx_d_pad(d, s) * 2 * (s == AmxScheme::Int8x4 ? 1 : 2);
}

// The mean of `db` as centre (distances do not change under a shift; the mean
// makes the norms, hence the bound, small) and the scale putting the largest
// squared norm of db and queries (when given) in [2^29, 2^32).
// dot: the inner-product transform (no centre).
template <class T>
AmxTransform amx_transform(const Side<T>& db, const Side<T>* queries, int64_t d, int threads, bool dot = false,
                           AmxScheme scheme = AmxScheme::Bf16x3);
template <class T>
AmxSide amx_pack(const Side<T>& s, int64_t d, const AmxTransform& t, bool a_layout, bool b_layout, int threads);

// The database side of a join into `out` (B layout, and A when a_layout)
// under t's scheme; when int8x4 does not pay for these data (amx_keep_int8),
// bf16x3 instead (t.scheme follows), unless its parts for `point_layouts`
// point layouts in all would pass kAmxMaxPackBytes: then false (run the fp32
// kernels) and `out` empty.
template <class T>
bool amx_pack_database(const Side<T>& s, int64_t d, AmxTransform& t, bool a_layout, int threads,
                       int64_t point_layouts, AmxSide& out);

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
// GFLOP/s (int8: GOP/s) of register-only tdpbf16ps (16 x 16 x 32 multiply-adds each) or tdpbssd
// (16 x 16 x 64) on n_threads threads.
double amx_peak_gflops(int n_threads, int64_t iterations, bool int8 = false);
// Whether this build holds the tile pass.
bool amx_built();

}  // namespace hf
