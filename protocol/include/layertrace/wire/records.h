// The layertrace wire protocol, version 2: every record the probe and the tracer exchange.
// This header is the single source of truth; docs/wire-format.md explains it in prose.
//
// Stream layout (probe -> tracer, over a Unix stream socket):
//   Hello, then any number of Batches. A Batch is a BatchHeader followed by `bytes` of records,
//   all from one thread (so records need not repeat the tid). Every record starts with a
//   RecordHeader whose `size` covers the header and is a multiple of 8; unknown types are
//   skipped by size. Variable-length tails (strings, stack frames, FFI values) follow the fixed
//   part inside the same record.
// Tracer -> probe: Welcome (accept, with options), then control records (Detach).
// Both sides check the handshake: magic and version must match exactly for a live session.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace layertrace::wire {

inline constexpr std::uint32_t kMagic = 0x5752544cu; // "LTRW" little-endian
inline constexpr std::uint16_t kVersion = 3; // 2: Exec; 3: kWelcomeAllCCalls (3.11 reports extensions' C calls only without it)
inline constexpr std::size_t kRecordAlign = 8;
inline constexpr std::size_t kMaxRecordSize = 65528; // fits RecordHeader::size, 8-aligned
inline constexpr std::size_t kMaxStackFrames = 128;
inline constexpr std::size_t kMaxFfiArgs = 32;
inline constexpr std::size_t kMaxBatchBytes = 16u << 20;   // one batch never exceeds 16 MiB
inline constexpr std::size_t kMaxProbeSpecs = 256;         // --probe specs carried by Welcome
inline constexpr std::uint32_t kProcessTid = 0;            // batch tid of process-level metadata
// Each traced thread's ring in the probe (LAYERTRACE_BUFFER_SIZE overrides it); the tracer bounds
// what an unannounced end may have lost with it. 4 MiB, not 1: a ring bigger than a core's L2
// means the producer writes lines the sender's core no longer holds, and on the ctypes loop that
// halved the program's cost per call and its drops (docs/performance.md, "The ring's size").
inline constexpr std::size_t kDefaultRingBytes = std::size_t{4} << 20;

enum class RecordType : std::uint16_t {
    // handshake and control
    Hello = 1,    // probe -> tracer, first bytes on the socket
    Welcome = 2,  // tracer -> probe, accepts the session and sets options
    Detach = 3,   // tracer -> probe: restore everything, stop sending, close
    Goodbye = 4,  // probe -> tracer: last record (process exiting or detached)
    Exec = 5,     // probe -> tracer: this image is about to exec (same PID); the new one connects again
    // metadata (in-band, sent before the first event that refers to them)
    ModuleMap = 10,   // an object is mapped: id, base, path
    ModuleUnmap = 11, // ...and unmapped
    ThreadInfo = 12,  // a thread's name
    String = 13,      // interned string: id -> bytes
    PyCode = 14,      // interned Python code object: id -> name, qualname, file, first line
    HookInfo = 15,    // a native hook was installed: id, address, symbol, module
    Report = 16,      // one-time report from the probe (a feature turned off, and why)
    Dropped = 17,     // events dropped on this thread since the last Dropped record
    // events
    PyCall = 30,
    PyReturn = 31,
    CCall = 32,
    CReturn = 33,
    CRaise = 34,
    InitEnter = 35,
    InitExit = 36,
    FfiCall = 37,
    FfiReturn = 38,
    ClosureEnter = 39,
    ClosureExit = 40,
    NativeEnter = 41,
    NativeExit = 42,
    Stack = 43, // the stack of the event record just before it on the same thread
};

struct RecordHeader {
    RecordType type;
    std::uint16_t size; // whole record including this header; multiple of kRecordAlign
    std::uint32_t reserved;
};

struct BatchHeader {
    std::uint32_t magic;
    std::uint32_t tid;
    std::uint32_t bytes; // records that follow
    std::uint32_t count; // number of records that follow
};

// ---- handshake -----------------------------------------------------------------------------

enum HelloFlags : std::uint32_t {
    kHelloAttached = 1u << 0, // injected into a running process (attach), not preloaded
};

