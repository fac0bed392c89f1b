// Environment knobs for tests and A/B comparisons, read from the environment only by the bindings,
// while the calling thread holds the GIL, just before a native call releases it. Python changes
// os.environ under the GIL too, so the read never races a setenv; native code running without the
// GIL reads the snapshot (getenv while another thread calls setenv is undefined behaviour in C).
#pragma once
#include <atomic>
#include <cstdlib>
#include <cstring>

namespace hf::knobs {

enum class AmxForce : int { None = 0, Int8x4 = 1, Bf16x3 = 2 };

// HUBNESS_FAST_AMX_SCHEME=int8x4|bf16x3: the AMX scheme a call must use (anything else: none forced).
inline std::atomic<int>& amx_force_slot() {
    static std::atomic<int> value{0};
    return value;
}

// HUBNESS_FAST_CUDA_FOLD=warp: the CUDA passes' warp-cooperative fold (experimental).
inline std::atomic<bool>& cuda_warp_fold_slot() {
    static std::atomic<bool> value{false};
    return value;
}

inline AmxForce amx_force() { return static_cast<AmxForce>(amx_force_slot().load(std::memory_order_relaxed)); }
inline bool cuda_warp_fold() { return cuda_warp_fold_slot().load(std::memory_order_relaxed); }

// The bindings call this with the GIL held, before each native call that releases it.
inline void refresh() {
    const char* scheme = std::getenv("HUBNESS_FAST_AMX_SCHEME");
    AmxForce force = AmxForce::None;
    if (scheme && std::strcmp(scheme, "int8x4") == 0) force = AmxForce::Int8x4;
    if (scheme && std::strcmp(scheme, "bf16x3") == 0) force = AmxForce::Bf16x3;
    amx_force_slot().store(static_cast<int>(force), std::memory_order_relaxed);
    const char* fold = std::getenv("HUBNESS_FAST_CUDA_FOLD");
    cuda_warp_fold_slot().store(fold && std::strcmp(fold, "warp") == 0, std::memory_order_relaxed);
}

}  // namespace hf::knobs
