// C function calls of extension modules without a profile function (Python 3.11): every
// PyMethodDef whose ml_meth lives in an extension module gets its ml_meth swapped for a small
// per-def stub that reports CCall / CReturn / CRaise around the original (cfunction_thunk.S).
// A profile function would put 3.11 into its unspecialised tracing dispatch for every
// instruction; the stubs cost only the calls they report. Builtins (the interpreter's own
// functions, e.g. str.upper) are not reported this way: `--c-calls all` keeps the profile
// function for them. See docs/probe.md, "C function calls on 3.11".
#pragma once

#include <layertrace/wire/records.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace layertrace::probe::runtime {

// Emits one CCall/CReturn/CRaise for the C function `mlMeth` named `name` of `owner` (ids of
// interned strings), with a stack after a CCall when stacks are on. GIL held.
void emitCFunctionEvent(wire::RecordType type, std::uint64_t mlMeth, std::uint32_t nameId, std::uint32_t ownerId) noexcept;

namespace cthunks {

// Patches the extension defs reachable from sys.modules now and those of modules initialised
// later (noteModuleInitialized), and starts reporting. Main interpreter, GIL held. Returns how
// many defs are patched in all (0 when none could be: no executable memory).
std::size_t install() noexcept;

// A PyInit_* function returned `result` (a module, a PyModuleDef for multi-phase init, or
// NULL). Patches what it defines while the thunks are installed. GIL held (PyInit runs with it).
void noteModuleInitialized(std::uint64_t result) noexcept;

// Detach or the session's end: the stubs stop reporting at once (they stay mapped: a thread may
// be inside one, and a caller may have kept an ml_meth read earlier). When `restoreOriginals`
// (a detach: the program goes on) the original ml_meth values are written back, GIL held, by the
// next call through any stub or the interpreter's next pending-call point, whichever is first.
// Any thread, without the GIL.
void uninstall(bool restoreOriginals) noexcept;

// True while stubs report C function calls (the profile function must then leave them alone).
bool reporting() noexcept;

} // namespace cthunks
} // namespace layertrace::probe::runtime
