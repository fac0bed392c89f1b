// The run-time choice of a kernel level: what this build holds, what the CPU
// (and the OS) can run, and the level a caller asked for.
#include <stdexcept>
#include <string>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "simd.h"

namespace hf {
namespace {

// Every level's name, from the portable one up; "amx" is reserved for the AMX
// tile pass (bf16 candidates, certified like every pass) and is never listed
// by simd_levels() before this build has one.
const char* const kKnownLevels = "auto, generic, avx2, avx512, amx";

#if defined(__x86_64__) || defined(__i386__)
constexpr unsigned kCpuidExtendedFeatures = 7;  // leaf 7, sub-leaf 0
constexpr unsigned kEdxAmxBf16 = 1u << 22;
constexpr unsigned kEdxAmxTile = 1u << 24;
#endif
#if defined(__linux__)
constexpr int kArchReqXcompPerm = 0x1023;  // arch_prctl: ask for an extended state component
constexpr int kXfeatureXtileData = 18;     // the AMX tile data registers
#endif

std::string join(const std::vector<std::string>& names) {
    std::string out;
    for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
    return out;
}

}  // namespace

bool cpu_has_avx2() {
#if defined(HF_BUILD_AVX2)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return false;
#endif
}

bool cpu_has_avx512() {
#if defined(HF_BUILD_AVX512)
    // libgcc's CPU model also checks that the OS saves the 512-bit register state (XCR0).
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("fma");
#else
    return false;
#endif
}

bool cpu_has_amx() {
#if (defined(__x86_64__) || defined(__i386__)) && defined(__linux__)
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (!__get_cpuid_count(kCpuidExtendedFeatures, 0, &eax, &ebx, &ecx, &edx)) return false;
    if ((edx & (kEdxAmxBf16 | kEdxAmxTile)) != (kEdxAmxBf16 | kEdxAmxTile)) return false;
    // Linux hands out the 8 KiB tile state only on request; a refusal (old
    // kernel, seccomp, a hypervisor without it) means no AMX for this process.
    static const bool granted = syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtileData) == 0;
    return granted;
#else
    return false;
#endif
}

std::vector<std::string> simd_levels() {
    std::vector<std::string> levels{"generic"};
    if (cpu_has_avx2()) levels.push_back("avx2");
    if (cpu_has_avx512()) levels.push_back("avx512");
    // The AMX pass plugs in here: levels.push_back("amx") when this build has
    // it and cpu_has_amx(), and a case in select_kernels below.
    return levels;
}

const Kernels& select_kernels(const std::string& level) {
    const std::vector<std::string> levels = simd_levels();
    const std::string& chosen = level == "auto" ? levels.back() : level;
    bool available = false;
    for (const std::string& l : levels) available |= l == chosen;
    if (!available) {
        const bool known = chosen == "generic" || chosen == "avx2" || chosen == "avx512" || chosen == "amx";
        if (!known)
            throw std::invalid_argument("simd must be one of " + std::string(kKnownLevels) + ", got '" + level + "'");
        const char* why = chosen == "amx" ? "this build has no AMX pass" : "this CPU or build cannot run it";
        throw std::invalid_argument("simd='" + chosen + "' is not available (" + why + "); use 'auto' or one of: " +
                                    join(levels));
    }
#if defined(HF_BUILD_AVX512)
    if (chosen == "avx512") return kernels_avx512();
#endif
#if defined(HF_BUILD_AVX2)
    if (chosen == "avx2") return kernels_avx2();
#endif
    return kernels_generic();
}

}  // namespace hf
