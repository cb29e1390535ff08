// The symbolized, classified event: what the tracer core hands to every front end (CLI formats,
// GUI models, recordings' replay). Wire records from the probe become these after decoding,
// symbolization and layer classification.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace layertrace {

// Who a piece of code is, in the series' stack. The layer follows from the role (layerOf).
enum class Role : std::uint8_t {
    App,     // the user's script and its own modules
    Wrapper, // Python mirror / user API between the app and native code (mypkg/bindings.py)
    Pylib,   // standard-library Python (ctypes/__init__.py)
    Ext,     // extension modules: _ctypes, _cffi_backend, mymodule.so
    Glue,    // entry points Python calls inside your own extension: ml_meth, slots, PyInit_*
    Capi,    // the interpreter and its C API
    Ffi,     // libffi
    Native,  // target libraries; plain C/C++ compiled inside your extension
    Unknown,
};

// The three layers of the series, plus libffi, which the summary view draws as its own band
// although it belongs to Layer 3.
enum class Layer : std::uint8_t { Python = 1, Extension = 2, Native = 3 };

Layer layerOf(Role role);
std::string_view roleName(Role role);   // "app", "wrapper", ...
std::optional<Role> roleFromName(std::string_view name);

enum class EventKind : std::uint8_t {
    PyCall,       // Python function entered (full mode)
    PyReturn,     // Python function returned or unwound
    CCall,        // PyCFunction dispatch: a C function or method called from Python
    CReturn,      // ...returned
    CRaise,       // ...raised
    InitEnter,    // PyInit_* entered
    InitExit,     // PyInit_* returned (raised = true when it returned NULL with an error set)
    FfiCall,      // ffi_call (any of its names) entered: target, decoded arguments
    FfiReturn,    // ffi_call returned: decoded return value
    ClosureEnter, // native code called back into Python through an FFI closure
    ClosureExit,
    NativeEnter,  // a hooked native symbol entered
    NativeExit,   // ...returned
    ModuleLoad,   // an object was mapped (dlopen) or a Python module imported
    ThreadStart,
    ThreadExit,
    Dropped,      // the probe dropped events: count in `dropped`
};

std::string_view kindName(EventKind kind); // "py_call", "ffi_call", ...
bool isEnter(EventKind kind);
bool isExit(EventKind kind);

// One decoded FFI value: a C type name and the value as text ("int", "2"; "struct", "size=48").
struct FfiValue {
    std::string type;
    std::string value;
};

// One frame of the mixed Python+native stack, innermost first.
struct StackFrame {
    bool python = false;
    std::string function;    // symbol (demangled) or Python qualified name
    std::string module;      // short module name: "libstruct_demo.so", "mypkg/bindings.py"
    std::string file;        // source file where known
    int line = 0;            // 0 when unknown
    std::uint64_t ip = 0;    // native frames only
    std::uint64_t offset = 0;// ip - module base, for objects without symbols
    Role role = Role::Unknown;
};

// A piece of code an event refers to besides its own function: the caller of an FfiCall (the
// extension that called libffi) or its target (the foreign function).
struct CodeRef {
    Role role = Role::Unknown;
    std::string module;     // short name; empty when the event has no such reference
    std::string modulePath;
    std::string symbol;     // demangled, or "module+0xoffset" without a symbol
    std::uint64_t address = 0;
    std::string reason;

    bool empty() const { return module.empty() && symbol.empty() && address == 0; }
    void clear(); // keeps the strings' storage
};

struct TraceEvent {
    std::uint64_t seq = 0;   // position in the whole trace, from 0
    std::uint64_t tsNs = 0;  // CLOCK_MONOTONIC of the traced process
    std::uint32_t tid = 0;
    EventKind kind = EventKind::NativeEnter;
    Role role = Role::Unknown;
    std::string module;      // short name of the object or Python file that owns the code
    std::string modulePath;  // full path where known
    std::string symbol;      // function, symbol, or Python qualified name
    std::string pyFile;      // Python caller (anchored) or the function itself (full mode)
    int pyLine = 0;
    std::vector<FfiValue> args;
    std::optional<FfiValue> ret;
    std::vector<StackFrame> stack; // empty with --no-stacks
    std::uint32_t depth = 0;       // nesting depth on its thread when entered
    std::uint64_t durationNs = 0;  // exits only
    bool raised = false;
    std::uint64_t dropped = 0;     // Dropped only
    std::string reason;            // why the classifier chose `role` (for hovers and `modules`)
    // Added after the first version; zero/empty unless the kind uses them.
    std::uint64_t address = 0;     // native function / ml_meth / PyInit_* address
    std::string pyName;            // CCall family: Python-visible "owner.name" ("mymodule.Config.process")
    CodeRef caller;                // FfiCall: the extension that called libffi; NativeEnter: call site
    CodeRef target;                // FfiCall/FfiReturn: the foreign function
    bool stackMerged = false;      // stack holds native frames with eval frames replaced by Python ones
    bool stackUnmerged = false;    // counts did not line up: native and Python frames kept side by side
    bool unwound = false;          // NativeExit left by a C++ exception or longjmp
    // An exit the probe never sent, made by the tracer so that every call is closed: the call's
    // own exit was dropped (an outer call's exit arrived first), skipped by a longjmp, or had not
    // happened when the trace ended. tsNs is when that became known.
    bool lost = false;
    std::string sourceFile;        // native kinds: source file of `address` from DWARF, if any
    int sourceLine = 0;

    Layer layer() const { return layerOf(role); }
    // Back to a default-constructed event, keeping the strings' and vectors' storage: the
    // assembler refills one event per thread instead of allocating a new one per record.
    void clear();
};

} // namespace layertrace
