// The probe's hooking engine: GOT/PLT slot patching and Capstone-based inline hooks with
// enter/exit callbacks, safe to install and remove while other threads of the host run.
// Used by the probe runtime (probes/src/runtime); knows nothing of Python or of the wire.
#pragma once

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
using EnterCallback = void (*)(void* userData, const EntryRegs& regs, std::uint64_t returnAddress);
// `unwound` is true when the frame was left by a C++ exception or longjmp instead of a return.
using ExitCallback = void (*)(void* userData, const ExitRegs& regs, bool unwound);

using HookId = std::uint32_t;
inline constexpr HookId kInvalidHook = 0;

// Instruments the function at `function` (any signature) with enter/exit callbacks, by an inline
// patch of its first instructions. Returns kInvalidHook and sets *error when the prologue cannot
// be relocated safely (too short, branch target inside the patched range, ...).
HookId hookFunction(void* function, EnterCallback onEnter, ExitCallback onExit, void* userData,
                    std::string* error);

// Redirects every call of `function` to `replacement` by an inline patch; returns a pointer
// that calls the original function (its relocated prologue), or nullptr with *error set.
void* redirectFunction(void* function, void* replacement, std::string* error);

// Rewrites, in every loaded object accepted by `objectFilter` (path; nullptr = all but the
// dynamic loader, the vdso and the probe itself), the GOT slots (JMPREL and GLOB_DAT) that
// import `symbol`, to point at `replacement`. Returns the number of slots patched; *original
// receives the real target (resolved through the defining object, not a PLT stub).
using ObjectFilter = bool (*)(std::string_view objectPath, void* userData);
int patchImports(std::string_view symbol, void* replacement, void** original, ObjectFilter objectFilter,
                 void* filterData, std::string* error);

// Generic enter/exit instrumentation of one object's imports of `symbol` through its GOT
// (the Layer 2 -> Layer 3 crossing of an extension module). Returns a hook id, or kInvalidHook.
HookId hookImport(std::string_view objectPath, std::string_view symbol, EnterCallback onEnter,
                  ExitCallback onExit, void* userData, std::string* error);

// Removes one hook / every hook and every GOT patch, restoring the original bytes and slots.
bool unhook(HookId id, std::string* error);
void unhookAll();

} // namespace layertrace::probe::hook
