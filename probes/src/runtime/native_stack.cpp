// The cached frame walk. Each step needs only: where the CFA is (rsp or rbp + offset), the return
// address at CFA - 8, and where the caller's rbp was saved. Those are read once per return
// address from .eh_frame (unwind_rules.cpp) and kept in a lock-free table, the way perf-style
// unwinders cache CFI; libunwind used to re-parse the FDE at every frame of every event.
//
// Safety: rules are only trusted for reads between the current sp and the highest stack address
// a libunwind walk of this thread has reached (every CFA must grow and stay below it), so even a
// wrong rule cannot fault. Staleness: a rule belongs to the code at its address; when the loader
// unloads an object (glibc's dl_phdr_info.dlpi_subs changes) the table is emptied before the
// walk, so an object loaded later at the same address never sees the old rules.
#include "native_stack.h"

#include "hook_engine.h"
#include "unwind_rules.h"

#include <libunwind.h>
#include <link.h>

#include <atomic>

namespace layertrace::probe::stack {
namespace {

// The table: open addressing on the return address. A slot is two words; a writer (one at a
// time, try-lock) clears the key, writes the rule, then publishes the key; a reader accepts a
// rule only if the key reads the same before and after it and the rule's tag matches the key.
constexpr std::size_t kSlots = 8192; // 128 KiB of .bss, touched only as used
constexpr std::size_t kProbeLength = 8;
struct Slot {
    std::atomic<std::uint64_t> key{0};
    std::atomic<std::uint64_t> rule{0};
};
constinit Slot g_slots[kSlots];
constinit std::atomic_flag g_writing = ATOMIC_FLAG_INIT;
constinit std::atomic<unsigned long long> g_seenSubs{0};
constinit std::atomic<bool> g_seenSubsValid{false};

constinit std::atomic<std::uint64_t> g_cachedWalks{0}, g_libunwindWalks{0}, g_rulesParsed{0}, g_invalidations{0};

// The highest stack address a libunwind walk of this thread reached (its outermost frame's sp):
// the cached walk reads no higher.
thread_local std::uintptr_t t_stackTop __attribute__((tls_model("initial-exec"))) = 0;

std::size_t slotOf(std::uint64_t pc) { return static_cast<std::size_t>((pc * 0x9E3779B97F4A7C15ull) >> 51) & (kSlots - 1); }
std::uint64_t tagOf(std::uint64_t pc) { return (pc * 0xC2B2AE3D27D4EB4Full) >> 52; } // 12 bits

// Packed rule: kind 2 bits | cfaFromRbp | rbpSaved | tag 12 bits | rbpOffset 16 | cfaOffset 32.
std::uint64_t pack(const StepRule& r, std::uint64_t pc) {
    return static_cast<std::uint64_t>(r.kind) | std::uint64_t{r.cfaFromRbp} << 2 | std::uint64_t{r.rbpSaved} << 3 |
           tagOf(pc) << 4 | std::uint64_t{static_cast<std::uint16_t>(r.rbpOffset)} << 16 |
           std::uint64_t{static_cast<std::uint32_t>(r.cfaOffset)} << 32;
}
StepRule unpack(std::uint64_t word) {
    StepRule r;
    r.kind = static_cast<StepRule::Kind>(word & 3);
    r.cfaFromRbp = (word >> 2) & 1;
    r.rbpSaved = (word >> 3) & 1;
    r.rbpOffset = static_cast<std::int16_t>(static_cast<std::uint16_t>(word >> 16));
    r.cfaOffset = static_cast<std::int32_t>(static_cast<std::uint32_t>(word >> 32));
    return r;
}

bool lookup(std::uint64_t pc, StepRule* out) {
    const std::size_t first = slotOf(pc);
    for (std::size_t i = 0; i < kProbeLength; ++i) {
        Slot& s = g_slots[(first + i) & (kSlots - 1)];
        const std::uint64_t key = s.key.load(std::memory_order_acquire);
        if (key == 0) return false;
        if (key != pc) continue;
        const std::uint64_t word = s.rule.load(std::memory_order_acquire);
        if (s.key.load(std::memory_order_relaxed) != pc || ((word >> 4) & 0xfff) != tagOf(pc)) return false;
        *out = unpack(word);
        return out->kind != StepRule::Kind::Unknown;
    }
    return false;
}

void insert(std::uint64_t pc, const StepRule& rule) {
    if (g_writing.test_and_set(std::memory_order_acquire)) return; // busy: just not cached this time
    const std::size_t first = slotOf(pc);
    Slot* target = &g_slots[first];
    for (std::size_t i = 0; i < kProbeLength; ++i) {
        Slot& s = g_slots[(first + i) & (kSlots - 1)];
        const std::uint64_t key = s.key.load(std::memory_order_relaxed);
        if (key == 0 || key == pc) {
            target = &s;
            break;
        }
    }
    target->key.store(0, std::memory_order_relaxed);
    target->rule.store(pack(rule, pc), std::memory_order_release);
    target->key.store(pc, std::memory_order_release);
    g_writing.clear(std::memory_order_release);
}

StepRule ruleFor(std::uint64_t pc) {
    StepRule rule;
    if (lookup(pc, &rule)) return rule;
    rule = findStepRule(pc);
    g_rulesParsed.fetch_add(1, std::memory_order_relaxed);
    insert(pc, rule);
    return rule;
}

int readSubs(dl_phdr_info* info, std::size_t, void* out) {
    *static_cast<unsigned long long*>(out) = info->dlpi_subs;
    return 1;
}

// Empties the table when an object was unloaded since the last walk. False when another thread
// is writing the table right now (the caller then walks with libunwind).
bool cacheIsCurrent() {
    unsigned long long subs = 0;
    dl_iterate_phdr(readSubs, &subs);
    if (g_seenSubsValid.load(std::memory_order_acquire) && g_seenSubs.load(std::memory_order_acquire) == subs) return true;
    if (g_writing.test_and_set(std::memory_order_acquire)) return false;
    for (Slot& s : g_slots) s.key.store(0, std::memory_order_relaxed);
    g_seenSubs.store(subs, std::memory_order_release);
    g_seenSubsValid.store(true, std::memory_order_release);
    g_invalidations.fetch_add(1, std::memory_order_relaxed);
    g_writing.clear(std::memory_order_release);
    return true;
}

// Adds one frame to the result, skipping the leading frames inside `skip`.
struct Collector {
    std::uint64_t* ips;
    std::size_t max;
    SkipRange skip;
    std::size_t n = 0;
    bool inSkipped = true;
    bool add(std::uint64_t ip) {
        if (inSkipped && !(ip >= skip.lo && ip < skip.hi)) inSkipped = false;
        if (!inSkipped) ips[n++] = ip;
        return n < max;
    }
};

// The cached walk from (ip, sp, rbp) of the frame that called it. False when a frame needs
// libunwind (the result is then incomplete and must be discarded).
bool cachedWalk(std::uint64_t ip, std::uint64_t sp, std::uint64_t rbp, Collector& out) {
    const std::uintptr_t top = t_stackTop;
    if (top == 0) return false; // this thread's first walk: libunwind's
    for (int guard = 0; guard < 1024; ++guard) {
        if (!out.add(ip)) return true;
        // ip is a return address (the first one included: it is where captureNative's call of
        // the register snapshot returns), so the call instruction at ip - 1 names the frame.
        const StepRule rule = ruleFor(ip - 1);
        if (rule.kind == StepRule::Kind::Outermost) return true;
        if (rule.kind != StepRule::Kind::Simple) return false;
        const std::uint64_t cfa = (rule.cfaFromRbp ? rbp : sp) + static_cast<std::int64_t>(rule.cfaOffset);
        if (cfa <= sp || cfa > top || (cfa & 7) != 0) return false;
        const std::uint64_t rbpSlot = cfa + static_cast<std::int64_t>(rule.rbpOffset);
        if (rule.rbpSaved && (rbpSlot < sp || rbpSlot + 8 > cfa)) return false;
        const std::uint64_t callerRbp = rule.rbpSaved ? *reinterpret_cast<const std::uint64_t*>(rbpSlot) : rbp;
        std::uint64_t returnAddress = *reinterpret_cast<const std::uint64_t*>(cfa - 8);
        returnAddress = hook::realReturnAddress(returnAddress, cfa);
        if (returnAddress == 0) return true; // the end of the chain (e.g. a thread's start routine)
        ip = returnAddress;
        sp = cfa;
        rbp = callerRbp;
    }
    return true;
}

// The registers of this function's caller right after the call returns: rip = the return
// address, rsp = the caller's sp, rbp unchanged (callee-saved, untouched here).
struct CallerRegs {
    std::uint64_t ip, sp, rbp;
};
extern "C" void lt_capture_caller_regs(CallerRegs* out);
__asm__(".text\n"
        ".p2align 4\n"
        ".type lt_capture_caller_regs, @function\n"
        "lt_capture_caller_regs:\n"
        "    .cfi_startproc\n"
        "    movq (%rsp), %rax\n"
        "    movq %rax, 0(%rdi)\n"
        "    leaq 8(%rsp), %rax\n"
        "    movq %rax, 8(%rdi)\n"
        "    movq %rbp, 16(%rdi)\n"
        "    ret\n"
        "    .cfi_endproc\n"
        ".size lt_capture_caller_regs, .-lt_capture_caller_regs\n");

} // namespace

std::size_t captureNativeWithLibunwind(std::uint64_t* ips, std::size_t max, SkipRange skip) noexcept {
    if (max == 0) return 0;
    unw_context_t context;
    unw_cursor_t cursor;
    if (unw_getcontext(&context) != 0 || unw_init_local(&cursor, &context) != 0) return 0;
    Collector out{ips, max, skip};
    std::uintptr_t highest = 0;
    for (int guard = 0; guard < 1024; ++guard) {
        unw_word_t ip = 0, sp = 0;
        if (unw_get_reg(&cursor, UNW_REG_IP, &ip) != 0 || ip == 0) break;
        unw_get_reg(&cursor, UNW_REG_SP, &sp);
        if (sp > highest) highest = sp;
        // A return address replaced by the hook engine's exit stub: report, and keep
        // unwinding from, the real one.
        const std::uint64_t real = hook::realReturnAddress(ip, sp);
        if (real != ip) {
            ip = real;
            unw_set_reg(&cursor, UNW_REG_IP, ip);
        }
        if (!out.add(ip) || unw_step(&cursor) <= 0) break;
    }
    // The walk's outermost sp bounds what the cached walk of this thread may read.
    if (highest > t_stackTop) t_stackTop = highest;
    return out.n;
}

__attribute__((noinline)) std::size_t captureNative(std::uint64_t* ips, std::size_t max, SkipRange skip) noexcept {
    if (max == 0) return 0;
    CallerRegs regs;
    lt_capture_caller_regs(&regs);
    if (cacheIsCurrent()) {
        Collector out{ips, max, skip};
        if (cachedWalk(regs.ip, regs.sp, regs.rbp, out)) {
            g_cachedWalks.fetch_add(1, std::memory_order_relaxed);
            return out.n;
        }
    }
    g_libunwindWalks.fetch_add(1, std::memory_order_relaxed);
    return captureNativeWithLibunwind(ips, max, skip);
}

UnwindCacheStats unwindCacheStats() noexcept {
    return {g_cachedWalks.load(std::memory_order_relaxed), g_libunwindWalks.load(std::memory_order_relaxed),
            g_rulesParsed.load(std::memory_order_relaxed), g_invalidations.load(std::memory_order_relaxed)};
}

} // namespace layertrace::probe::stack