struct Hello {
    RecordHeader header;
    std::uint32_t magic;
    std::uint16_t version;
    std::uint16_t pointerSize;
    std::uint32_t pid;
    std::uint32_t pythonVersionHex; // PY_VERSION_HEX of the running interpreter, 0 if not yet known
    std::uint32_t flags;            // HelloFlags
    std::uint32_t reserved;
    std::uint64_t monotonicNs; // CLOCK_MONOTONIC at connect, to relate timestamps
};

enum class TraceMode : std::uint8_t { Anchored = 0, Full = 1 };

enum WelcomeFlags : std::uint32_t {
    kWelcomeStacks = 1u << 0,   // capture native + Python stacks for native events
    kWelcomeLossless = 1u << 1, // block producers instead of dropping when buffers are full
    kWelcomeAllCCalls = 1u << 2, // CCall for every C function (builtins too), not extensions' only (v2)
};

// Followed by `probeSpecCount` NUL-terminated "LIB:GLOB" strings, padded to kRecordAlign.
struct Welcome {
    RecordHeader header;
    std::uint32_t magic;
    std::uint16_t version;
    TraceMode mode;
    std::uint8_t reserved0;
    std::uint32_t flags; // WelcomeFlags
    std::uint32_t probeSpecCount;
};

struct Detach {
    RecordHeader header;
};

enum GoodbyeFlags : std::uint32_t {
    kGoodbyeExitStatusKnown = 1u << 0, // exitStatus is main()'s return value or exit()'s argument
    kGoodbyeDetached = 1u << 1,        // the tracer asked to detach; the process goes on
    kGoodbyeTransportLost = 1u << 2,   // reserved for recordings: the probe could not finish
    kGoodbyeFatalSignal = 1u << 3,     // the process is dying of signal `exitStatus` (fatal-signal flush)
};

struct Goodbye {
    RecordHeader header;
    std::uint64_t totalDropped; // events dropped on all threads over the whole session
    std::int32_t exitStatus;    // valid with kGoodbyeExitStatusKnown (the signal with kGoodbyeFatalSignal); else -1
    std::uint32_t flags;        // GoodbyeFlags
};

// Followed by the path given to exec, NUL-terminated, padded. The last record of an image that
// calls exec (every event before it was sent); records after it mean the exec failed.
struct Exec {
    RecordHeader header;
    std::uint64_t tsNs;
    std::uint64_t reserved;
};

// ---- metadata ------------------------------------------------------------------------------

// Followed by the path, NUL-terminated, padded.
struct ModuleMap {
    RecordHeader header;
    std::uint32_t moduleId;
    std::uint32_t reserved;
    std::uint64_t base; // load bias (dlpi_addr)
    std::uint64_t tsNs;
};

struct ModuleUnmap {
    RecordHeader header;
    std::uint32_t moduleId;
    std::uint32_t reserved;
    std::uint64_t tsNs;
};

// Followed by the name, NUL-terminated, padded.
struct ThreadInfo {
    RecordHeader header;
    std::uint32_t tid;
    std::uint32_t reserved;
};

// Followed by `length` bytes (no NUL required), padded.
struct String {
    RecordHeader header;
    std::uint32_t stringId;
    std::uint32_t length;
};

struct PyCode {
    RecordHeader header;
    std::uint32_t codeId;
    std::uint32_t nameId;     // String ids
    std::uint32_t qualnameId;
    std::uint32_t fileId;
    std::uint32_t firstLine;
    std::uint32_t reserved;
};

enum class HookKind : std::uint8_t {
    TargetSymbol = 0, // exported function of a library loaded via ctypes/cffi, or --probe
    Import = 1,       // GOT slot of an extension module's import from a native library
    Ffi = 2,          // ffi_call and its aliases
    Init = 3,         // PyInit_*
};

struct HookInfo {
    RecordHeader header;
    std::uint32_t hookId;
    std::uint32_t symbolId; // String id
    std::uint32_t moduleId; // module that defines the function
    HookKind kind;
    std::uint8_t reserved[3];
    std::uint64_t address;
};

enum class ReportLevel : std::uint8_t { Info = 0, Warning = 1, Error = 2 };

// Followed by the message, NUL-terminated, padded.
struct Report {
    RecordHeader header;
    ReportLevel level;
    std::uint8_t reserved[7];
};

struct Dropped {
    RecordHeader header;
    std::uint64_t count;
};

// ---- events ---------------------------------------------------------------------------------

