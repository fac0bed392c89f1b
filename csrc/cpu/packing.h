// Blocking constants, aligned buffers, and the layouts the micro-kernels read:
// A rows (read in place or packed) and B micro-panels, per pair or for a
// block's whole depth (Prepacked).
#pragma once
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <type_traits>

#include "side.h"
#include "simd.h"

namespace hf {

constexpr int kBlock = 576;  // rows per block: a multiple of kMR and of every panel width, large enough to amortize packing
constexpr int kKC = 512;     // panel depth: up to D = 512 a tile is folded straight from registers, no C round trip
constexpr int kMC = 192;     // rows per sweep: their A rows (192 x 512 fp32) stay in L2
constexpr int kNC = 96;      // columns per sweep: their B panels (96 x 512 fp32) stay in L2 beside the A rows
constexpr int64_t kPrepackFloats = 1 << 22;  // 16 MiB: the largest per-thread copy of a block's rows
constexpr int kRowPad = 16;  // floats of padding after each packed row (see row_stride)
// Whole micro-tiles per block and per sweep: the fold's padding (ws.alpha,
// ws.beta) stays inside a block and a strip is a whole number of panels.
static_assert(kBlock % kMR == 0 && kBlock % 16 == 0 && kBlock % kMaxNR == 0 && kNC % 16 == 0 && kNC % kMaxNR == 0 &&
                  kMC % kMR == 0,
              "blocks and sweeps must hold whole micro-tiles");

struct FreeDeleter {
    void operator()(float* p) const { std::free(p); }
};
using Buffer = std::unique_ptr<float[], FreeDeleter>;

inline Buffer aligned_floats(size_t n) {
    if (n == 0) return Buffer();
    const size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, bytes);
    if (!p) throw std::bad_alloc();
    return Buffer(static_cast<float*>(p));
}

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
inline int round_up(int a, int b) { return (a + b - 1) / b * b; }

// Feature value c of row `row` of a side, as the fp32 the kernels consume.
template <class T>
struct RowReader {
    const Side<T>& s;
    int64_t d;
    float operator()(int64_t row, int64_t c) const {
        if (!s.centred.empty()) return s.centred[row * d + c];
        return static_cast<float>(unit_value(s, row, d, c));
    }
};

// Rows [r0, r0 + m) and features [p0, p0 + kc) of x as a row-major fp32
// block (row stride kc), zero rows up to a multiple of kMR: the A operand.
template <class T>
void pack_rows(const Side<T>& s, int64_t d, int64_t r0, int m, int64_t p0, int kc, float* out, int64_t ld) {
    const RowReader<T> read{s, d};
    const float* fp32 = fp32_rows(s);
    for (int row = 0; row < round_up(m, kMR); ++row) {
        float* dst = out + row * ld;
        if (row >= m) {
            std::fill(dst, dst + kc, 0.f);
        } else if (fp32) {
            std::memcpy(dst, fp32 + (r0 + row) * d + p0, kc * sizeof(float));
        } else {
            for (int c = 0; c < kc; ++c) dst[c] = read(r0 + row, p0 + c);
        }
    }
}

// The same block as the kernel level's B panels of nr rows: panel q stores,
// feature after feature, the nr row values (zero past m), so the micro-kernel
// reads B linearly. Writes are sequential; reads walk nr rows side by side.
template <class T>
void pack_panels(const Kernels& kern, const Side<T>& s, int64_t d, int64_t r0, int m, int64_t p0, int kc,
                 float* out) {
    const RowReader<T> read{s, d};
    const float* fp32 = fp32_rows(s);
    const int nr = kern.nr;
    for (int q = 0; q < m; q += nr) {
        float* dst = out + static_cast<int64_t>(q) * kc;
        const int rows = std::min(nr, m - q);
        if (fp32 && rows == nr) {
            kern.pack_panel(fp32 + (r0 + q) * d + p0, d, kc, dst);
            continue;
        }
        for (int c = 0; c < kc; ++c, dst += nr) {
            for (int r = 0; r < rows; ++r) dst[r] = read(r0 + q + r, p0 + c);
            for (int r = rows; r < nr; ++r) dst[r] = 0.f;
        }
    }
}

struct Workspace {
    explicit Workspace(size_t row_copy_floats = 0) : rows(aligned_floats(row_copy_floats)) {}
    Buffer rows;  // one block packed for the whole depth (or empty): A rows, or B panels in a self-join
    Buffer a = aligned_floats(static_cast<size_t>(kBlock) * kKC);
    Buffer b = aligned_floats(static_cast<size_t>(kBlock) * kKC);
    Buffer c = aligned_floats(static_cast<size_t>(kBlock) * kBlock);
    Buffer alpha = aligned_floats(kBlock);  // the row offsets of a pair, NaN-padded to whole micro-tiles (kMR rows)
    Buffer beta = aligned_floats(kBlock);   // the column offsets, NaN-padded to whole panels (Kernels::nr columns)
};

// Blocks whose rows fit in a per-thread copy for the whole depth.
inline bool prepack_fits(int64_t d) { return static_cast<int64_t>(kBlock) * d <= kPrepackFloats; }
// Row stride of a block packed for the whole depth: padded off a multiple of
// 1 KiB so that the six rows a micro-kernel reads do not share L1 sets.
inline int64_t row_stride(int64_t d) { return d + kRowPad; }
inline int block_len(int64_t n, int64_t b) { return static_cast<int>(std::min<int64_t>(kBlock, n - b * kBlock)); }

// Operands of a tile product already laid out for the whole depth; a null
// pointer means "pack per pair". a_rows: A rows, row stride a_ld. b_panels: B
// as the level's panels, the depth slab at p0 starting at b_panels + p0 * round_up(n, nr)
// (pack_block_panels).
struct Prepacked {
    const float* a_rows = nullptr;
    int64_t a_ld = 0;
    const float* b_panels = nullptr;
};

// The A rows a thread packed into ws.rows for the whole depth (row stride
// row_stride(d)) when `prepacked`; otherwise nothing is laid out beforehand.
inline Prepacked prepacked_rows(const Workspace& ws, bool prepacked, int64_t d) {
    Prepacked pre;
    if (prepacked) pre = {ws.rows.get(), row_stride(d), nullptr};
    return pre;
}

// B panels of rows [r0, r0 + m) for the whole depth, in the layout of Prepacked::b_panels.
template <class T>
void pack_block_panels(const Kernels& kern, const Side<T>& s, int64_t d, int64_t r0, int m, float* out) {
    for (int64_t p0 = 0; p0 < d; p0 += kKC) {
        const int kc = static_cast<int>(std::min<int64_t>(kKC, d - p0));
        pack_panels(kern, s, d, r0, m, p0, kc, out + p0 * round_up(m, kern.nr));
    }
}

// Rows [r0, r0 + m) read in place as the A operand (row stride d), or nullptr
// when they need packing: float64 input not centred, cosine scaling, or a
// block whose last micro-tile would read past the end of the array.
template <class T>
const float* rows_in_place(const Side<T>& s, int64_t d, int64_t r0, int m) {
    const float* fp32 = fp32_rows(s);
    if (fp32 && r0 + round_up(m, kMR) <= s.n) return fp32 + r0 * d;
    return nullptr;
}

}  // namespace hf
