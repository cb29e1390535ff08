// Test helper: a synthetic session touching every field a recording stores (modules with every ELF
// fact, events of every kind with args, return values, mixed stacks, caller/target references),
// and a sink that collects a replay so tests can compare field by field.
#pragma once

#include <layertrace/recording.h>

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace layertrace::tracer::test {

struct Sample {
    RecordingInfo info;
    std::uint32_t pid = 4242;
    std::vector<ModuleInfo> modules;
    std::vector<TraceEvent> events;
    std::vector<ProbeReport> reports;
    std::vector<std::pair<std::uint32_t, std::uint64_t>> dropped;
    SessionResult result;
};

inline Sample makeSample(int repeat = 3) {
    Sample s;
    s.info.argv = {"/usr/bin/python3", "user.py", "--repeat", "1", "ünïcode arg"};
    s.info.cwd = "/tmp/demo dir";
    s.info.pythonVersion = "3.11";
    s.info.interpreter = "/usr/bin/python3.11";
    s.info.startUnixNs = 1764000000123456789ull;
    s.info.layertraceVersion = "0.1.0";
    s.info.hostname = "builder";
    s.info.system = "Linux 6.1.0 x86_64";
    s.info.options = {{"mode", "full"}, {"stacks", "1"}, {"lossless", "0"}, {"probe", "libfoo.so:*"}, {"probe", "x:y"}};

    ModuleInfo lib;
    lib.id = 7;
    lib.base = 0x7f0000001000ull;
    lib.path = "/tmp/demo dir/libstruct_demo.so";
    lib.name = "libstruct_demo.so";
    lib.role = Role::Native;
    lib.reason = "a plain C library loaded through ctypes";
    lib.elf.readable = true;
    lib.elf.hasSymtab = true;
    lib.elf.hasDebugInfo = true;
    lib.elf.soname = "libstruct_demo.so";
    s.modules.push_back(lib);
    ModuleInfo ext;
    ext.id = 3;
    ext.base = 0x7f0000100000ull;
    ext.path = "/usr/lib/python3.11/lib-dynload/_ctypes.cpython-311-x86_64-linux-gnu.so";
    ext.name = "_ctypes.cpython-311-x86_64-linux-gnu.so";
    ext.role = Role::Ext;
    ext.reason = "exports PyInit__ctypes";
    ext.elf = ElfFacts{true, true, true, false, false, true, true, true, false, false, "", "PyInit__ctypes"};
    s.modules.push_back(ext);
    ModuleInfo interp;
    interp.id = 1;
    interp.base = 0x400000;
    interp.path = "/usr/bin/python3.11";
    interp.name = "python3.11";
    interp.role = Role::Capi;
    interp.reason = "defines Py_Initialize";
    interp.elf.readable = true;
    interp.elf.isInterpreter = true;
    s.modules.push_back(interp);
    ModuleInfo py;
    py.python = true;
    py.path = "/tmp/demo dir/user.py";
    py.name = "user.py";
    py.role = Role::App;
    py.reason = "the script";
    s.modules.push_back(py);

    std::uint64_t seq = 0;
    std::uint64_t ts = 1000000000ull;
    auto add = [&](TraceEvent e) {
        e.seq = seq++;
        e.tsNs = ts;
        ts += 1500 + (seq % 7) * 3;
        s.events.push_back(std::move(e));
    };
    TraceEvent start;
    start.kind = EventKind::ThreadStart;
    start.tid = 4243;
    start.symbol = "worker-1";
    add(start);
    for (int i = 0; i < repeat; ++i) {
        TraceEvent call;
        call.tid = 4242;
        call.kind = EventKind::PyCall;
        call.role = Role::App;
        call.module = "user.py";
        call.modulePath = py.path;
        call.symbol = "main";
        call.pyFile = py.path;
        call.pyLine = 12 + i;
        call.reason = "the script";
        add(call);
        TraceEvent ffi;
        ffi.tid = 4242;
        ffi.kind = EventKind::FfiCall;
        ffi.role = Role::Ffi;
        ffi.module = "libffi.so.8";
        ffi.modulePath = "/usr/lib/x86_64-linux-gnu/libffi.so.8";
        ffi.symbol = "ffi_call";
        ffi.depth = 1;
        ffi.address = 0x7f0000200010ull;
        ffi.args = {{"int", "2"}, {"int", std::to_string(i)}, {"struct", "size=48"}};
        ffi.caller = CodeRef{Role::Ext, ext.name, ext.path, "", 0x7f0000100abcull, "ffi_call's caller"};
        ffi.target = CodeRef{Role::Native, lib.name, lib.path, "transform_record", 0x7f0000001100ull, ""};
        ffi.stack = {StackFrame{false, "transform_record", lib.name, "/src/struct_demo.c", 41, 0x7f0000001100ull, 0x100,
                                Role::Native},
                     StackFrame{false, "ffi_call", "libffi.so.8", "", 0, 0x7f0000200010ull, 0x10, Role::Ffi},
                     StackFrame{true, "main", "user.py", py.path, 13, 0, 0, Role::App}};
        ffi.stackMerged = true;
        add(ffi);
        TraceEvent nat;
        nat.tid = 4242;
        nat.kind = EventKind::NativeEnter;
        nat.role = Role::Native;
        nat.module = lib.name;
        nat.modulePath = lib.path;
        nat.symbol = "sd_score_item";
        nat.depth = 2;
        nat.address = 0x7f0000001200ull;
        nat.stack = {StackFrame{false, "sd_score_item", lib.name, "/src/struct_demo.c", 88, 0x7f0000001200ull, 0x200,
                                Role::Native},
                     StackFrame{false, "transform_record", lib.name, "/src/struct_demo.c", 41, 0x7f0000001100ull, 0x100,
                                Role::Native}};
        nat.stackUnmerged = true;
        nat.sourceFile = "/src/struct_demo.c";
        nat.sourceLine = 80 + i;
        add(nat);
        TraceEvent natx = nat;
        natx.kind = EventKind::NativeExit;
        natx.stack.clear();
        natx.stackUnmerged = false;
        natx.durationNs = 420;
        natx.unwound = i == 1;
        natx.lost = i == 2; // an exit the tracer made (format 3)
        add(natx);
        TraceEvent ret;
        ret.tid = 4242;
        ret.kind = EventKind::FfiReturn;
        ret.role = Role::Ffi;
        ret.module = "libffi.so.8";
        ret.symbol = "ffi_call";
        ret.depth = 1;
        ret.ret = FfiValue{"int", std::to_string(-5 - i)};
        ret.target = ffi.target;
        ret.durationNs = 9000;
        add(ret);
        TraceEvent pr;
        pr.tid = 4242;
        pr.kind = EventKind::PyReturn;
        pr.role = Role::App;
        pr.module = "user.py";
        pr.symbol = "main";
        pr.pyFile = py.path;
        pr.raised = i == 2;
        pr.durationNs = 20000;
        add(pr);
    }
    TraceEvent cc;
    cc.tid = 4243;
    cc.kind = EventKind::CCall;
    cc.role = Role::Glue;
    cc.module = "mymodule.so";
    cc.symbol = "Config_process";
    cc.pyName = "mymodule.Config.process";
    cc.pyFile = py.path;
    cc.pyLine = -1; // negative lines survive (zigzag)
    add(cc);
    TraceEvent drop;
    drop.tid = 4243;
    drop.kind = EventKind::Dropped;
    drop.dropped = 17;
    add(drop);
    s.reports = {{ProbeReport::Level::Info, "hooked 12 functions"}, {ProbeReport::Level::Warning, "no symbols in libx"},
                 {ProbeReport::Level::Error, "inline hook failed\nsecond line"},
                 {ProbeReport::Level::Info, "spool: the tracer is behind the program", ProbeReport::Origin::Tracer}};
    s.dropped = {{4243, 17}};
    s.result.exitStatus = 3;
    s.result.connected = true;
    s.result.events = s.events.size();
    s.result.dropped = 17;
    s.result.streamError = "stream from PID 4242: offset 99: something";
    s.result.handshakeFailed = false;
    s.result.termSignal = 9;
    s.result.discardedExits = 5;
    s.result.goodbyeMissing = true;
    s.result.possiblyMissing = 43690;
    s.result.lostExits = 7;
    return s;
}

// Feeds the sample through a sink in the order a session would.
inline void play(const Sample& s, EventSink& sink, bool finish = true) {
    sink.onStarted(s.pid);
    for (const auto& m : s.modules) {
        sink.onModule(m);
    }
    for (std::size_t i = 0; i < s.events.size(); ++i) {
        sink.onEvent(s.events[i]);
        if (i < s.reports.size()) {
            sink.onReport(s.reports[i]);
        }
    }
    for (const auto& [tid, count] : s.dropped) {
        sink.onDropped(tid, count);
    }
    if (finish) {
        sink.onFinished(s.result);
    }
}

class ReplaySink : public EventSink {
public:
    void onStarted(std::uint32_t p) override { pid = p; }
    void onModule(const ModuleInfo& m) override { modules.push_back(m); }
    void onEvent(const TraceEvent& e) override { events.push_back(e); }
    void onReport(const ProbeReport& r) override { reports.push_back(r); }
    void onDropped(std::uint32_t tid, std::uint64_t count) override { dropped.emplace_back(tid, count); }
    void onFinished(const SessionResult& r) override {
        ++finishedCalls;
        result = r;
    }
    std::uint32_t pid = 0;
    std::vector<ModuleInfo> modules;
    std::vector<TraceEvent> events;
    std::vector<ProbeReport> reports;
    std::vector<std::pair<std::uint32_t, std::uint64_t>> dropped;
    int finishedCalls = 0;
    SessionResult result;
};

inline void expectSameRef(const CodeRef& a, const CodeRef& b) {
    EXPECT_EQ(a.role, b.role);
    EXPECT_EQ(a.module, b.module);
    EXPECT_EQ(a.modulePath, b.modulePath);
    EXPECT_EQ(a.symbol, b.symbol);
    EXPECT_EQ(a.address, b.address);
    EXPECT_EQ(a.reason, b.reason);
}

inline void expectSameEvent(const TraceEvent& a, const TraceEvent& b) {
    SCOPED_TRACE("event seq " + std::to_string(a.seq));
    EXPECT_EQ(a.seq, b.seq);
    EXPECT_EQ(a.tsNs, b.tsNs);
    EXPECT_EQ(a.tid, b.tid);
    EXPECT_EQ(a.kind, b.kind);
    EXPECT_EQ(a.role, b.role);
    EXPECT_EQ(a.module, b.module);
    EXPECT_EQ(a.modulePath, b.modulePath);
    EXPECT_EQ(a.symbol, b.symbol);
    EXPECT_EQ(a.pyFile, b.pyFile);
    EXPECT_EQ(a.pyLine, b.pyLine);
    ASSERT_EQ(a.args.size(), b.args.size());
    for (std::size_t i = 0; i < a.args.size(); ++i) {
        EXPECT_EQ(a.args[i].type, b.args[i].type);
        EXPECT_EQ(a.args[i].value, b.args[i].value);
    }
    ASSERT_EQ(a.ret.has_value(), b.ret.has_value());
    if (a.ret) {
        EXPECT_EQ(a.ret->type, b.ret->type);
        EXPECT_EQ(a.ret->value, b.ret->value);
    }
    ASSERT_EQ(a.stack.size(), b.stack.size());
    for (std::size_t i = 0; i < a.stack.size(); ++i) {
        const StackFrame& x = a.stack[i];
        const StackFrame& y = b.stack[i];
        EXPECT_EQ(x.python, y.python);
        EXPECT_EQ(x.function, y.function);
        EXPECT_EQ(x.module, y.module);
        EXPECT_EQ(x.file, y.file);
        EXPECT_EQ(x.line, y.line);
        EXPECT_EQ(x.ip, y.ip);
        EXPECT_EQ(x.offset, y.offset);
        EXPECT_EQ(x.role, y.role);
    }
    EXPECT_EQ(a.depth, b.depth);
    EXPECT_EQ(a.durationNs, b.durationNs);
    EXPECT_EQ(a.raised, b.raised);
    EXPECT_EQ(a.dropped, b.dropped);
    EXPECT_EQ(a.reason, b.reason);
    EXPECT_EQ(a.address, b.address);
    EXPECT_EQ(a.pyName, b.pyName);
    expectSameRef(a.caller, b.caller);
    expectSameRef(a.target, b.target);
    EXPECT_EQ(a.stackMerged, b.stackMerged);
    EXPECT_EQ(a.stackUnmerged, b.stackUnmerged);
    EXPECT_EQ(a.unwound, b.unwound);
    EXPECT_EQ(a.lost, b.lost);
    EXPECT_EQ(a.sourceFile, b.sourceFile);
    EXPECT_EQ(a.sourceLine, b.sourceLine);
}

inline void expectSameModule(const ModuleInfo& a, const ModuleInfo& b) {
    SCOPED_TRACE("module " + a.path);
    EXPECT_EQ(a.id, b.id);
    EXPECT_EQ(a.base, b.base);
    EXPECT_EQ(a.path, b.path);
    EXPECT_EQ(a.name, b.name);
    EXPECT_EQ(a.python, b.python);
    EXPECT_EQ(a.role, b.role);
    EXPECT_EQ(a.reason, b.reason);
    const ElfFacts& x = a.elf;
    const ElfFacts& y = b.elf;
    EXPECT_EQ(x.readable, y.readable);
    EXPECT_EQ(x.exportsPyInit, y.exportsPyInit);
    EXPECT_EQ(x.importsPython, y.importsPython);
    EXPECT_EQ(x.isInterpreter, y.isInterpreter);
    EXPECT_EQ(x.isLibffi, y.isLibffi);
    EXPECT_EQ(x.bundlesFfi, y.bundlesFfi);
    EXPECT_EQ(x.pybind11, y.pybind11);
    EXPECT_EQ(x.cffiGenerated, y.cffiGenerated);
    EXPECT_EQ(x.hasSymtab, y.hasSymtab);
    EXPECT_EQ(x.hasDebugInfo, y.hasDebugInfo);
    EXPECT_EQ(x.soname, y.soname);
    EXPECT_EQ(x.pyInitName, y.pyInitName);
}

} // namespace layertrace::tracer::test
