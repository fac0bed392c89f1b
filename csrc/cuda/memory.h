// Accounting of the CUDA module's device allocations (host code only).
#pragma once
#include <atomic>
#include <cstdint>

namespace hf::cuda {

// Bytes this module holds on the devices now and at most since the last reset
// (the benchmarks' memory figures; framework allocations are not included).
inline std::atomic<int64_t> g_bytes_now{0}, g_bytes_peak{0};

inline void count_bytes(int64_t delta) {
    const int64_t now = g_bytes_now.fetch_add(delta) + delta;
    int64_t peak = g_bytes_peak.load();
    while (now > peak && !g_bytes_peak.compare_exchange_weak(peak, now)) {
    }
}

}  // namespace hf::cuda
