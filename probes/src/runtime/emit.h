// What instrumentation code calls to put events on the wire. Implemented by the probe runtime
// (per-thread lock-free buffers drained by the sender thread); called by native hooks
// (probes/src/native) and the Python hooks. Every emit* is hot-path safe: no lock, no allocation,
// no system call; when the thread's buffer is full the event is dropped and counted (or, with
// --lossless, the caller waits). When stacks are enabled, the runtime itself captures and appends
// the native + Python stack after NativeEnter, FfiCall, ClosureEnter, InitEnter and CCall events.
#pragma once

#include <layertrace/wire/records.h>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace layertrace::probe {

namespace native {
struct FfiCifMirror; // libffi's ffi_cif (native/ffi_hooks.h)
} // namespace native

struct ProbeOptions {
    wire::TraceMode mode = wire::TraceMode::Anchored;
    bool stacks = true;
    bool lossless = false;
    bool allCCalls = false;              // --c-calls all: every builtin's call too (3.11: profile function)
    std::vector<std::string> probeSpecs; // "LIB:GLOB" from --probe
};

// Options agreed in the handshake; valid once tracing has started.
const ProbeOptions& options();

// False until the handshake completed, and after a detach or a fatal transport error.
bool tracingEnabled();

void emitNativeEnter(std::uint32_t hookId, std::uint64_t function, std::uint64_t caller);
void emitNativeExit(std::uint32_t hookId, std::uint64_t function, std::uint64_t returnValue, bool unwound);
// Writes `count` decoded argument values of `cif` (values at `avalue`) to `out`: FfiCall's
// arguments are decoded straight into the record, in place in the thread's buffer.
using FfiArgumentDecoder = void (*)(const native::FfiCifMirror* cif, void** avalue, wire::FfiValue* out,
                                    std::size_t count);
void emitFfiCall(std::uint32_t entryHookId, std::uint64_t target, std::uint64_t caller, std::uint16_t abi,
                 const native::FfiCifMirror* cif, void** avalue, std::size_t argCount, FfiArgumentDecoder decode);
// The returned value's FfiValue fields, in registers.
void emitFfiReturn(std::uint64_t target, wire::FfiType type, std::uint32_t size, std::uint64_t bits);
void emitClosureEnter(std::uint64_t closure, std::uint64_t userFunc, std::uint64_t caller);
void emitClosureExit(std::uint64_t closure);
void emitInitEnter(std::uint64_t function, std::string_view moduleName, std::string_view path);
// `result`: what PyInit_* returned (a module, a PyModuleDef, or 0).
void emitInitExit(std::uint64_t function, bool raised, std::uint64_t result);

// Metadata; not on the hot path (may allocate, may take a lock).
std::uint32_t registerHook(wire::HookKind kind, std::uint64_t address, std::string_view symbol,
                           std::string_view definingObjectPath); // sends HookInfo, returns its id
void noteModuleLoaded(std::string_view path, std::uint64_t base);
void noteModuleUnloaded(std::uint64_t base);
// Sends a Report once per `key` for the life of the process (e.g. "inline-hook:libfoo.so:bar").
void reportOnce(wire::ReportLevel level, std::string_view key, std::string_view message);

} // namespace layertrace::probe
