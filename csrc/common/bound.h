// The fp32 rounding bound shared by every backend's float64 certification.
#pragma once
#include <cstdint>

namespace hf {

constexpr double kUnit = 1.0 / (1 << 24);  // fp32 unit roundoff
constexpr double kAbsSlack = 1e-30;  // covers fp32 underflow of tiny products, which the relative bound ignores
constexpr double kMaxSquaredNorm = 1e36;  // keys up to ~4x this must stay finite in fp32 (max 3.4e38)
constexpr const char* kHugeRow = " has a squared norm above 1e36, too large for float32 arithmetic; rescale the data";

// Cosine rows need |x|^2 >= 2^-969 (float64 input only: float32 values cannot
// go below it): then every rounding of a subnormal square or product in the
// float64 norms and dot products is under 2^-1075, at most D 2^-106 of |x||y|,
// and the float64 key 1 - <x,y> / (|x| |y|) keeps the accuracy the bounds
// assume (about D 2^-53; smaller rows lost up to 1e-3 of it). Every backend
// refuses such rows, and rows of zeros, before its candidate pass.
constexpr double kCosineMinSquaredNorm = 0x1p-969;
constexpr const char* kCosineZeroRow =
    " is all zeros: cosine distance is undefined for it; drop it or use another metric";
constexpr const char* kCosineTinyRow =
    " has a squared norm below 2^-969 (about 2e-292): its float64 cosine would lose precision to underflow; "
    "rescale the rows (cosine does not depend on their scale)";

// Scale of the rounding bound of an fp32 key (see knn_cpu.cpp): (D + 16) u,
// padded by 5 %, times |x|^2 + |y|^2 (euclidean family) or |x| |y| (dot products).
inline double fp32_bound_scale(int64_t d) { return (static_cast<double>(d) + 16) * kUnit * 1.05; }


// The bf16x3 rounding bound of the CPU's AMX pass (derivation: README, "How
// exact results are guaranteed"; the pass: csrc/cpu/amx.h). Every value is
// centred on a shared centre c and scaled by s = 2^e (a = fl64(x - c) s; the
// scaled squared norms of both sides are at most 2^32), split into two bf16
// parts a = hi + mid + res, and the products hi*mid, mid*hi, hi*hi are summed
// in that order, each over all d_pad features, by tdpbf16ps into one fp32
// accumulator: bf16 products are exact in fp32, each addition rounds to
// nearest even in an unspecified order with denormal results flushed. The
// key is fl32(fl32(alpha_i + alpha_j) - 2 dot), alpha = fl32(|a|^2). All
// quantities are in scaled units (keys are s^2 times the distances).
constexpr double kBf16Unit = 1.0 / (1 << 8);  // bf16 unit roundoff (8-bit significand)
constexpr double kFp32MinNormal = 0x1p-126;   // smaller bf16 parts and fp32 sums are flushed to zero
constexpr int kBf16x3Log2MaxNorm2 = 32;       // the scale puts the largest squared norm in [2^29, 2^32)

// Per-point norms (scaled units, float64) the bound is built from.
struct AmxStats {
    double alpha = 0;  // |a|^2
    double norm = 0;   // |a|
    double hi = 0;     // |hi|, the norm of the first parts
    double mid = 0;    // |mid|
    double res = 0;    // |a - hi - mid| (flushed parts included)
};

inline AmxStats max_stats(const AmxStats& x, const AmxStats& y) {
    auto mx = [](double a, double b) { return a > b ? a : b; };
    return {mx(x.alpha, y.alpha), mx(x.norm, y.norm), mx(x.hi, y.hi), mx(x.mid, y.mid), mx(x.res, y.res)};
}

// The bf16x3 bound (AmxBound::bf16x3), by Cauchy-Schwarz on the part vectors:
//   2 (|a||r_b| + |r_a||b| + |r_a||r_b| + |mid_a||mid_b|)      dropped terms
// + 2 (g_3D |hi_a||mid_b| + g_2D |mid_a||hi_b| + g_D |hi_a||hi_b|) fp32 accumulation
// + (u (4 + 3u + u^2 + c_dot) + (3 d_pad + 8) 2^-53) (alpha_i + alpha_j)
//                        key assembly, the fl64 centring and the float64 norms and checks
// all padded by 5 %, plus (d_pad + 1) 2^-100 for flushed parts, products and
// sums (parts are below 2^16, so that covers 2 * 3 d_pad * 2^-126 many times over).
// g_n = n u / (1 - n u): a term passes at most n roundings (one per
// accumulation) whatever order the unit adds in.
//
// The int8x4 bound of the CPU's AMX pass, the other scheme (amx.h): every
// centred and scaled row a is written a = sigma (q1 + 2^-8 q2) + res with
// sigma = 2^e per row and q1, q2 int8 (the "parts" hi = sigma q1, mid =
// sigma 2^-8 q2); tdpbssd sums q1.q1', q1.q2' + q2.q1' and q2.q2' exactly in
// int32 (X, Y, Z), and the key is fl32(fl32(alpha_i + alpha_j) - 2 sigma_i
// sigma_j fl32(X + fl32(Y + Z 2^-8) 2^-8)) (one fused multiply-add each; the
// int32 -> fp32 conversions round to nearest). With P = (|hi_a| + |mid_a|)
// (|hi_b| + |mid_b|), which bounds sigma_a sigma_b (|X| + 2^-8 |Y| + 2^-16 |Z|)
// by Cauchy-Schwarz:
//   2 (|a||r_b| + |r_a||b| + |r_a||r_b|)                         dropped terms
// + 2 * 3.01 u P                     three roundings of each term of the sum
// + 2 u (1 + 3.01 u) P + u (3 + 3u + u^2) (alpha_i + alpha_j)    key assembly
// + (3 d_pad + 8) 2^-53 (alpha_i + alpha_j)   the fl64 centring and norms
// all padded by 5 %, plus the bf16x3 bound's absolute term. No accumulation
// term: integer sums are exact (d_pad <= kInt8x4MaxDepth keeps them in int32).
constexpr int64_t kInt8x4MaxDepth = 65536;  // 2 * 127^2 * d_pad < 2^31

// The rounding bound of the AMX pass, for either scheme: |key~_ij - s^2
// |x_i - x_j|^2| <= key(stats_i, stats_j), monotone in every stat, so the
// maxima over a set bound all its pairs.
class AmxBound {
public:
    // extra: an absolute term added to every pair (scaled units), for keys
    // compared with a float64 key that is not exactly s^2 |a - b|^2 (cosine).
    static AmxBound bf16x3(int64_t d_pad, double extra = 0) {
        AmxBound b(d_pad, extra);
        const double d = static_cast<double>(d_pad), e = kBf16Unit, m0 = 1 + e, m1 = e * (1 + e);
        b.g_hm_ = gamma(3 * d);
        b.g_mh_ = gamma(2 * d);
        b.g_hh_ = gamma(d);
        b.mid_mid_ = 1;
        // Worst case of |dot~ - <a, b>| / (|a||b|): |hi| <= (1+e)|a|, |mid| <= e(1+e)|a|, |res| <= e^2 |a|.
        const double c_dot = m1 * m1 + 2 * e * e + e * e * e * e + (b.g_hm_ + b.g_mh_) * m0 * m1 + b.g_hh_ * m0 * m0;
        b.assembly_ += kUnit * (4 + 3 * kUnit + kUnit * kUnit + c_dot);
        return b;
    }
    static AmxBound int8x4(int64_t d_pad, double extra = 0) {
        AmxBound b(d_pad, extra);
        b.g_parts_ = 3.01 * kUnit + kUnit * (1 + 3.01 * kUnit);
        b.assembly_ += kUnit * (3 + 3 * kUnit + kUnit * kUnit);
        return b;
    }
    double key(const AmxStats& a, const AmxStats& b) const {
        const double dropped = a.norm * b.res + a.res * b.norm + a.res * b.res + mid_mid_ * a.mid * b.mid;
        const double acc = g_hm_ * a.hi * b.mid + g_mh_ * a.mid * b.hi + g_hh_ * a.hi * b.hi +
                           g_parts_ * (a.hi + a.mid) * (b.hi + b.mid);
        return 1.05 * (2 * (dropped + acc) + assembly_ * (a.alpha + b.alpha)) + abs_;
    }

private:
    AmxBound(int64_t d_pad, double extra) {
        const double d = static_cast<double>(d_pad);
        assembly_ = (3 * d + 8) * 0x1p-53;
        abs_ = (d + 1) * 0x1p-100 + extra;
    }
    static double gamma(double n) { return n * kUnit / (1 - n * kUnit); }
    double g_hm_ = 0, g_mh_ = 0, g_hh_ = 0, g_parts_ = 0, mid_mid_ = 0, assembly_ = 0, abs_ = 0;
};

}  // namespace hf
