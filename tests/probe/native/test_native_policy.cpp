// The native hook policy inside a real Python (the real probe, preloaded, talking to the test
// tracer): ffi_call with decoded arguments and returns, ctypes target-library exports with exact
// counts and nesting, FFI closures, PyInit_* and cffi's ABI mode.
#include "probe_harness.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include <map>
#include <string>
#include <vector>

namespace wire = layertrace::wire;
using layertrace::probe::test::Record;
using layertrace::probe::test::RunOptions;
using layertrace::probe::test::RunResult;
using layertrace::probe::test::runTraced;

namespace {

// hook id -> symbol name, from the HookInfo records.
std::map<std::uint32_t, std::string> hookSymbols(const RunResult& r) {
    const auto strings = r.strings();
    std::map<std::uint32_t, std::string> out;
    for (const Record* rec : r.ofType(wire::RecordType::HookInfo)) {
        const auto info = rec->as<wire::HookInfo>();
        const auto it = strings.find(info.symbolId);
        out[info.hookId] = it != strings.end() ? it->second : "";
    }
    return out;
}

RunResult run(const std::string& body) {
    RunOptions options;
    options.script = "import ctypes\nlib = ctypes.CDLL('" + std::string(LT_NATIVE_TARGET) + "')\n" + body;
    RunResult r = runTraced(options);
    EXPECT_TRUE(r.connected) << r.err;
    EXPECT_EQ(r.exitCode, 0) << r.err;
    return r;
}

// NativeEnter/NativeExit of one symbol, in stream order for the main thread.
struct Native {
    char kind;
    std::string symbol;
    std::uint64_t value;
};
std::vector<Native> nativeEvents(const RunResult& r) {
    const auto symbols = hookSymbols(r);
    std::vector<Native> out;
    for (const Record& rec : r.records) {
        if (rec.type() == wire::RecordType::NativeEnter) {
            const auto e = rec.as<wire::NativeEnter>();
            out.push_back({'E', symbols.count(e.hookId) ? symbols.at(e.hookId) : "?", e.function});
        } else if (rec.type() == wire::RecordType::NativeExit) {
            const auto x = rec.as<wire::NativeExit>();
            out.push_back({'X', symbols.count(x.hookId) ? symbols.at(x.hookId) : "?", x.returnValue});
        }
    }
    return out;
}

TEST(NativePolicy, CtypesCallsGiveExactFfiAndTargetCountsWithDecodedValues) {
    const RunResult r = run("lib.nt_add.argtypes = [ctypes.c_int, ctypes.c_int]\n"
                            "lib.nt_add.restype = ctypes.c_int\n"
                            "for i in range(1000):\n"
                            "    assert lib.nt_add(2, 3) == 5\n");
    const auto symbols = hookSymbols(r);
    std::size_t ffiCalls = 0, ffiReturns = 0;
    for (const Record* rec : r.ofType(wire::RecordType::FfiCall)) {
        if (rec->view().ffiArgCount() != 2) continue;
        const wire::FfiValue a = rec->view().ffiArg(0), b = rec->view().ffiArg(1);
        if (a.type == wire::FfiType::SInt32 && a.bits == 2 && b.type == wire::FfiType::SInt32 && b.bits == 3) ++ffiCalls;
        const auto call = rec->as<wire::FfiCall>();
        EXPECT_TRUE(symbols.count(call.entry) && symbols.at(call.entry).find("ffi_call") != std::string::npos);
    }
    for (const Record* rec : r.ofType(wire::RecordType::FfiReturn)) {
        const auto ret = rec->as<wire::FfiReturn>();
        if (ret.value.type == wire::FfiType::SInt32 && ret.value.bits == 5) ++ffiReturns;
    }
    EXPECT_EQ(ffiCalls, 1000u);
    EXPECT_EQ(ffiReturns, 1000u);
    std::size_t enters = 0, exits = 0;
    for (const Native& n : nativeEvents(r)) {
        if (n.symbol != "nt_add") continue;
        (n.kind == 'E' ? enters : exits)++;
        if (n.kind == 'X') {
            EXPECT_EQ(n.value, 5u);
        }
    }
    EXPECT_EQ(enters, 1000u);
    EXPECT_EQ(exits, 1000u);
}

TEST(NativePolicy, FloatsStructsAndNestedCallsInsideTheTargetLibrary) {
    const RunResult r = run("class P(ctypes.Structure):\n"
                            "    _fields_ = [('x', ctypes.c_int), ('y', ctypes.c_int), ('weight', ctypes.c_double)]\n"
                            "lib.nt_scale.argtypes = [ctypes.c_double, ctypes.c_float]\n"
                            "lib.nt_scale.restype = ctypes.c_double\n"
                            "assert lib.nt_scale(1.5, 2.0) == 3.0\n"
                            "lib.nt_point_weight.argtypes = [P]\n"
                            "lib.nt_point_weight.restype = ctypes.c_double\n"
                            "assert lib.nt_point_weight(P(1, 2, 0.5)) == 1.5\n"
                            "assert lib.nt_outer(4) == 13\n");
    bool sawScale = false, sawStruct = false;
    for (const Record* rec : r.ofType(wire::RecordType::FfiCall)) {
        const auto v = rec->view();
        if (v.ffiArgCount() == 2 && v.ffiArg(0).type == wire::FfiType::Double && v.ffiArg(1).type == wire::FfiType::Float)
            sawScale = true;
        if (v.ffiArgCount() == 1 && v.ffiArg(0).type == wire::FfiType::Struct && v.ffiArg(0).size == 16) sawStruct = true;
    }
    EXPECT_TRUE(sawScale);
    EXPECT_TRUE(sawStruct) << "structs are reported by size";
    std::vector<std::string> order;
    for (const Native& n : nativeEvents(r))
        if (n.symbol == "nt_outer" || n.symbol == "nt_inner") order.push_back(std::string(1, n.kind) + n.symbol);
    const std::vector<std::string> expected = {"Ent_outer", "Ent_inner", "Xnt_inner", "Xnt_outer"};
    EXPECT_EQ(order, expected);
}

TEST(NativePolicy, ClosureNestsInsideTheNativeFunctionThatCallsIt) {
    const RunResult r = run("CB = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int)\n"
                            "cb = CB(lambda v: v + 1)\n"
                            "lib.nt_apply.argtypes = [CB, ctypes.c_int]\n"
                            "assert lib.nt_apply(cb, 4) == 10\n");
    auto symbols = hookSymbols(r);
    std::vector<std::string> order;
    for (const Record& rec : r.records) {
        if (rec.type() == wire::RecordType::NativeEnter && symbols[rec.as<wire::NativeEnter>().hookId] == "nt_apply")
            order.push_back("enter nt_apply");
        if (rec.type() == wire::RecordType::NativeExit && symbols[rec.as<wire::NativeExit>().hookId] == "nt_apply")
            order.push_back("exit nt_apply");
        if (rec.type() == wire::RecordType::ClosureEnter) order.push_back("closure enter");
        if (rec.type() == wire::RecordType::ClosureExit) order.push_back("closure exit");
    }
    const std::vector<std::string> expected = {"enter nt_apply", "closure enter", "closure exit", "exit nt_apply"};
    EXPECT_EQ(order, expected);
}

TEST(NativePolicy, PyInitOfCtypesIsReportedWithNameAndPath) {
    const RunResult r = run("pass\n");
    const auto strings = r.strings();
    bool found = false;
    for (const Record* rec : r.ofType(wire::RecordType::InitEnter)) {
        const auto e = rec->as<wire::InitEnter>();
        if (strings.count(e.nameId) && strings.at(e.nameId) == "_ctypes") {
            found = true;
            EXPECT_NE(strings.at(e.pathId).find("_ctypes"), std::string::npos);
        }
    }
    EXPECT_TRUE(found);
    std::size_t exits = 0;
    for (const Record* rec : r.ofType(wire::RecordType::InitExit)) {
        EXPECT_EQ(rec->as<wire::InitExit>().raised, 0u);
        ++exits;
    }
    EXPECT_EQ(exits, r.ofType(wire::RecordType::InitEnter).size());
}

TEST(NativePolicy, CffiAbiModeDecodesTheCall) {
    RunOptions options;
    options.script = "import cffi\nffi = cffi.FFI()\nffi.cdef('int nt_add(int, int);')\n"
                     "lib = ffi.dlopen('" + std::string(LT_NATIVE_TARGET) + "')\nassert lib.nt_add(2, 3) == 5\n";
    const RunResult r = runTraced(options);
    ASSERT_EQ(r.exitCode, 0) << r.err;
    bool decoded = false;
    for (const Record* rec : r.ofType(wire::RecordType::FfiCall)) {
        const auto v = rec->view();
        decoded = decoded || (v.ffiArgCount() == 2 && v.ffiArg(0).bits == 2 && v.ffiArg(1).bits == 3);
    }
    EXPECT_TRUE(decoded);
    std::size_t enters = 0;
    for (const Native& n : nativeEvents(r)) enters += n.kind == 'E' && n.symbol == "nt_add";
    EXPECT_EQ(enters, 1u) << "a library opened by _cffi_backend has its exports hooked";
}

TEST(NativePolicy, ProbeSpecHooksSymtabOnlyFunctions) {
    RunOptions options;
    options.welcome.probeSpecs = {"liblt_native_target.so:nt_hidden_*"};
    options.script = "import ctypes\nlib = ctypes.CDLL('" + std::string(LT_NATIVE_TARGET) + "')\n"
                     "assert lib.nt_uses_hidden(1) == 101\n";
    const RunResult r = runTraced(options);
    ASSERT_EQ(r.exitCode, 0) << r.err;
    std::vector<std::string> order;
    for (const Native& n : nativeEvents(r))
        if (n.symbol == "nt_uses_hidden" || n.symbol == "nt_hidden_helper") order.push_back(std::string(1, n.kind) + n.symbol);
    const std::vector<std::string> expected = {"Ent_uses_hidden", "Ent_hidden_helper", "Xnt_hidden_helper", "Xnt_uses_hidden"};
    EXPECT_EQ(order, expected);
}

// A target export too short for a jump patch is not inline-hooked (that would be an int3, a
// signal per call): its ctypes calls are still FfiCall/FfiReturn pairs naming it, with values.
TEST(NativePolicy, ExportTooShortForAJumpIsTracedAsFfiTargetWithoutATrap) {
    const RunResult r = run("lib.nt_tiny.argtypes = [ctypes.c_int, ctypes.c_int]\n"
                            "print('nt_tiny', ctypes.cast(lib.nt_tiny, ctypes.c_void_p).value)\n"
                            "for i in range(100):\n"
                            "    assert lib.nt_tiny(2, 3) == 5\n");
    const std::size_t at = r.out.find("nt_tiny ");
    ASSERT_NE(at, std::string::npos) << r.out;
    const std::uint64_t tiny = std::stoull(r.out.substr(at + 8));
    std::size_t calls = 0, returns = 0;
    for (const Record* rec : r.ofType(wire::RecordType::FfiCall)) {
        if (rec->as<wire::FfiCall>().target != tiny) continue;
        ++calls;
        ASSERT_EQ(rec->view().ffiArgCount(), 2u);
        EXPECT_EQ(rec->view().ffiArg(0).bits, 2u);
        EXPECT_EQ(rec->view().ffiArg(1).bits, 3u);
    }
    for (const Record* rec : r.ofType(wire::RecordType::FfiReturn)) {
        const auto ret = rec->as<wire::FfiReturn>();
        if (ret.target == tiny && ret.value.bits == 5) ++returns;
    }
    EXPECT_EQ(calls, 100u);
    EXPECT_EQ(returns, 100u);
    for (const Native& n : nativeEvents(r)) EXPECT_NE(n.symbol, "nt_tiny") << "no int3 hook, no NativeEnter/Exit";
}

// Named by --probe, the same function gets its int3 hook, and so a call to it from another native
// function of the library is seen, nested.
TEST(NativePolicy, ProbeSpecTracesAnExportTooShortForAJumpIncludingNestedCalls) {
    RunOptions options;
    options.welcome.probeSpecs = {"liblt_native_target.so:nt_tiny"};
    options.script = "import ctypes\nlib = ctypes.CDLL('" + std::string(LT_NATIVE_TARGET) + "')\n"
                     "assert lib.nt_calls_tiny(2, 3) == 5\n";
    const RunResult r = runTraced(options);
    ASSERT_EQ(r.exitCode, 0) << r.err;
    std::vector<std::string> order;
    for (const Native& n : nativeEvents(r))
        if (n.symbol == "nt_calls_tiny" || n.symbol == "nt_tiny") order.push_back(std::string(1, n.kind) + n.symbol);
    const std::vector<std::string> expected = {"Ent_calls_tiny", "Ent_tiny", "Xnt_tiny", "Xnt_calls_tiny"};
    EXPECT_EQ(order, expected);
}

TEST(NativePolicy, CxxExceptionBetweenHookedExportsLeavesPythonRunning) {
    const RunResult r = run("for i in range(200):\n"
                            "    assert lib.nt_cxx_catch(-1) == -1\n"
                            "    assert lib.nt_cxx_catch(4) == 8\n"
                            "print('survived')\n");
    EXPECT_NE(r.out.find("survived"), std::string::npos) << r.err;
    std::size_t unwound = 0, normal = 0;
    const auto symbols = hookSymbols(r);
    for (const Record* rec : r.ofType(wire::RecordType::NativeExit)) {
        const auto x = rec->as<wire::NativeExit>();
        if (symbols.count(x.hookId) == 0 || symbols.at(x.hookId) != "nt_cxx_throw") continue;
        (x.unwound != 0 ? unwound : normal)++;
    }
    EXPECT_EQ(unwound, 200u) << "the throwing frame is left by the exception";
    EXPECT_EQ(normal, 200u);
}

// The pyenv interpreter (unstripped, cffi with its own bundled libffi): ffi_call is
// cffistatic_ffi_call there. Skipped when no such interpreter is installed.
std::string pyenvPython() {
    if (const char* env = std::getenv("LAYERTRACE_PYENV_PYTHON"); env != nullptr && *env != '\0') return env;
    // The interpreter pyenv selects for `python3` (the shim itself is a shell script: the probe
    // must be preloaded into the real binary).
    std::string path;
    if (FILE* p = popen("pyenv which python3 2>/dev/null", "r")) {
        char buf[4096] = {};
        if (std::fgets(buf, sizeof buf, p) != nullptr) path = buf;
        pclose(p);
    }
    while (!path.empty() && (path.back() == '\n' || path.back() == ' ')) path.pop_back();
    std::error_code ec;
    return !path.empty() && std::filesystem::exists(path, ec) ? path : "";
}

TEST(NativePolicy, PyenvCffiBundledLibffiIsTracedAsCffistaticFfiCall) {
    const std::string python = pyenvPython();
    if (python.empty()) GTEST_SKIP() << "no pyenv interpreter";
    RunOptions options;
    options.python = python;
    options.script = "import cffi\nffi = cffi.FFI()\nffi.cdef('int nt_add(int, int);')\n"
                     "lib = ffi.dlopen('" + std::string(LT_NATIVE_TARGET) + "')\nassert lib.nt_add(2, 3) == 5\n";
    const RunResult r = runTraced(options);
    ASSERT_EQ(r.exitCode, 0) << r.err;
    const auto symbols = hookSymbols(r);
    bool viaBundled = false;
    for (const Record* rec : r.ofType(wire::RecordType::FfiCall)) {
        const auto call = rec->as<wire::FfiCall>();
        const auto v = rec->view();
        if (symbols.count(call.entry) && symbols.at(call.entry) == "cffistatic_ffi_call" && v.ffiArgCount() == 2 &&
            v.ffiArg(0).bits == 2 && v.ffiArg(1).bits == 3)
            viaBundled = true;
    }
    EXPECT_TRUE(viaBundled);
}

} // namespace
