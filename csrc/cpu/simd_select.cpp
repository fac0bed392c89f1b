// The run-time choice of a kernel level: what this build holds, what the CPU
// (and the OS) can run, and the level a caller asked for.
#include <map>
#include <memory>
#include <mutex>
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

#include "amx.h"
#include "simd.h"

namespace hf {
namespace {

// Every level's name, from the portable one up ("amx-reference" is accepted but
// not listed: it is a test fixture).
const char* const kKnownLevels = "auto, generic, avx2, avx512, amx";

#if defined(__x86_64__) || defined(__i386__)
constexpr unsigned kCpuidExtendedFeatures = 7;  // leaf 7, sub-leaf 0
constexpr unsigned kEdxAmxBf16 = 1u << 22;
constexpr unsigned kEdxAmxTile = 1u << 24;
constexpr unsigned kEdxAmxInt8 = 1u << 25;
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
    constexpr unsigned kAll = kEdxAmxBf16 | kEdxAmxTile | kEdxAmxInt8;  // every AMX CPU so far has all three
    if ((edx & kAll) != kAll) return false;
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
#if defined(HF_BUILD_AMX)
    if (cpu_has_avx512() && cpu_has_amx()) levels.push_back("amx");
#endif
    return levels;
}

// An AMX level: the tile pass (or its reference) beside the fp32 kernels of `fp32`.
static const Kernels& with_amx(const char* name, const AmxPass& pass, const Kernels& fp32) {
    static std::mutex lock;  // levels are built once, on first use
    static std::map<std::string, std::unique_ptr<Kernels>> made;
    std::lock_guard<std::mutex> hold(lock);
    std::unique_ptr<Kernels>& k = made[name];
    if (!k) {
        k.reset(new Kernels(fp32));
        k->name = name;
        k->amx = &pass;
        k->fp32 = &fp32;
    }
    return *k;
}

#if !defined(HF_BUILD_AMX)
bool amx_built() { return false; }
[[noreturn]] static void no_amx() { throw std::runtime_error("this build has no AMX pass"); }
const AmxPass& amx_pass_tiles() { no_amx(); }
void amx_keys_tiles(const AmxSide&, const AmxSide&, float*) { no_amx(); }
double amx_peak_gflops(int, int64_t, bool) { no_amx(); }
#endif

const Kernels& select_kernels(const std::string& level) {
    const std::vector<std::string> levels = simd_levels();
    if (level == "amx-reference")  // beside the best fp32 kernels of this CPU
        return with_amx("amx-reference", amx_pass_reference(),
                        select_kernels(levels.back() == "amx" ? "avx512" : levels.back()));
    const std::string& chosen = level == "auto" ? levels.back() : level;
    bool available = false;
    for (const std::string& l : levels) available |= l == chosen;
    if (!available) {
        const bool known = chosen == "generic" || chosen == "avx2" || chosen == "avx512" || chosen == "amx";
        if (!known)
            throw std::invalid_argument("simd must be one of " + std::string(kKnownLevels) + ", got '" + level + "'");
        const char* why = chosen == "amx" ? "this CPU, OS (tile permission) or build cannot run it"
                                          : "this CPU or build cannot run it";
        throw std::invalid_argument("simd='" + chosen + "' is not available (" + why + "); use 'auto' or one of: " +
                                    join(levels));
    }
#if defined(HF_BUILD_AMX)
    if (chosen == "amx") return with_amx("amx", amx_pass_tiles(), kernels_avx512());
#endif
#if defined(HF_BUILD_AVX512)
    if (chosen == "avx512") return kernels_avx512();
#endif
#if defined(HF_BUILD_AVX2)
    if (chosen == "avx2") return kernels_avx2();
#endif
    return kernels_generic();
}

}  // namespace hf