struct PyCall {
    RecordHeader header;
    std::uint64_t tsNs;
    std::uint32_t codeId;
    std::uint32_t line; // line of the call site in the caller (full mode: first line of callee)
};

struct PyReturn {
    RecordHeader header;
    std::uint64_t tsNs;
    std::uint32_t codeId;
    std::uint32_t raised; // 1 when the frame was left by an exception
};

// PyCFunction dispatch (CCall, CReturn, CRaise share this layout).
struct CCall {
    RecordHeader header;
    std::uint64_t tsNs;
    std::uint64_t mlMeth;   // C function Python called: resolved by the tracer to .so + symbol
    std::uint32_t nameId;   // String id: the Python-visible name ("process")
    std::uint32_t ownerId;  // String id: module or type that owns it ("mymodule.Config")
};
using CReturn = CCall;
using CRaise = CCall;

struct InitEnter {
    RecordHeader header;
    std::uint64_t tsNs;
    std::uint64_t function; // PyInit_* address
    std::uint32_t nameId;   // module name
    std::uint32_t pathId;   // .so path
};

struct InitExit {
    RecordHeader header;
    std::uint64_t tsNs;
    std::uint64_t function;
    std::uint32_t raised; // 1 when it returned NULL with an exception set
    std::uint32_t reserved;
};

// libffi type codes (FFI_TYPE_*), copied so the tracer needs no libffi header.
enum class FfiType : std::uint8_t {
    Void = 0, Int = 1, Float = 2, Double = 3, LongDouble = 4, UInt8 = 5, SInt8 = 6, UInt16 = 7,
    SInt16 = 8, UInt32 = 9, SInt32 = 10, UInt64 = 11, SInt64 = 12, Struct = 13, Pointer = 14,
    Complex = 15,
};

// One decoded value: scalars and pointers carry their bits; structs their size.
struct FfiValue {
    FfiType type;
    std::uint8_t reserved[3];
    std::uint32_t size; // bytes of the value (struct size for Struct)
    std::uint64_t bits; // integer/pointer bits, or the IEEE bits of float/double
};

// Followed by `argCount` FfiValue.
struct FfiCall {
    RecordHeader header;
    std::uint64_t tsNs;
    std::uint64_t target; // the foreign function being called
    std::uint64_t caller; // return address into the caller (_ctypes, _cffi_backend, ...)
    std::uint32_t entry;  // HookInfo id of the ffi_call alias that was called
    std::uint16_t argCount;
    std::uint16_t abi;
};

struct FfiReturn {
    RecordHeader header;
    std::uint64_t tsNs;
    std::uint64_t target;
    FfiValue value;
};

struct ClosureEnter {
    RecordHeader header;
    std::uint64_t tsNs;
    std::uint64_t closure;  // the closure's code address native code called
    std::uint64_t userFunc; // fun passed to ffi_prep_closure_loc (_ctypes' or cffi's dispatcher)
    std::uint64_t caller;   // return address into the native caller
};

struct ClosureExit {
    RecordHeader header;
    std::uint64_t tsNs;
    std::uint64_t closure;
};

struct NativeEnter {
    RecordHeader header;
    std::uint64_t tsNs;
    std::uint64_t function; // hooked function address
    std::uint64_t caller;   // return address into the caller
    std::uint32_t hookId;
    std::uint32_t reserved;
};

struct NativeExit {
    RecordHeader header;
    std::uint64_t tsNs;
    std::uint64_t function;
    std::uint64_t returnValue; // rax
    std::uint32_t hookId;
    std::uint32_t unwound; // 1 when left by a C++ exception or longjmp, not a return
};

struct PyFrameRef {
    std::uint32_t codeId;
    std::uint32_t line;
};

// Followed by `nativeCount` uint64 IPs (innermost first), then `pythonCount` PyFrameRef
// (innermost first).
struct Stack {
    RecordHeader header;
    std::uint16_t nativeCount;
    std::uint16_t pythonCount;
    std::uint32_t reserved;
};

// ---- compile-time layout checks ------------------------------------------------------------

