// Event timestamps: CLOCK_MONOTONIC nanoseconds, read from the CPU's time-stamp counter on the
// hot path. clock_gettime through the vDSO costs about 21 ns of CPU on the build VM and rdtsc
// about 9; with two events per Python call in full mode that difference is a large share of
// the per-event cost. The sender thread calibrates the counter against CLOCK_MONOTONIC
// (calibrateEventClock, every drain round); until the first calibration, and on machines whose
// kernel does not itself keep time with the TSC, events use clock_gettime.
#pragma once

#include <atomic>
#include <cstdint>
#include <time.h>

#if defined(__x86_64__)
#include <x86intrin.h>
#endif

namespace layertrace::probe::runtime {

__extension__ typedef unsigned __int128 Uint128; // the multiply of a conversion needs 128 bits
__extension__ typedef __int128 Int128;

inline std::uint64_t monotonicNs() noexcept {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts); // vDSO: no system call
    return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}

// ns = nsBase + (tsc - tscBase) * mult / 2^32. Two copies: the calibrating thread writes the one
// not in use and then flips g_tscConversionIndex, so a reader never sees one half-written
// (recalibrations are a second apart).
struct TscConversion {
    std::atomic<std::uint64_t> tscBase{0};
    std::atomic<std::uint64_t> nsBase{0};
    std::atomic<std::uint64_t> mult{0};
};
extern TscConversion g_tscConversions[2];
extern std::atomic<int> g_tscConversionIndex; // -1 until calibrated (and forever without a usable TSC)

inline std::uint64_t nowNs() noexcept {
#if defined(__x86_64__)
    const int index = g_tscConversionIndex.load(std::memory_order_acquire);
    if (index >= 0) {
        const TscConversion& c = g_tscConversions[index];
        const std::uint64_t tsc = __rdtsc();
        const std::uint64_t tscBase = c.tscBase.load(std::memory_order_relaxed);
        const std::uint64_t nsBase = c.nsBase.load(std::memory_order_relaxed);
        const std::uint64_t mult = c.mult.load(std::memory_order_relaxed);
        // rdtsc is not ordered after the index load: it may read a count just before the base.
        if (tsc >= tscBase) {
            return nsBase + static_cast<std::uint64_t>((static_cast<Uint128>(tsc - tscBase) * mult) >> 32);
        }
        return nsBase - static_cast<std::uint64_t>((static_cast<Uint128>(tscBase - tsc) * mult) >> 32);
    }
#endif
    return monotonicNs();
}

// Sender thread only: (re)calibrates when due; cheap otherwise.
void calibrateEventClock() noexcept;

} // namespace layertrace::probe::runtime
