// Scripted streams: events shaped like the tracer's output for the Part IV demo.
#include "core/scripted_trace.h"

#include <string>

namespace layertrace::gui {

namespace {

struct Builder {
    std::vector<TraceEvent> events;
    std::uint64_t ts = 1'000'000;
    std::uint32_t tid = 4242;
    std::vector<std::size_t> open;

    TraceEvent& add(EventKind kind, Role role, std::string module, std::string path, std::string symbol,
                    std::string reason) {
        TraceEvent ev;
        ev.seq = events.size();
        ev.tsNs = ts;
        ts += 3'000;
        ev.tid = tid;
        ev.kind = kind;
        ev.role = role;
        ev.module = std::move(module);
        ev.modulePath = std::move(path);
        ev.symbol = std::move(symbol);
        ev.reason = std::move(reason);
        ev.depth = std::uint32_t(open.size());
        events.push_back(std::move(ev));
        return events.back();
    }
    TraceEvent& enter(EventKind kind, Role role, std::string module, std::string path, std::string symbol,
                      std::string reason) {
        add(kind, role, std::move(module), std::move(path), std::move(symbol), std::move(reason));
        open.push_back(events.size() - 1);
        return events.back();
    }
    TraceEvent& leave(EventKind kind) {
        const TraceEvent enterEv = events[open.back()];
        open.pop_back();
        TraceEvent& ev = add(kind, enterEv.role, enterEv.module, enterEv.modulePath, enterEv.symbol, enterEv.reason);
        ev.depth = std::uint32_t(open.size());
        ev.durationNs = ev.tsNs - enterEv.tsNs;
        ev.pyFile = enterEv.pyFile;
        ev.pyLine = enterEv.pyLine;
        return ev;
    }
};

const char* const kUserReason = "the script the traced program ran (argv[1])";
const char* const kWrapperReason = "Python file of an application package that imports ctypes and loads a native library";
const char* const kCtypesReason = "exports PyInit__ctypes: a C extension module (ready-made, ships with CPython)";
const char* const kFfiReason = "SONAME libffi.so.8: the FFI engine _ctypes and _cffi_backend call through";
const char* const kNativeReason = "loaded through ctypes.CDLL; no Python.h symbols: a plain native library";

StackFrame frame(bool python, std::string function, std::string module, std::string file, int line, Role role) {
    StackFrame f;
    f.python = python;
    f.function = std::move(function);
    f.module = std::move(module);
    f.file = std::move(file);
    f.line = line;
    f.role = role;
    return f;
}

} // namespace

std::vector<TraceEvent> scriptedPartFourTrace() {
    Builder b;
    const std::string ctypesPath = "/usr/lib/python3.11/lib-dynload/_ctypes.cpython-311-x86_64-linux-gnu.so";
    b.add(EventKind::ModuleLoad, Role::Ext, "_ctypes.cpython-311-x86_64-linux-gnu.so", ctypesPath, "_ctypes", kCtypesReason);
    b.add(EventKind::ModuleLoad, Role::Native, "libstruct_demo.so", "demos/ctypes_complex_struct/libstruct_demo.so",
          "libstruct_demo.so", kNativeReason);

    auto& mainEv = b.enter(EventKind::PyCall, Role::App, "user.py", "demos/ctypes_complex_struct/user.py", "main", kUserReason);
    mainEv.pyFile = "user.py";
    mainEv.pyLine = 6;
    auto& ctor = b.enter(EventKind::PyCall, Role::Wrapper, "mypkg/bindings.py", "demos/ctypes_complex_struct/mypkg/bindings.py",
                         "InputRecordPy.__init__", kWrapperReason);
    ctor.pyFile = "mypkg/bindings.py";
    ctor.pyLine = 41;
    b.leave(EventKind::PyReturn);
    auto& tr = b.enter(EventKind::PyCall, Role::Wrapper, "mypkg/bindings.py", "demos/ctypes_complex_struct/mypkg/bindings.py",
                       "transform", kWrapperReason);
    tr.pyFile = "mypkg/bindings.py";
    tr.pyLine = 77;
    auto& toc = b.enter(EventKind::PyCall, Role::Wrapper, "mypkg/bindings.py", "demos/ctypes_complex_struct/mypkg/bindings.py",
                        "InputRecordPy.to_ctypes", kWrapperReason);
    toc.pyFile = "mypkg/bindings.py";
    toc.pyLine = 52;
    b.leave(EventKind::PyReturn);

    auto& ccall = b.enter(EventKind::CCall, Role::Ext, "_ctypes.cpython-311-x86_64-linux-gnu.so", ctypesPath,
                          "PyCFuncPtr_call", kCtypesReason);
    ccall.pyFile = "mypkg/bindings.py";
    ccall.pyLine = 80;
    auto& ffi = b.enter(EventKind::FfiCall, Role::Ffi, "libffi.so.8", "/usr/lib/x86_64-linux-gnu/libffi.so.8.1.2", "ffi_call", kFfiReason);
    ffi.args = {{"pointer", "0x55d0c0a1e2a0 (InputRecord*)"}, {"double", "1.5"}, {"sint32", "20"}, {"sint32", "2"}};
    auto& native = b.enter(EventKind::NativeEnter, Role::Native, "libstruct_demo.so",
                           "demos/ctypes_complex_struct/libstruct_demo.so", "transform_record", kNativeReason);
    native.stack = {
        frame(false, "transform_record", "libstruct_demo.so", "struct_demo.c", 88, Role::Native),
        frame(false, "ffi_call", "libffi.so.8", "", 0, Role::Ffi),
        frame(false, "PyCFuncPtr_call", "_ctypes.cpython-311-x86_64-linux-gnu.so", "", 0, Role::Ext),
        frame(true, "transform", "mypkg/bindings.py", "mypkg/bindings.py", 80, Role::Wrapper),
        frame(true, "main", "user.py", "user.py", 6, Role::App),
    };
    b.enter(EventKind::NativeEnter, Role::Native, "libstruct_demo.so", "demos/ctypes_complex_struct/libstruct_demo.so",
            "sd_filter_items", kNativeReason);
    b.leave(EventKind::NativeExit);
    b.leave(EventKind::NativeExit);
    auto& ffiRet = b.leave(EventKind::FfiReturn);
    ffiRet.ret = FfiValue{"struct", "size=48 (OutputRecord)"};
    b.leave(EventKind::CReturn);
    auto& from = b.enter(EventKind::PyCall, Role::Wrapper, "mypkg/bindings.py", "demos/ctypes_complex_struct/mypkg/bindings.py",
                         "OutputRecordPy.from_ctypes", kWrapperReason);
    from.pyFile = "mypkg/bindings.py";
    from.pyLine = 95;
    b.leave(EventKind::PyReturn);
    b.leave(EventKind::PyReturn); // transform
    b.leave(EventKind::PyReturn); // main
    return b.events;
}

std::vector<TraceEvent> syntheticLoad(std::size_t calls, std::uint32_t threads, std::uint64_t firstSeq) {
    static const struct {
        EventKind enter, exit;
        Role role;
        const char* module;
        const char* symbol;
    } kLevels[] = {
        {EventKind::PyCall, EventKind::PyReturn, Role::App, "bench.py", "work"},
        {EventKind::CCall, EventKind::CReturn, Role::Ext, "_ctypes.cpython-311-x86_64-linux-gnu.so", "PyCFuncPtr_call"},
        {EventKind::FfiCall, EventKind::FfiReturn, Role::Ffi, "libffi.so.8", "ffi_call"},
        {EventKind::NativeEnter, EventKind::NativeExit, Role::Native, "libbench.so", "compute"},
    };
    std::vector<TraceEvent> out;
    out.reserve(calls * 8);
    std::uint64_t seq = firstSeq;
    std::uint64_t ts = 1'000'000;
    threads = threads == 0 ? 1 : threads;
    for (std::size_t c = 0; c < calls; ++c) {
        const std::uint32_t tid = 1000 + std::uint32_t(c % threads);
        for (std::size_t d = 0; d < 4; ++d) {
            TraceEvent ev;
            ev.seq = seq++;
            ev.tsNs = ts += 50;
            ev.tid = tid;
            ev.kind = kLevels[d].enter;
            ev.role = kLevels[d].role;
            ev.module = kLevels[d].module;
            ev.symbol = kLevels[d].symbol;
            ev.depth = std::uint32_t(d);
            out.push_back(std::move(ev));
        }
        for (std::size_t d = 4; d-- > 0;) {
            TraceEvent ev;
            ev.seq = seq++;
            ev.tsNs = ts += 50;
            ev.tid = tid;
            ev.kind = kLevels[d].exit;
            ev.role = kLevels[d].role;
            ev.module = kLevels[d].module;
            ev.symbol = kLevels[d].symbol;
            ev.depth = std::uint32_t(d);
            ev.durationNs = 50 * (2 * (4 - d) - 1);
            out.push_back(std::move(ev));
        }
    }
    return out;
}

} // namespace layertrace::gui
