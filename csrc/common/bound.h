// The fp32 rounding bound shared by every backend's float64 certification.
#pragma once
#include <cstdint>

namespace hf {

constexpr double kUnit = 1.0 / (1 << 24);  // fp32 unit roundoff
constexpr double kAbsSlack = 1e-30;  // covers fp32 underflow of tiny products, which the relative bound ignores
constexpr double kMaxSquaredNorm = 1e36;  // keys up to ~4x this must stay finite in fp32 (max 3.4e38)

// Scale of the rounding bound of an fp32 key (see knn_cpu.cpp): (D + 16) u,
// padded by 5 %, times |x|^2 + |y|^2 (euclidean family) or |x| |y| (dot products).
inline double fp32_bound_scale(int64_t d) { return (static_cast<double>(d) + 16) * kUnit * 1.05; }

}  // namespace hf