#define LAYERTRACE_WIRE_CHECK(T, bytes)                                                              \
    static_assert(sizeof(T) == (bytes), #T " changed size: bump kVersion and update the spec");      \
    static_assert(sizeof(T) % kRecordAlign == 0, #T " must stay 8-aligned");                       \
    static_assert(std::is_trivially_copyable_v<T> && std::is_standard_layout_v<T>, #T " must be POD")

LAYERTRACE_WIRE_CHECK(RecordHeader, 8);
LAYERTRACE_WIRE_CHECK(BatchHeader, 16);
LAYERTRACE_WIRE_CHECK(Hello, 40);
LAYERTRACE_WIRE_CHECK(Welcome, 24);
LAYERTRACE_WIRE_CHECK(Detach, 8);
LAYERTRACE_WIRE_CHECK(Goodbye, 24);
LAYERTRACE_WIRE_CHECK(Exec, 24);
LAYERTRACE_WIRE_CHECK(ModuleMap, 32);
LAYERTRACE_WIRE_CHECK(ModuleUnmap, 24);
LAYERTRACE_WIRE_CHECK(ThreadInfo, 16);
LAYERTRACE_WIRE_CHECK(String, 16);
LAYERTRACE_WIRE_CHECK(PyCode, 32);
LAYERTRACE_WIRE_CHECK(HookInfo, 32);
LAYERTRACE_WIRE_CHECK(Report, 16);
LAYERTRACE_WIRE_CHECK(Dropped, 16);
LAYERTRACE_WIRE_CHECK(PyCall, 24);
LAYERTRACE_WIRE_CHECK(PyReturn, 24);
LAYERTRACE_WIRE_CHECK(CCall, 32);
LAYERTRACE_WIRE_CHECK(InitEnter, 32);
LAYERTRACE_WIRE_CHECK(InitExit, 32);
LAYERTRACE_WIRE_CHECK(FfiValue, 16);
LAYERTRACE_WIRE_CHECK(FfiCall, 40);
LAYERTRACE_WIRE_CHECK(FfiReturn, 40);
LAYERTRACE_WIRE_CHECK(ClosureEnter, 40);
LAYERTRACE_WIRE_CHECK(ClosureExit, 24);
LAYERTRACE_WIRE_CHECK(NativeEnter, 40);
LAYERTRACE_WIRE_CHECK(NativeExit, 40);
LAYERTRACE_WIRE_CHECK(PyFrameRef, 8);
LAYERTRACE_WIRE_CHECK(Stack, 16);

#undef LAYERTRACE_WIRE_CHECK

// Fixed size of each record type, for the decoder's bounds checks (0 = unknown type).
constexpr std::size_t fixedSize(RecordType type) {
    switch (type) {
    case RecordType::Hello: return sizeof(Hello);
    case RecordType::Welcome: return sizeof(Welcome);
    case RecordType::Detach: return sizeof(Detach);
    case RecordType::Goodbye: return sizeof(Goodbye);
    case RecordType::Exec: return sizeof(Exec);
    case RecordType::ModuleMap: return sizeof(ModuleMap);
    case RecordType::ModuleUnmap: return sizeof(ModuleUnmap);
    case RecordType::ThreadInfo: return sizeof(ThreadInfo);
    case RecordType::String: return sizeof(String);
    case RecordType::PyCode: return sizeof(PyCode);
    case RecordType::HookInfo: return sizeof(HookInfo);
    case RecordType::Report: return sizeof(Report);
    case RecordType::Dropped: return sizeof(Dropped);
    case RecordType::PyCall: return sizeof(PyCall);
    case RecordType::PyReturn: return sizeof(PyReturn);
    case RecordType::CCall:
    case RecordType::CReturn:
    case RecordType::CRaise: return sizeof(CCall);
    case RecordType::InitEnter: return sizeof(InitEnter);
    case RecordType::InitExit: return sizeof(InitExit);
    case RecordType::FfiCall: return sizeof(FfiCall);
    case RecordType::FfiReturn: return sizeof(FfiReturn);
    case RecordType::ClosureEnter: return sizeof(ClosureEnter);
    case RecordType::ClosureExit: return sizeof(ClosureExit);
    case RecordType::NativeEnter: return sizeof(NativeEnter);
    case RecordType::NativeExit: return sizeof(NativeExit);
    case RecordType::Stack: return sizeof(Stack);
    }
    return 0;
}

constexpr std::size_t paddedSize(std::size_t bytes) {
    return (bytes + kRecordAlign - 1) & ~(kRecordAlign - 1);
}

} // namespace layertrace::wire
