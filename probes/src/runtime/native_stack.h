// Native stack capture for the probe's Stack records: a frame walk with a per-return-address
// cache of unwind rules (unwind_rules.h), falling back to LLVM libunwind for the whole walk when
// a frame does not fit a cached rule.
#pragma once

#include <cstddef>
#include <cstdint>

namespace layertrace::probe::stack {

// The innermost frames whose ip is in [lo, hi) are left out (the probe's own: emit, hook
// callbacks, stubs); from the first frame outside, every frame is kept.
struct SkipRange {
    std::uintptr_t lo = 0, hi = 0;
};

// Fills ips[0..max) with the calling thread's return addresses, innermost first; returns how
// many. Return addresses replaced by the hook engine's exit stub are reported as the real ones.
// Async-signal-safe (it may run in a SIGTRAP handler): no lock held while waiting, no allocation.
std::size_t captureNative(std::uint64_t* ips, std::size_t max, SkipRange skip) noexcept;

// The same walk done by libunwind alone at every frame (no cache): the reference the cached walk
// must equal, and its fallback.
std::size_t captureNativeWithLibunwind(std::uint64_t* ips, std::size_t max, SkipRange skip) noexcept;

// Counters since the process started (relaxed; for tests and benchmarks).
struct UnwindCacheStats {
    std::uint64_t cachedWalks;    // walks done entirely from cached rules
    std::uint64_t libunwindWalks; // walks redone by libunwind (a Complex frame, or a sanity check failed)
    std::uint64_t rulesParsed;    // cache misses: rules read from .eh_frame
    std::uint64_t invalidations;  // the cache was emptied because an object was unloaded
};
UnwindCacheStats unwindCacheStats() noexcept;

} // namespace layertrace::probe::stack
