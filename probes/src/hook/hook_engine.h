// The probe's hooking engine: GOT/PLT slot patching and Capstone-based inline hooks with
// enter/exit callbacks, safe to install and remove while other threads of the host run.
// Used by the probe runtime (probes/src/runtime); knows nothing of Python or of the wire.
// Design, live-patching protocol and failure modes: docs/hooking.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace layertrace::probe::hook {

// Argument registers at function entry (System V x86-64), as saved by the entry stub.
struct EntryRegs {
    std::uint64_t rdi, rsi, rdx, rcx, r8, r9;
    std::uint64_t rsp;          // stack pointer at entry (points at the return address)
    double xmm[8];              // low lanes of xmm0-7
};

struct ExitRegs {
    std::uint64_t rax, rdx;
    double xmm0, xmm1;
};

// Callbacks run on the calling thread, inside the hooked call; they must not allocate, lock or
// make system calls (the probe's hot path rules). `userData` is what was passed at install time.
// Functions the callbacks call are never traced (a thread-local re-entrancy guard).
using EnterCallback = void (*)(void* userData, const EntryRegs& regs, std::uint64_t returnAddress);
// `unwound` is true when the frame was left by a C++ exception or longjmp instead of a return
// (then `regs` holds no meaningful values).
using ExitCallback = void (*)(void* userData, const ExitRegs& regs, bool unwound);

using HookId = std::uint32_t;
inline constexpr HookId kInvalidHook = 0;

// Instruments the function at `function` (any signature) with enter/exit callbacks, by an inline
// patch of its first instructions. Returns kInvalidHook and sets *error when the prologue cannot
// be relocated safely (too short, branch target inside the patched range, ...). `functionSize`
// (0 = unknown) bounds the scan for jumps into the patched range. onExit may be nullptr: then
// the return address is left alone (no shadow-stack entry; the function sees its real caller).
// Flags: kAllowTrapHook lets a function too short for a jump (e.g. `lea eax,[rdi+rsi]; ret`) be
// hooked with a permanent int3 instead: every call then costs a SIGTRAP round trip (a few us).
inline constexpr unsigned kAllowTrapHook = 1u << 0;
// The start of *error when a function is too short for a jump and kAllowTrapHook was not given.
inline constexpr std::string_view kTooShortForJump = "too short for a jump";
HookId hookFunction(void* function, EnterCallback onEnter, ExitCallback onExit, void* userData,
                    std::string* error, std::size_t functionSize = 0, unsigned flags = 0);

// Redirects every call of `function` to `replacement` by an inline patch; returns a pointer
// that calls the original function (its relocated prologue), or nullptr with *error set.
// `publishOriginal`, if given, receives that pointer (atomically) BEFORE the patch goes live, so
// a replacement that reads it from there never sees it unset. unhook(redirectionId(function))
// or unhookAll() removes it.
void* redirectFunction(void* function, void* replacement, std::string* error, std::size_t functionSize = 0,
                       void** publishOriginal = nullptr);
HookId redirectionId(void* function);

// Rewrites, in every loaded object accepted by `objectFilter` (path; nullptr = all but the
// dynamic loader, the vdso and the probe itself, which are always skipped), the GOT slots
// (JMPREL and GLOB_DAT) that import `symbol`, to point at `replacement`. Returns the number of
// slots patched (-1 on error); *original receives the real target (resolved through the
// defining object's symbol table, not a PLT stub). Slots already patched are left alone, so
// calling it again after a dlopen patches only the new objects.
using ObjectFilter = bool (*)(std::string_view objectPath, void* userData);
int patchImports(std::string_view symbol, void* replacement, void** original, ObjectFilter objectFilter,
                 void* filterData, std::string* error);

// Generic enter/exit instrumentation of one object's imports of `symbol` through its GOT
// (the Layer 2 -> Layer 3 crossing of an extension module). Returns a hook id, or kInvalidHook.
HookId hookImport(std::string_view objectPath, std::string_view symbol, EnterCallback onEnter,
                  ExitCallback onExit, void* userData, std::string* error);

// Removes one hook / every hook and every GOT patch, restoring the original bytes and slots.
// Trampolines stay mapped (a thread may still be running in one), they are small.
bool unhook(HookId id, std::string* error);
void unhookAll();

// The object [lo, hi) was unmapped (dlclose): forget its hooks and GOT patches without touching
// its memory, so that unhookAll() never writes into whatever is mapped there next.
void forgetRange(std::uintptr_t lo, std::uintptr_t hi);

// Installs the C++-exception wrappers (libgcc_s' _Unwind_RaiseException & co, libstdc++'s
// __cxa_begin_catch) in objects that are loaded now; call again after a dlopen. Done
// automatically by the first hook with an exit callback. Returns false with *error if the
// unwinder could not be covered (exits then still work, but an exception through a hooked frame
// would terminate the program: the caller should not install exit hooks).
bool installUnwindSupport(std::string* error);

// For unwinders (the runtime's stack capture): when a frame's return address is the exit stub,
// the real one is on this thread's shadow stack. `ip` is the return address read from the
// frame, `cfa` the caller-side stack pointer (the frame's CFA: the return address slot + 8).
// Returns `ip` unchanged when it is not the exit stub. Signal-safe; no lock, no allocation.
std::uint64_t realReturnAddress(std::uint64_t ip, std::uint64_t cfa);

// Counters for reports and tests.
struct EngineStats {
    std::uint64_t shadowOverflows; // calls not instrumented because the shadow stack was full
    std::uint64_t unwoundFrames;   // frames left by exception or longjmp
    std::uint32_t activeHooks;
    std::uint32_t gotSlots;        // GOT slots currently patched
    std::uint32_t trapHooks;       // active hooks that use an int3 (kAllowTrapHook)
};
EngineStats stats();
inline constexpr std::size_t kShadowStackDepth = 16384;

} // namespace layertrace::probe::hook
