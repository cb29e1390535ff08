// Calibration of the TSC-based event clock (event_clock.h) against CLOCK_MONOTONIC.
#include "event_clock.h"

#include <cstdio>
#include <cstring>

namespace layertrace::probe::runtime {

TscConversion g_tscConversions[2];
std::atomic<int> g_tscConversionIndex{-1};

namespace {

constexpr std::uint64_t kFirstCalibrationNs = 20'000'000;  // 20 ms after the first pair
constexpr std::uint64_t kRecalibrationNs = 1'000'000'000;  // then once a second
constexpr std::int64_t kMaxSmoothedErrorNs = 1'000'000;    // beyond: re-anchor (a jump)

struct Pair {
    std::uint64_t tsc;
    std::uint64_t ns;
};

// The kernel keeps CLOCK_MONOTONIC with the TSC only when the TSC is invariant and synchronized
// across CPUs: then ours is as good as the kernel's.
bool kernelUsesTsc() noexcept {
    char source[32] = {};
    if (FILE* f = std::fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource", "re")) {
        if (std::fgets(source, sizeof source, f) == nullptr) {
            source[0] = '\0';
        }
        std::fclose(f);
    }
    return std::strncmp(source, "tsc\n", 4) == 0;
}

#if defined(__x86_64__)
// A TSC reading and the CLOCK_MONOTONIC time at the same instant (the middle of the shortest of
// a few tries, so a preemption between the two reads does not skew it).
Pair readPair() noexcept {
    Pair best{0, 0};
    std::uint64_t bestSpan = ~0ull;
    for (int i = 0; i < 5; ++i) {
        const std::uint64_t before = __rdtsc();
        const std::uint64_t ns = monotonicNs();
        const std::uint64_t after = __rdtsc();
        if (after - before < bestSpan) {
            bestSpan = after - before;
            best = {before + (after - before) / 2, ns};
        }
    }
    return best;
}

std::uint64_t convert(const TscConversion& c, std::uint64_t tsc) noexcept {
    const std::uint64_t base = c.tscBase.load(std::memory_order_relaxed);
    const std::uint64_t ns = c.nsBase.load(std::memory_order_relaxed);
    const auto mult = static_cast<Uint128>(c.mult.load(std::memory_order_relaxed));
    return tsc >= base ? ns + static_cast<std::uint64_t>(((tsc - base) * mult) >> 32)
                       : ns - static_cast<std::uint64_t>(((base - tsc) * mult) >> 32);
}

void publish(std::uint64_t tscBase, std::uint64_t nsBase, std::uint64_t mult) noexcept {
    const int next = g_tscConversionIndex.load(std::memory_order_relaxed) == 0 ? 1 : 0;
    TscConversion& c = g_tscConversions[next];
    c.tscBase.store(tscBase, std::memory_order_relaxed);
    c.nsBase.store(nsBase, std::memory_order_relaxed);
    c.mult.store(mult, std::memory_order_relaxed);
    g_tscConversionIndex.store(next, std::memory_order_release);
}

// Nanoseconds per tick, times 2^32, over [from, to].
std::uint64_t rate(const Pair& from, const Pair& to) noexcept {
    return static_cast<std::uint64_t>((static_cast<Uint128>(to.ns - from.ns) << 32) / (to.tsc - from.tsc));
}
#endif

} // namespace

void calibrateEventClock() noexcept {
#if defined(__x86_64__)
    static int usable = -1; // sender thread only
    static Pair first{0, 0}, last{0, 0};
    if (usable < 0) {
        usable = kernelUsesTsc() ? 1 : 0;
        first = last = readPair();
        return;
    }
    if (usable == 0) {
        return;
    }
    const std::uint64_t ns = monotonicNs();
    const int index = g_tscConversionIndex.load(std::memory_order_relaxed);
    if (ns - last.ns < (index < 0 ? kFirstCalibrationNs : kRecalibrationNs)) {
        return;
    }
    const Pair now = readPair();
    if (now.tsc <= last.tsc || now.ns <= first.ns) {
        usable = 0; // a counter that does not advance: keep clock_gettime
        g_tscConversionIndex.store(-1, std::memory_order_release);
        return;
    }
    const std::uint64_t longRate = rate(first, now);
    if (index < 0) {
        publish(now.tsc, now.ns, longRate);
    } else {
        // Continue from where the current conversion is at this instant (no jump), with the
        // long-baseline rate corrected so that the error seen now is gone a second from now.
        const std::uint64_t predicted = convert(g_tscConversions[index], now.tsc);
        const auto error = static_cast<std::int64_t>(now.ns - predicted);
        if (error > kMaxSmoothedErrorNs || error < -kMaxSmoothedErrorNs) {
            publish(now.tsc, now.ns, longRate); // suspended VM, clock step: re-anchor
        } else {
            const std::uint64_t ticksPerInterval = now.tsc - last.tsc;
            const auto correction = static_cast<std::int64_t>(
                (static_cast<Int128>(error) << 32) / static_cast<Int128>(ticksPerInterval));
            publish(now.tsc, predicted, static_cast<std::uint64_t>(static_cast<std::int64_t>(longRate) + correction));
        }
    }
    last = now;
#endif
}

} // namespace layertrace::probe::runtime
