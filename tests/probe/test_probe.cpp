// In-process probe tests: the real probe preloaded into real Pythons; the raw records it sends
// are checked (handshake, Python call nesting, C function dispatch, stacks, drops, exit status,
// inertness, peer checks, a vanishing tracer).
#include "probe_harness.h"

#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <set>

namespace layertrace::probe::test {
namespace {

using wire::RecordType;

wire::WelcomeOptions welcome(wire::TraceMode mode, bool stacks, bool lossless = false) {
    wire::WelcomeOptions o;
    o.mode = mode;
    o.flags = (stacks ? wire::kWelcomeStacks : 0u) | (lossless ? wire::kWelcomeLossless : 0u);
    return o;
}

bool isEvent(RecordType t) {
    return t == RecordType::PyCall || t == RecordType::PyReturn || t == RecordType::CCall ||
           t == RecordType::CReturn || t == RecordType::CRaise;
}

std::string describe(const RunResult& r) {
    return "exit " + std::to_string(r.exitCode) + (r.timedOut ? " (timed out)" : "") + ", stream error '" +
           r.streamError + "', stderr:\n" + r.err;
}

// The Python-call sequence of one thread as "+name"/"-name" tokens.
std::vector<std::string> pythonCalls(const RunResult& r, std::uint32_t tid) {
    const auto names = r.codeNames();
    std::vector<std::string> out;
    for (const auto& rec : r.records) {
        if (rec.tid != tid) {
            continue;
        }
        if (rec.type() == RecordType::PyCall) {
            out.push_back("+" + names.at(rec.as<wire::PyCall>().codeId));
        } else if (rec.type() == RecordType::PyReturn) {
            out.push_back("-" + names.at(rec.as<wire::PyReturn>().codeId));
        }
    }
    return out;
}

TEST(Probe, HandshakeModulesAndGoodbye) {
    RunOptions o;
    o.script = "print('hello from python')\n";
    o.welcome = welcome(wire::TraceMode::Anchored, true);
    const RunResult r = runTraced(o);
    ASSERT_TRUE(r.connected) << describe(r);
    EXPECT_EQ(r.hello.pid, static_cast<std::uint32_t>(r.childPid));
    EXPECT_EQ(r.hello.pythonVersionHex >> 16, 0x030bu);
    EXPECT_EQ(r.hello.flags, 0u);
    EXPECT_TRUE(r.streamClean) << describe(r);
    EXPECT_EQ(r.exitCode, 0);
    EXPECT_EQ(r.out, "hello from python\n");
    bool sawPython = false, sawLibc = false;
    for (const Record* m : r.ofType(RecordType::ModuleMap)) {
        const std::string path(m->view().text());
        sawPython = sawPython || path.find("python3") != std::string::npos;
        sawLibc = sawLibc || path.find("libc.so") != std::string::npos;
    }
    EXPECT_TRUE(sawPython);
    EXPECT_TRUE(sawLibc);
    const auto bye = r.ofType(RecordType::Goodbye);
    ASSERT_EQ(bye.size(), 1u);
    EXPECT_EQ(bye[0]->as<wire::Goodbye>().exitStatus, 0);
    EXPECT_TRUE(bye[0]->as<wire::Goodbye>().flags & wire::kGoodbyeExitStatusKnown);
    EXPECT_EQ(&r.records.back(), bye[0]); // last record
}

// The Stack that follows the first CCall of the C function `name`, or nullptr.
const Record* stackOfFirstCCall(const RunResult& r, std::string_view name) {
    const auto strings = r.strings();
    for (std::size_t i = 0; i + 1 < r.records.size(); ++i) {
        const Record& rec = r.records[i];
        if (rec.type() == RecordType::CCall && strings.at(rec.as<wire::CCall>().nameId) == name) {
            return r.records[i + 1].type() == RecordType::Stack && r.records[i + 1].tid == rec.tid ? &r.records[i + 1]
                                                                                                   : nullptr;
        }
    }
    return nullptr;
}

TEST(Probe, FullModeNestsPythonCalls) {
    RunOptions o;
    o.script = "def g():\n    return 1\n"
               "def f():\n    return g() + g()\n"
               "total = 0\n"
               "for i in range(3):\n    total += f()\n"
               "print(total)\n";
    o.welcome = welcome(wire::TraceMode::Full, false);
    const RunResult r = runTraced(o);
    ASSERT_TRUE(r.streamClean) << describe(r);
    EXPECT_EQ(r.out, "6\n");
    const auto calls = pythonCalls(r, r.hello.pid);
    // From the first line of the script: its module body is traced (the profile function goes
    // on at cpython.run_file, before the runner's own setup code even runs).
    ASSERT_NE(std::find(calls.begin(), calls.end(), "+<module>"), calls.end());
    std::vector<std::string> fg;
    for (const auto& c : calls) {
        if (c == "+f" || c == "-f" || c == "+g" || c == "-g") {
            fg.push_back(c);
        }
    }
    std::vector<std::string> expected;
    for (int i = 0; i < 3; ++i) {
        expected.insert(expected.end(), {"+f", "+g", "-g", "+g", "-g", "-f"});
    }
    EXPECT_EQ(fg, expected);
    // Every thread's calls nest: depth never negative after the first call, back to zero
    // for the script's module frame.
    int depth = 0;
    int moduleDepth = -1;
    for (const auto& c : calls) {
        depth += c[0] == '+' ? 1 : -1;
        ASSERT_GE(depth, 0);
        if (c == "+<module>" && moduleDepth < 0) {
            moduleDepth = depth;
        }
        if (c == "-<module>" && depth + 1 == moduleDepth) {
            moduleDepth = 0;
        }
    }
    EXPECT_EQ(moduleDepth, 0) << "the module frame returned";
    // Every PyCode referenced was defined before use (definitions travel first).
    std::set<std::uint32_t> defined;
    for (const auto& rec : r.records) {
        if (rec.type() == RecordType::PyCode) {
            defined.insert(rec.as<wire::PyCode>().codeId);
        } else if (rec.type() == RecordType::PyCall) {
            ASSERT_TRUE(defined.count(rec.as<wire::PyCall>().codeId));
        }
    }
}

TEST(Probe, PythonExceptionsMarkReturns) {
    RunOptions o;
    o.script = "def boom():\n    raise ValueError('x')\n"
               "try:\n    boom()\nexcept ValueError:\n    print('caught')\n";
    o.welcome = welcome(wire::TraceMode::Full, false);
    const RunResult r = runTraced(o);
    ASSERT_TRUE(r.streamClean) << describe(r);
    EXPECT_EQ(r.out, "caught\n");
    const auto names = r.codeNames();
    int raised = 0;
    for (const Record* rec : r.ofType(RecordType::PyReturn)) {
        const auto ret = rec->as<wire::PyReturn>();
        if (names.at(ret.codeId) == "boom") {
            EXPECT_EQ(ret.raised, 1u);
            ++raised;
        }
    }
    EXPECT_EQ(raised, 1);
}

// Counts of "+name" tokens in a thread's call sequence.
long callsOf(const std::vector<std::string>& calls, const std::string& name) {
    return std::count(calls.begin(), calls.end(), "+" + name);
}

// Full mode on 3.11 hooks frame evaluation (PEP 523): the calls the specialising interpreter
// would inline into its running loop (CALL_PY_EXACT_ARGS, CALL_PY_WITH_DEFAULTS,
// BINARY_SUBSCR_GETITEM, all warm after 2000 rounds) must each still be reported, and nest.
// Before 3.11.4 BINARY_SUBSCR_GETITEM ignored PEP 523 (CPython gh-104405): a warm Python
// __getitem__ is inlined past the hook, and must then be left out whole, call and return.
void expectCallsTheInterpreterWouldInline(const std::string& python) {
    RunOptions o;
    o.python = python;
    o.script = "class Box:\n"
               "    def __getitem__(self, k):\n        return k\n"
               "def exact(x):\n    return x\n"
               "def defaults(x, y=1):\n    return x + y\n"
               "def loop(n):\n"
               "    b, s = Box(), 0\n"
               "    for i in range(n):\n        s += exact(i) + defaults(i) + b[i]\n"
               "    return s\n"
               "print(loop(2000))\n";
    o.welcome = welcome(wire::TraceMode::Full, false, true);
    const RunResult r = runTraced(o);
    ASSERT_TRUE(r.streamClean) << describe(r);
    EXPECT_EQ(r.out, std::to_string(3 * (1999 * 2000 / 2) + 2000) + "\n");
    const auto calls = pythonCalls(r, r.hello.pid);
    EXPECT_EQ(callsOf(calls, "exact"), 2000);
    EXPECT_EQ(callsOf(calls, "defaults"), 2000);
    const long getitems = callsOf(calls, "Box.__getitem__");
    if ((r.hello.pythonVersionHex >> 8) >= 0x030b04) {
        EXPECT_EQ(getitems, 2000);
    } else {
        EXPECT_GT(getitems, 0) << "called before it was specialised";
        EXPECT_LT(getitems, 2000) << "3.11.0-3.11.3 inline a warm __getitem__ past PEP 523";
        EXPECT_EQ(std::count(calls.begin(), calls.end(), "-Box.__getitem__"), getitems);
    }
    std::vector<std::string> open;
    for (const auto& c : calls) {
        if (c[0] == '+') {
            open.push_back(c.substr(1));
        } else {
            ASSERT_FALSE(open.empty()) << "return without a call: " << c;
            ASSERT_EQ(open.back(), c.substr(1)) << "returns close the innermost call";
            open.pop_back();
        }
    }
}

TEST(Probe, FullModeReportsCallsTheInterpreterWouldInline) {
    expectCallsTheInterpreterWouldInline("/usr/bin/python3");
}

// A generator is called each time it is resumed and returns at each yield (as a profile function
// reports it): creating one is no call; throw() resumes it, an exception leaving it is a raised
// return; the exception in flight reaches the caller intact.
TEST(Probe, FullModeGeneratorsResumeAsCalls) {
    RunOptions o;
    o.script = "def gen():\n"
               "    try:\n        yield 1\n    except KeyError:\n        yield 2\n"
               "    yield 3\n"
               "def run():\n"
               "    g = gen()\n"
               "    out = [next(g), g.throw(KeyError), next(g)]\n"
               "    try:\n        g.throw(ValueError('v'))\n"
               "    except ValueError as e:\n        out.append(str(e))\n"
               "    return out\n"
               "print(run())\n";
    o.welcome = welcome(wire::TraceMode::Full, false);
    const RunResult r = runTraced(o);
    ASSERT_TRUE(r.streamClean) << describe(r);
    EXPECT_EQ(r.out, "[1, 2, 3, 'v']\n");
    std::vector<std::string> genEvents;
    const auto names = r.codeNames();
    for (const auto& rec : r.records) {
        if (rec.tid != r.hello.pid) {
            continue;
        }
        if (rec.type() == RecordType::PyCall && names.at(rec.as<wire::PyCall>().codeId) == "gen") {
            genEvents.push_back("+");
        } else if (rec.type() == RecordType::PyReturn && names.at(rec.as<wire::PyReturn>().codeId) == "gen") {
            genEvents.push_back(rec.as<wire::PyReturn>().raised ? "-raised" : "-");
        }
    }
    EXPECT_EQ(genEvents, (std::vector<std::string>{"+", "-", "+", "-", "+", "-", "+", "-raised"}));
}

// --c-calls all: every C function call, the interpreter's builtins too (3.11: a profile function).
TEST(Probe, CFunctionDispatchResolvesToItsObject) {
    RunOptions o;
    o.script = "import ctypes, _ctypes\n"
               "n = _ctypes.alignment(ctypes.c_int)\n"
               "try:\n    _ctypes.alignment(1)\nexcept TypeError:\n    pass\n"
               "print(n, 'abc'.upper())\n"
               "print('--maps--')\n"
               "print(open('/proc/self/maps').read(), end='')\n";
    o.welcome = welcome(wire::TraceMode::Anchored, false);
    o.welcome.flags |= wire::kWelcomeAllCCalls;
    const RunResult r = runTraced(o);
    ASSERT_TRUE(r.streamClean) << describe(r);
    EXPECT_EQ(r.out, "4 ABC\n");
    const auto strings = r.strings();
    // A method of a builtin type: owned by the type.
    bool upper = false;
    for (const Record* rec : r.ofType(RecordType::CCall)) {
        const auto c = rec->as<wire::CCall>();
        upper = upper || (strings.at(c.nameId) == "upper" && strings.at(c.ownerId) == "str");
    }
    EXPECT_TRUE(upper) << "str.upper as a CCall owned by 'str'";
    const wire::CCall* call = nullptr;
    int returns = 0, raises = 0;
    for (const auto& rec : r.records) {
        if (rec.type() != RecordType::CCall && rec.type() != RecordType::CReturn && rec.type() != RecordType::CRaise) {
            continue;
        }
        const auto c = rec.as<wire::CCall>();
        if (strings.at(c.nameId) != "alignment" || strings.at(c.ownerId) != "_ctypes") {
            continue;
        }
        if (rec.type() == RecordType::CCall && call == nullptr) {
            static wire::CCall first;
            first = c;
            call = &first;
        }
        returns += rec.type() == RecordType::CReturn;
        raises += rec.type() == RecordType::CRaise;
    }
    ASSERT_NE(call, nullptr) << "no CCall for _ctypes.alignment";
    EXPECT_EQ(returns, 1);
    EXPECT_EQ(raises, 1);
    const std::string object = r.mappingOf(call->mlMeth);
    EXPECT_NE(object.find("_ctypes.cpython-311"), std::string::npos) << "ml_meth in '" << object << "'";
    // Anchored mode: no Python call events.
    EXPECT_TRUE(r.ofType(RecordType::PyCall).empty());
}

// The C function calls of one name: CCall, CReturn and CRaise counts, owners seen, threads seen.
struct CCalls {
    int calls = 0, returns = 0, raises = 0;
    std::set<std::string> owners;
    std::set<std::uint32_t> tids;
    std::uint64_t mlMeth = 0;
};
std::map<std::string, CCalls> cCallsByName(const RunResult& r) {
    const auto strings = r.strings();
    std::map<std::string, CCalls> out;
    for (const auto& rec : r.records) {
        if (rec.type() != RecordType::CCall && rec.type() != RecordType::CReturn && rec.type() != RecordType::CRaise) {
            continue;
        }
        const auto c = rec.as<wire::CCall>();
        CCalls& e = out[strings.at(c.nameId)];
        e.calls += rec.type() == RecordType::CCall;
        e.returns += rec.type() == RecordType::CReturn;
        e.raises += rec.type() == RecordType::CRaise;
        e.owners.insert(strings.at(c.ownerId));
        e.tids.insert(rec.tid);
        e.mlMeth = c.mlMeth;
    }
    return out;
}

// Reads the calling thread's c_profilefunc (PyThreadState, 3.11 x86-64: offset 64) with ctypes.
constexpr const char* kProfileFunctionOff =
    "import ctypes\n"
    "ctypes.pythonapi.PyThreadState_Get.restype = ctypes.c_void_p\n"
    "def profile_function_off():\n"
    "    return ctypes.c_void_p.from_address(ctypes.pythonapi.PyThreadState_Get() + 64).value is None\n";

constexpr const char* kConventionsScript =
    "import sys, threading\n"
    "sys.path.insert(0, '" LAYERTRACE_CFUNCTIONS_DIR "')\n"
    "import probe_cfunctions as m\n"
    "results = [m.noargs(), m.one(21), m.varargs(1, 2, k=3), m.fast_keywords(1, 2, k=3),\n"
    "           m.Counter().method(1, 2, k=3), m.Counter.static(5)]\n"
    "try:\n    m.raising(7)\nexcept ValueError as e:\n    results.append(str(e))\n"
    "t = threading.Thread(target=m.one, args=(4,))\nt.start()\nt.join()\n"
    "print(profile_function_off(), results, 'abc'.upper(), len('xy'))\n"
    "print('--maps--')\n"
    "print(open('/proc/self/maps').read(), end='')\n";

// Default (--c-calls extensions) on 3.11: the extension's functions of every calling convention
// are reported through their thunks, on every thread, with their raises; builtins are not, and
// anchored mode installs no profile function at all.
TEST(Probe, ExtensionCFunctionsWithoutAProfileFunction) {
    RunOptions o;
    o.script = std::string(kProfileFunctionOff) + kConventionsScript;
    o.welcome = welcome(wire::TraceMode::Anchored, true);
    const RunResult r = runTraced(o);
    ASSERT_TRUE(r.streamClean) << describe(r);
    EXPECT_EQ(r.out, "True [1, 42, 2, 21, ('probe_cfunctions.Counter', 2), 5, 'raised for 7'] ABC 2\n");
    const auto calls = cCallsByName(r);
    for (const char* name : {"noargs", "varargs", "fast_keywords"}) {
        ASSERT_TRUE(calls.count(name)) << name;
        EXPECT_EQ(calls.at(name).calls, 1) << name;
        EXPECT_EQ(calls.at(name).returns, 1) << name;
        EXPECT_EQ(calls.at(name).owners, std::set<std::string>{"probe_cfunctions"}) << name;
    }
    ASSERT_TRUE(calls.count("one"));
    EXPECT_EQ(calls.at("one").calls, 2);
    EXPECT_EQ(calls.at("one").returns, 2);
    EXPECT_EQ(calls.at("one").tids.size(), 2u) << "the main thread and the started one";
    EXPECT_NE(r.mappingOf(calls.at("one").mlMeth).find("probe_cfunctions.cpython-311"), std::string::npos)
        << "mlMeth is the original function, not its stub";
    // Created by the Py_mod_exec slot, after PyInit_ returned.
    ASSERT_TRUE(calls.count("method")) << "METH_METHOD of a type made in the exec slot";
    EXPECT_EQ(calls.at("method").returns, 1);
    EXPECT_EQ(calls.at("method").owners, std::set<std::string>{"probe_cfunctions.Counter"});
    ASSERT_TRUE(calls.count("static"));
    EXPECT_EQ(calls.at("static").returns, 1);
    ASSERT_TRUE(calls.count("raising"));
    EXPECT_EQ(calls.at("raising").calls, 1);
    EXPECT_EQ(calls.at("raising").raises, 1);
    EXPECT_EQ(calls.at("raising").returns, 0);
    for (const char* builtin : {"upper", "len", "start", "join"}) {
        EXPECT_FALSE(calls.count(builtin)) << builtin << " is a builtin: not reported by default";
    }
    // The stack of a thunked call walks through the thunk into the interpreter and the script.
    const Record* stack = stackOfFirstCCall(r, "noargs");
    ASSERT_NE(stack, nullptr);
    const wire::RecordView v = stack->view();
    EXPECT_GE(v.nativeFrameCount(), 3u);
    ASSERT_GE(v.pythonFrameCount(), 1u);
    EXPECT_EQ(r.codeNames().at(v.pythonFrame(0).codeId), "<module>");
    EXPECT_EQ(v.pythonFrame(0).line, 8u); // the script's line 4, after the 4 lines of kProfileFunctionOff
}

// Full mode keeps the profile function for Python frames but leaves C calls to the thunks: each
// extension call is reported once, builtins not at all.
TEST(Probe, FullModeReportsEachExtensionCallOnce) {
    RunOptions o;
    o.script = std::string(kProfileFunctionOff) + kConventionsScript;
    o.welcome = welcome(wire::TraceMode::Full, false);
    const RunResult r = runTraced(o);
    ASSERT_TRUE(r.streamClean) << describe(r);
    EXPECT_NE(r.out.find("[1, 42, 2, 21, ('probe_cfunctions.Counter', 2), 5, 'raised for 7'] ABC 2\n"), std::string::npos) << r.out;
    const auto calls = cCallsByName(r);
    ASSERT_TRUE(calls.count("noargs"));
    EXPECT_EQ(calls.at("noargs").calls, 1);
    ASSERT_TRUE(calls.count("method"));
    EXPECT_EQ(calls.at("method").calls, 1);
    EXPECT_FALSE(calls.count("upper"));
    EXPECT_FALSE(r.ofType(RecordType::PyCall).empty());
}

// The extension modules of the Python ecosystem: _ctypes (single-phase, lib-dynload),
// _cffi_backend, numpy's _multiarray_umath (functions and ndarray methods).
TEST(Probe, ThunksCoverCtypesCffiAndNumpy) {
    RunOptions o;
    o.script = std::string(kProfileFunctionOff) +
               "import ctypes, _ctypes, _cffi_backend\n"
               "n = _ctypes.alignment(ctypes.c_int)\n"
               "size = _cffi_backend.sizeof(_cffi_backend.new_primitive_type('int'))\n"
               "try:\n    import numpy\nexcept ImportError:\n    numpy = None\n"
               "total = int(numpy.arange(4).sum()) if numpy else 6\n"
               "print(profile_function_off(), n, size, total, 'numpy' if numpy else 'no numpy')\n";
    o.welcome = welcome(wire::TraceMode::Anchored, false);
    const RunResult r = runTraced(o);
    ASSERT_TRUE(r.streamClean) << describe(r);
    EXPECT_EQ(r.out.substr(0, 14), "True 4 4 6 num") << r.out;
    const auto calls = cCallsByName(r);
    ASSERT_TRUE(calls.count("alignment"));
    EXPECT_TRUE(calls.at("alignment").owners.count("_ctypes"));
    ASSERT_TRUE(calls.count("new_primitive_type"));
    EXPECT_TRUE(calls.at("new_primitive_type").owners.count("_cffi_backend"));
    if (r.out.find("no numpy") == std::string::npos) {
        ASSERT_TRUE(calls.count("arange")) << "numpy's arange, a _multiarray_umath function";
        ASSERT_TRUE(calls.count("sum")) << "ndarray.sum, a method descriptor of _multiarray_umath";
        EXPECT_TRUE(calls.at("sum").owners.count("numpy.ndarray"));
    }
}

// A detach stops the reports at once and puts every original ml_meth back (at the next
// pending-call point of the main thread); the program never notices.
TEST(Probe, DetachRestoresTheOriginalMethods) {
    RunOptions o;
    o.script = "import sys, ctypes, time\n"
               "sys.path.insert(0, '" LAYERTRACE_CFUNCTIONS_DIR "')\n"
               "import probe_cfunctions as m\n"
               // PyCFunctionObject.m_ml (offset 16), PyMethodDef.ml_meth (offset 8): 3.11, x86-64.
               "def ml_meth():\n"
               "    return ctypes.c_void_p.from_address(ctypes.c_void_p.from_address(id(m.one) + 16).value + 8).value\n"
               "original = m.address_of_one()\n"
               "patched = ml_meth() != original\n"
               "restored = False\n"
               "start = time.monotonic()\n"
               "while not restored and time.monotonic() - start < 20:\n"
               "    s = sum(m.one(i) for i in range(1000))\n"
               "    restored = ml_meth() == original\n"
               "print(patched, restored, m.one(2))\n";
    o.welcome = welcome(wire::TraceMode::Anchored, false);
    o.detachAfterBytes = 16 * 1024;
    const RunResult r = runTraced(o);
    ASSERT_TRUE(r.streamClean) << describe(r) << " records " << r.records.size() << " last type "
                               << (r.records.empty() ? -1 : int(r.records.back().type()));
    EXPECT_EQ(r.exitCode, 0);
    EXPECT_EQ(r.out, "True True 4\n") << describe(r);
    const auto bye = r.ofType(RecordType::Goodbye);
    ASSERT_EQ(bye.size(), 1u);
    EXPECT_TRUE(bye[0]->as<wire::Goodbye>().flags & wire::kGoodbyeDetached);
}

TEST(Probe, AnchoredStacksCarryPythonFrames) {
    RunOptions o;
    o.script = "import ctypes, _ctypes\n"                  // 1
               "def inner():\n"                            // 2
               "    return _ctypes.alignment(ctypes.c_int)\n" // 3
               "def outer():\n"                            // 4
               "    x = 1\n"                               // 5
               "    return inner() + x\n"                  // 6
               "print(outer())\n"                          // 7
               "print('--maps--')\n"
               "print(open('/proc/self/maps').read(), end='')\n";
    o.welcome = welcome(wire::TraceMode::Anchored, true);
    const RunResult r = runTraced(o);
    ASSERT_TRUE(r.streamClean) << describe(r);
    EXPECT_EQ(r.out, "5\n");
    const auto names = r.codeNames();
    const Record* stack = stackOfFirstCCall(r, "alignment");
    ASSERT_NE(stack, nullptr) << "the CCall of alignment, its Stack right after it";
    const wire::RecordView v = stack->view();
    ASSERT_GE(v.pythonFrameCount(), 3u);
    std::vector<std::pair<std::string, std::uint32_t>> frames;
    for (std::size_t k = 0; k < 3; ++k) {
        frames.emplace_back(names.at(v.pythonFrame(k).codeId), v.pythonFrame(k).line);
    }
    const std::vector<std::pair<std::string, std::uint32_t>> expected{{"inner", 3}, {"outer", 6}, {"<module>", 7}};
    EXPECT_EQ(frames, expected);
    EXPECT_GE(v.nativeFrameCount(), 3u) << "libunwind found native frames";
    // The probe's own frames are skipped: the innermost one is the interpreter's.
    EXPECT_EQ(r.mappingOf(v.nativeFrame(0)).find("liblayertrace_probe"), std::string::npos)
        << r.mappingOf(v.nativeFrame(0));
}

// ctypes releases the GIL around ffi_call: the Python frames of a native event's stack are read
// without it, from the calling thread's own frame chain.
TEST(Probe, StacksOfNativeEventsWithoutTheGil) {
    RunOptions o;
    o.script = "import ctypes, ctypes.util\n"                      // 1
               "m = ctypes.CDLL(ctypes.util.find_library('m'))\n" // 2
               "m.cos.restype = ctypes.c_double\n"                // 3
               "m.cos.argtypes = [ctypes.c_double]\n"             // 4
               "def call():\n"                                    // 5
               "    return m.cos(0.0)\n"                          // 6
               "print(call())\n";                                 // 7
    o.welcome = welcome(wire::TraceMode::Anchored, true);
    const RunResult r = runTraced(o);
    ASSERT_TRUE(r.streamClean) << describe(r);
    EXPECT_EQ(r.out, "1.0\n");
    const auto names = r.codeNames();
    int checked = 0;
    for (std::size_t i = 0; i + 1 < r.records.size(); ++i) {
        if (r.records[i].type() != RecordType::FfiCall) {
            continue;
        }
        const wire::RecordView stack = r.records[i + 1].view();
        ASSERT_EQ(stack.type(), RecordType::Stack);
        if (stack.pythonFrameCount() >= 2 && names.count(stack.pythonFrame(0).codeId) &&
            names.at(stack.pythonFrame(0).codeId) == "call") {
            EXPECT_EQ(stack.pythonFrame(0).line, 6u);
            EXPECT_EQ(names.at(stack.pythonFrame(1).codeId), "<module>");
            EXPECT_EQ(stack.pythonFrame(1).line, 7u);
            ++checked;
        }
    }
    if (r.ofType(RecordType::FfiCall).empty()) {
        GTEST_SKIP() << "this probe build has no ffi_call hooks (probe-native)";
    }
    EXPECT_EQ(checked, 1);
}

// Anchored mode tracks no Python call: a stack's frames are named when the stack is read, from
// the code objects' own strings (non-ASCII names are encoded by the probe itself).
TEST(Probe, AnchoredStacksNameFramesTheyNeverSawCalled) {
    RunOptions o;
    o.script = "import ctypes, _ctypes\n"                     // 1
               "def gr\u00fc\u00dfe():\n"                    // 2
               "    return _ctypes.alignment(ctypes.c_int)\n" // 3
               "class K:\n"                                  // 4
               "    def m(self):\n"                          // 5
               "        return gr\u00fc\u00dfe()\n"          // 6
               "print(K().m())\n";                           // 7
    o.welcome = welcome(wire::TraceMode::Anchored, true);
    const RunResult r = runTraced(o);
    ASSERT_TRUE(r.streamClean) << describe(r);
    EXPECT_EQ(r.out, "4\n");
    EXPECT_TRUE(r.ofType(RecordType::PyCall).empty());
    const auto names = r.codeNames();
    const Record* stack = stackOfFirstCCall(r, "alignment");
    ASSERT_NE(stack, nullptr) << "the CCall of alignment, its Stack right after it";
    const wire::RecordView v = stack->view();
    ASSERT_GE(v.pythonFrameCount(), 3u);
    EXPECT_EQ(names.at(v.pythonFrame(0).codeId), "gr\u00fc\u00dfe");
    EXPECT_EQ(v.pythonFrame(0).line, 3u);
    EXPECT_EQ(names.at(v.pythonFrame(1).codeId), "K.m");
    EXPECT_EQ(v.pythonFrame(1).line, 6u);
    EXPECT_EQ(names.at(v.pythonFrame(2).codeId), "<module>");
}

// Event timestamps are CLOCK_MONOTONIC nanoseconds (read from the TSC once the sender has
// calibrated it): a function that reads time.monotonic_ns() itself agrees with its PyCall's
// timestamp, before and after calibration, and each thread's events never go back in time.
TEST(Probe, EventTimestampsAgreeWithTheMonotonicClock) {
    RunOptions o;
    o.script = "import time\n"
               "def mark():\n    return time.monotonic_ns()\n"
               "def work():\n    pass\n"
               "first = mark()\n"
               "end = time.monotonic() + 1.3\n"
               "while time.monotonic() < end:\n    work()\n"
               "print(first, mark())\n";
    o.welcome = welcome(wire::TraceMode::Full, false, true);
    const RunResult r = runTraced(o);
    ASSERT_TRUE(r.streamClean) << describe(r);
    std::uint64_t printed[2] = {0, 0};
    ASSERT_EQ(std::sscanf(r.out.c_str(), "%lu %lu", &printed[0], &printed[1]), 2) << r.out;
    const auto names = r.codeNames();
    std::vector<std::uint64_t> markCalls;
    std::uint64_t last = 0;
    for (const auto& rec : r.records) {
        if (rec.tid != r.hello.pid || (rec.type() != RecordType::PyCall && rec.type() != RecordType::PyReturn)) {
            continue;
        }
        const std::uint64_t ts =
            rec.type() == RecordType::PyCall ? rec.as<wire::PyCall>().tsNs : rec.as<wire::PyReturn>().tsNs;
        EXPECT_GE(ts, last);
        last = ts;
        if (rec.type() == RecordType::PyCall && names.at(rec.as<wire::PyCall>().codeId) == "mark") {
            markCalls.push_back(ts);
        }
    }
    ASSERT_EQ(markCalls.size(), 2u);
    for (int k = 0; k < 2; ++k) {
        // The call is stamped just before the body reads the clock: within 0.2 ms of it.
        EXPECT_LE(markCalls[k], printed[k] + 200'000) << "mark " << k;
        EXPECT_GE(markCalls[k] + 200'000, printed[k]) << "mark " << k;
    }
}

TEST(Probe, ThreadsStartedLaterAreTraced) {
    RunOptions o;
    o.script = "import threading\n"
               "def work():\n    return sum(range(10))\n"
               "t = threading.Thread(target=work)\nt.start()\nt.join()\nprint('ok')\n";
    o.welcome = welcome(wire::TraceMode::Full, false);
    const RunResult r = runTraced(o);
    ASSERT_TRUE(r.streamClean) << describe(r);
    const auto names = r.codeNames();
    std::set<std::uint32_t> workTids;
    for (const Record* rec : r.ofType(RecordType::PyCall)) {
        if (names.at(rec->as<wire::PyCall>().codeId) == "work") {
            workTids.insert(rec->tid);
        }
    }
    ASSERT_EQ(workTids.size(), 1u);
    EXPECT_NE(*workTids.begin(), r.hello.pid) << "work() ran on the new thread";
    bool named = false;
    for (const Record* rec : r.ofType(RecordType::ThreadInfo)) {
        named = named || rec->as<wire::ThreadInfo>().tid == *workTids.begin();
    }
    EXPECT_TRUE(named) << "ThreadInfo for the new thread";
}

// Several threads share code objects and strings: every id is defined on the wire before the
// first record that uses it, whichever thread interned it, and every thread's calls nest.
TEST(Probe, ManyThreadsDefinitionsPrecedeUseAndCallsNest) {
    RunOptions o;
    o.script = "import threading\n"
               "def leaf(x):\n    return x * 2\n"
               "def work(n):\n"
               "    s = 0\n"
               "    for i in range(n):\n"
               "        f = eval('lambda y: leaf(y) + %d' % (i % 50))\n"
               "        s += f(i)\n"
               "    return s\n"
               "ts = [threading.Thread(target=work, args=(3000,)) for _ in range(8)]\n"
               "for t in ts: t.start()\n"
               "for t in ts: t.join()\n"
               "print('ok')\n";
    o.welcome = welcome(wire::TraceMode::Full, false, true);
    const RunResult r = runTraced(o);
    ASSERT_TRUE(r.streamClean) << describe(r);
    EXPECT_EQ(r.out, "ok\n");
    std::set<std::uint32_t> codes, strings;
    std::map<std::uint32_t, int> depth;
    std::set<std::uint32_t> workers;
    const auto names = r.codeNames();
    for (const auto& rec : r.records) {
        switch (rec.type()) {
        case RecordType::String: strings.insert(rec.as<wire::String>().stringId); break;
        case RecordType::PyCode: {
            const auto c = rec.as<wire::PyCode>();
            ASSERT_TRUE(strings.count(c.nameId) && strings.count(c.qualnameId) && strings.count(c.fileId));
            codes.insert(c.codeId);
            break;
        }
        case RecordType::PyCall: {
            const auto id = rec.as<wire::PyCall>().codeId;
            ASSERT_TRUE(codes.count(id)) << "code " << id << " used before its definition";
            ++depth[rec.tid];
            if (names.at(id) == "work") {
                workers.insert(rec.tid);
            }
            break;
        }
        case RecordType::PyReturn:
            ASSERT_TRUE(codes.count(rec.as<wire::PyReturn>().codeId));
            --depth[rec.tid];
            break;
        case RecordType::CCall:
            ASSERT_TRUE(strings.count(rec.as<wire::CCall>().nameId));
            ASSERT_TRUE(strings.count(rec.as<wire::CCall>().ownerId));
            break;
        default: break;
        }
    }
    EXPECT_EQ(workers.size(), 8u);
    for (std::uint32_t tid : workers) {
        EXPECT_EQ(depth[tid], 0) << "thread " << tid << " calls and returns balance";
    }
}

// Thread slots outlive their threads until drained, then serve new threads: 200 short-lived
// threads in turn all get their events through.
TEST(Probe, ShortLivedThreadsAllGetThrough) {
    RunOptions o;
    o.script = "import threading\n"
               "def f():\n    return 1\n"
               "for i in range(200):\n"
               "    t = threading.Thread(target=f)\n    t.start()\n    t.join()\n"
               "print('ok')\n";
    o.welcome = welcome(wire::TraceMode::Full, false, true);
    const RunResult r = runTraced(o);
    ASSERT_TRUE(r.streamClean) << describe(r);
    EXPECT_EQ(r.out, "ok\n");
    const auto names = r.codeNames();
    std::set<std::uint32_t> tids;
    int calls = 0;
    for (const Record* rec : r.ofType(RecordType::PyCall)) {
        if (names.at(rec->as<wire::PyCall>().codeId) == "f") {
            tids.insert(rec->tid);
            ++calls;
        }
    }
    EXPECT_EQ(calls, 200);
    EXPECT_EQ(tids.size(), 200u);
}

TEST(Probe, DropsAreCountedExactly) {
    const std::string script = "def f():\n    pass\n"
                               "for i in range(20000):\n    f()\n"
                               "print('done')\n";
    auto events = [](const RunResult& r) {
        std::uint64_t n = 0;
        for (const auto& rec : r.records) {
            n += isEvent(rec.type());
        }
        return n;
    };
    RunOptions lossless;
    lossless.script = script;
    lossless.welcome = welcome(wire::TraceMode::Full, false, true);
    lossless.env = {{"LAYERTRACE_BUFFER_SIZE", "4096"}};
    const RunResult all = runTraced(lossless);
    ASSERT_TRUE(all.streamClean) << describe(all);
    EXPECT_EQ(all.ofType(RecordType::Goodbye)[0]->as<wire::Goodbye>().totalDropped, 0u);
    EXPECT_TRUE(all.ofType(RecordType::Dropped).empty());

    RunOptions tiny = lossless;
    tiny.welcome = welcome(wire::TraceMode::Full, false, false);
    const RunResult some = runTraced(tiny);
    ASSERT_TRUE(some.streamClean) << describe(some);
    EXPECT_EQ(some.out, "done\n");
    std::uint64_t reported = 0;
    for (const Record* d : some.ofType(RecordType::Dropped)) {
        reported += d->as<wire::Dropped>().count;
    }
    const std::uint64_t total = some.ofType(RecordType::Goodbye)[0]->as<wire::Goodbye>().totalDropped;
    EXPECT_GT(total, 0u) << "a 4 KiB ring must overflow";
    // A Dropped record travels with the thread's next event that fits, so drops after the last
    // time the sender made room are only in Goodbye's total. How many are carried by records
    // depends on when the sender ran (none at all when it never ran during the loop, as on a
    // loaded machine); the records never claim more than the total.
    EXPECT_LE(reported, total);
    // Nothing is lost silently: delivered + dropped is what the lossless run delivered.
    EXPECT_EQ(events(some) + total, events(all));
}

// --lossless never waits for space that cannot exist: a stack record larger than a 1 KiB ring
// is dropped (and counted), and the program finishes.
TEST(Probe, LosslessNeverWaitsForTheImpossible) {
    RunOptions o;
    o.script = "import _ctypes, ctypes\n"
               "def deep(n):\n    return deep(n - 1) if n else _ctypes.alignment(ctypes.c_int)\n"
               "print(deep(200))\n";
    o.welcome = welcome(wire::TraceMode::Anchored, true, true);
    o.env = {{"LAYERTRACE_BUFFER_SIZE", "1024"}};
    o.timeoutSeconds = 60;
    const RunResult r = runTraced(o);
    ASSERT_TRUE(r.streamClean) << describe(r);
    EXPECT_EQ(r.out, "4\n");
    EXPECT_GT(r.ofType(RecordType::Goodbye)[0]->as<wire::Goodbye>().totalDropped, 0u);
}

TEST(Probe, InertWithoutSocket) {
    RunOptions o;
    o.connectProbe = false;
    o.script = "import os\nprint(len(os.listdir('/proc/self/task')), os.environ.get('LD_PRELOAD') is not None)\n";
    const RunResult r = runTraced(o);
    EXPECT_FALSE(r.connected);
    EXPECT_EQ(r.exitCode, 0);
    EXPECT_EQ(r.out, "1 True\n") << "no sender thread; environment untouched";
    EXPECT_EQ(r.err, "");
}

TEST(Probe, ChildrenDoNotInheritTheSession) {
    RunOptions o;
    o.script = "import os\nprint(os.environ.get('LAYERTRACE_SOCKET'), os.environ.get('LD_PRELOAD'))\n";
    o.welcome = welcome(wire::TraceMode::Anchored, false);
    const RunResult r = runTraced(o);
    ASSERT_TRUE(r.streamClean) << describe(r);
    EXPECT_EQ(r.out, "None None\n");
}

TEST(Probe, ExitStatusInGoodbye) {
    RunOptions o;
    o.script = "import sys\nprint('leaving')\nsys.exit(7)\n";
    o.welcome = welcome(wire::TraceMode::Full, false);
    const RunResult r = runTraced(o);
    ASSERT_TRUE(r.streamClean) << describe(r);
    EXPECT_EQ(r.exitCode, 7);
    const auto bye = r.ofType(RecordType::Goodbye);
    ASSERT_EQ(bye.size(), 1u);
    EXPECT_EQ(bye[0]->as<wire::Goodbye>().exitStatus, 7);
    EXPECT_TRUE(bye[0]->as<wire::Goodbye>().flags & wire::kGoodbyeExitStatusKnown);

    o.script = "raise RuntimeError('uncaught')\n";
    const RunResult raised = runTraced(o);
    ASSERT_TRUE(raised.streamClean) << describe(raised);
    EXPECT_EQ(raised.exitCode, 1);
    EXPECT_EQ(raised.ofType(RecordType::Goodbye)[0]->as<wire::Goodbye>().exitStatus, 1);
}

TEST(Probe, TracerVanishingMidStreamDoesNotHurtTheProgram) {
    RunOptions o;
    o.script = "def f(x):\n    return x + 1\n"
               "s = 0\n"
               "for i in range(300000):\n    s = f(s)\n"
               "print(s)\n";
    o.welcome = welcome(wire::TraceMode::Full, true);
    o.closeAfterBytes = 64 * 1024;
    o.timeoutSeconds = 60;
    const RunResult r = runTraced(o);
    EXPECT_FALSE(r.timedOut);
    EXPECT_EQ(r.exitCode, 0) << describe(r);
    EXPECT_EQ(r.out, "300000\n");
    // Reported once, on stderr, and nothing else there.
    const auto first = r.err.find("layertrace-probe:");
    ASSERT_NE(first, std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("layertrace-probe:", first + 1), std::string::npos) << r.err;
}

// A tracer that hangs (connected, not reading): the program is never blocked; events are
// dropped, and its exit waits for the probe at most about a second.
TEST(Probe, HungTracerNeverBlocksTheProgram) {
    RunOptions o;
    o.script = "import time\n"
               "def f(x):\n    return x + 1\n"
               "t = time.monotonic()\n"
               "s = 0\n"
               "for i in range(300000):\n    s = f(s)\n"
               "print(s, time.monotonic() - t < 10)\n";
    o.welcome = welcome(wire::TraceMode::Full, false);
    o.stallAfterBytes = 0;
    o.timeoutSeconds = 60;
    const RunResult r = runTraced(o);
    EXPECT_FALSE(r.timedOut);
    EXPECT_EQ(r.exitCode, 0) << describe(r);
    EXPECT_EQ(r.out, "300000 True\n");
    EXPECT_LT(r.childSeconds, 10.0);
}

TEST(Probe, DetachStopsTracingAndTheProgramGoesOn) {
    RunOptions o;
    o.script = "def f(x):\n    return x + 1\n"
               "s = 0\n"
               "for i in range(300000):\n    s = f(s)\n"
               "print(s)\n";
    o.welcome = welcome(wire::TraceMode::Full, false);
    o.detachAfterBytes = 32 * 1024;
    const RunResult r = runTraced(o);
    ASSERT_TRUE(r.streamClean) << describe(r);
    EXPECT_EQ(r.exitCode, 0);
    EXPECT_EQ(r.out, "300000\n");
    EXPECT_EQ(r.err, "");
    const auto bye = r.ofType(RecordType::Goodbye);
    ASSERT_EQ(bye.size(), 1u);
    EXPECT_EQ(&r.records.back(), bye[0]);
    EXPECT_TRUE(bye[0]->as<wire::Goodbye>().flags & wire::kGoodbyeDetached);
    // The program goes on after the detach; only when it has already exited while a slow tracer
    // was still taking the detach's last drain (the exit waits for it) does the Goodbye carry a
    // status, and then the real one.
    if (bye[0]->as<wire::Goodbye>().flags & wire::kGoodbyeExitStatusKnown) {
        EXPECT_EQ(bye[0]->as<wire::Goodbye>().exitStatus, 0);
    }
    // It stopped early: far fewer than the 600,000 call/return events of the whole loop.
    EXPECT_LT(r.ofType(RecordType::PyCall).size(), 200000u);
}

// Calls into a library through ctypes (ffi_call), the function's address on the first line of
// stdout, then `after` (Python).
std::string callFixtureScript(int calls, const std::string& after) {
    return "import ctypes, _ctypes\n"
           "lib = ctypes.CDLL('" LAYERTRACE_UNLOAD_FIXTURE "')\n"
           "f = lib.fixture_twice\n"
           "print(ctypes.cast(f, ctypes.c_void_p).value, flush=True)\n"
           "total = 0\n"
           "for i in range(" + std::to_string(calls) + "):\n    total += f(i)\n" + after;
}

std::size_t ffiCallsTo(const RunResult& r, std::uint64_t target, std::size_t before = SIZE_MAX) {
    std::size_t n = 0;
    for (std::size_t i = 0; i < r.records.size() && i < before; ++i) {
        n += r.records[i].type() == RecordType::FfiCall && r.records[i].as<wire::FfiCall>().target == target;
    }
    return n;
}

TEST(Probe, ModuleUnmapFollowsTheEventsRecordedBeforeTheDlclose) {
    // The dlclose comes right after the last call: both in the same sender round, where the
    // unmap (metadata) used to be sent ahead of the ring holding the calls.
    for (int round = 0; round < 3; ++round) {
        RunOptions o;
        o.script = callFixtureScript(2000, "handle = lib._handle\n"
                                           "del f, lib\n"
                                           "_ctypes.dlclose(handle)\n"
                                           "print(total)\n");
        o.welcome = welcome(wire::TraceMode::Anchored, false, true);
        const RunResult r = runTraced(o);
        ASSERT_TRUE(r.streamClean) << describe(r);
        ASSERT_EQ(r.exitCode, 0) << describe(r);
        const std::uint64_t target = std::stoull(r.out.substr(0, r.out.find('\n')));
        std::uint32_t moduleId = 0;
        for (const Record* m : r.ofType(RecordType::ModuleMap)) {
            if (m->view().text().find("probe_unload_fixture") != std::string_view::npos) {
                moduleId = m->as<wire::ModuleMap>().moduleId;
            }
        }
        ASSERT_NE(moduleId, 0u) << "no ModuleMap for the fixture";
        std::size_t unmapAt = SIZE_MAX;
        for (std::size_t i = 0; i < r.records.size(); ++i) {
            if (r.records[i].type() == RecordType::ModuleUnmap &&
                r.records[i].as<wire::ModuleUnmap>().moduleId == moduleId) {
                unmapAt = i;
            }
        }
        ASSERT_NE(unmapAt, SIZE_MAX) << "no ModuleUnmap for the fixture";
        EXPECT_EQ(ffiCallsTo(r, target), 2000u);
        EXPECT_EQ(ffiCallsTo(r, target, unmapAt), 2000u) << "calls arrived after their library's unmap";
    }
}

TEST(Probe, FatalSignalFlushesTheRingsAndSaysGoodbye) {
    RunOptions o;
    o.script = callFixtureScript(2000, "ctypes.string_at(0)\n"); // SIGSEGV: reading address 0
    o.welcome = welcome(wire::TraceMode::Anchored, false, true);
    const RunResult r = runTraced(o);
    EXPECT_EQ(r.exitCode, 128 + SIGSEGV) << describe(r); // died of the signal, as without the probe
    ASSERT_TRUE(r.streamClean) << describe(r);
    const auto bye = r.ofType(RecordType::Goodbye);
    ASSERT_EQ(bye.size(), 1u);
    EXPECT_EQ(&r.records.back(), bye[0]);
    EXPECT_EQ(bye[0]->as<wire::Goodbye>().flags, wire::kGoodbyeFatalSignal);
    EXPECT_EQ(bye[0]->as<wire::Goodbye>().exitStatus, SIGSEGV);
    const std::uint64_t target = std::stoull(r.out.substr(0, r.out.find('\n')));
    EXPECT_EQ(ffiCallsTo(r, target), 2000u); // lossless: every call up to the crash
}

// Python: prints whether the interpreter evaluates frames with its default function.
const char* const kPrintEvalFunction =
    "import ctypes\n"
    "def eval_function():\n"
    "    api = ctypes.pythonapi\n"
    "    api.PyInterpreterState_Get.restype = ctypes.c_void_p\n"
    "    get = api._PyInterpreterState_GetEvalFrameFunc\n"
    "    get.restype, get.argtypes = ctypes.c_void_p, [ctypes.c_void_p]\n"
    "    default = ctypes.cast(api._PyEval_EvalFrameDefault, ctypes.c_void_p).value\n"
    "    return 'default' if get(api.PyInterpreterState_Get()) == default else 'hooked'\n";

// Full mode's eval-frame function is in while tracing and out after a detach (it takes itself
// out at the next Python call, with the GIL); the frames inside it at the detach return safely.
TEST(Probe, DetachGivesTheInterpreterItsEvalFunctionBack) {
    RunOptions o;
    o.script = std::string(kPrintEvalFunction) +
               "def f(x):\n    return x + 1\n"
               "def loop():\n"
               "    s = 0\n"
               "    for rounds in range(1, 20001):\n"
               "        for i in range(1000):\n            s = f(s)\n"
               "        if eval_function() == 'default':\n"
               "            return s == rounds * 1000, 'detached'\n"
               "    return s == rounds * 1000, 'never detached'\n"
               "print(eval_function())\n"
               "print(*loop())\n"
               "print(eval_function())\n";
    o.welcome = welcome(wire::TraceMode::Full, false);
    // Well past what importing ctypes sends (so the first check runs traced). The loop calls
    // until the eval function is given back, however slowly this harness reads (a sanitized
    // build read too slowly for a fixed-length loop to still be running at the detach).
    o.detachAfterBytes = 1024 * 1024;
    const RunResult r = runTraced(o);
    ASSERT_TRUE(r.streamClean) << describe(r);
    EXPECT_EQ(r.exitCode, 0);
    EXPECT_EQ(r.out, "hooked\nTrue detached\ndefault\n");
    const auto bye = r.ofType(RecordType::Goodbye);
    ASSERT_EQ(bye.size(), 1u);
    EXPECT_TRUE(bye[0]->as<wire::Goodbye>().flags & wire::kGoodbyeDetached);
}

// A detach whose final drain is still going out (a slow tracer) when the program exits: the
// exit waits for it like for its own drain (at most about a second), so the stream ends on a
// record boundary with the Goodbye instead of being cut inside a batch.
TEST(Probe, ExitDuringADetachWaitsForItsGoodbye) {
    RunOptions o;
    o.script = "def f(x):\n    return x + 1\n"
               "s = 0\n"
               "for i in range(300000):\n    s = f(s)\n"
               "print(s)\n";
    o.welcome = welcome(wire::TraceMode::Full, false);
    o.detachAfterBytes = 32 * 1024;
    o.readPauseMs = 5; // about 13 MB/s: the 1 MiB ring is full when the Detach arrives, and its
                       // last drain takes ~100 ms of the exit's 1 s
    const RunResult r = runTraced(o);
    ASSERT_TRUE(r.streamClean) << describe(r);
    EXPECT_EQ(r.exitCode, 0);
    EXPECT_EQ(r.out, "300000\n");
    // (On a loaded machine the loop may end before the sender even reads the Detach: then it is
    // a plain exit's Goodbye, without kGoodbyeDetached. Either way the stream ends with it.)
    const auto bye = r.ofType(RecordType::Goodbye);
    ASSERT_EQ(bye.size(), 1u);
    EXPECT_EQ(&r.records.back(), bye[0]);
}

// Full mode on 3.11 puts no profile function on any thread (none for threads started later
// either): the interpreter keeps specialising (a profile function would switch it to the
// tracing dispatch); Python calls come from the eval-frame function. With --c-calls all the
// profile function is back for C calls, and Python calls are still reported once each.
TEST(Probe, FullModeKeepsTheSpecialisingInterpreter) {
    const std::string script = std::string(kPrintEvalFunction) +
                               "import dis, sys, threading\n"
                               "def add(a, b):\n    return a + b\n"
                               "def check():\n"
                               "    for i in range(1000):\n        add(i, 1)\n"
                               "    ops = {i.opname for i in dis.get_instructions(add, adaptive=True)}\n"
                               "    print(eval_function(), 'BINARY_OP_ADD_INT' in ops, threading._profile_hook is None,\n"
                               "          sys.getprofile() is None)\n"
                               "t = threading.Thread(target=check)\nt.start()\nt.join()\n";
    RunOptions o;
    o.script = script;
    o.welcome = welcome(wire::TraceMode::Full, false, true);
    const RunResult r = runTraced(o);
    ASSERT_TRUE(r.streamClean) << describe(r);
    EXPECT_EQ(r.out, "hooked True True True\n");
    const auto names = r.codeNames();
    long adds = 0;
    for (const Record* rec : r.ofType(RecordType::PyCall)) {
        adds += names.at(rec->as<wire::PyCall>().codeId) == "add";
    }
    EXPECT_EQ(adds, 1000);

    o.welcome.flags |= wire::kWelcomeAllCCalls;
    const RunResult all = runTraced(o);
    ASSERT_TRUE(all.streamClean) << describe(all);
    EXPECT_EQ(all.out, "hooked False False True\n") << "--c-calls all: a profile function, and the eval-frame function";
    adds = 0;
    const auto allNames = all.codeNames();
    for (const Record* rec : all.ofType(RecordType::PyCall)) {
        adds += allNames.at(rec->as<wire::PyCall>().codeId) == "add";
    }
    EXPECT_EQ(adds, 1000) << "each Python call reported once";
}

// --lossless: the program's exit waits until the last event is sent, however slow the tracer
// (here its last ring of events takes about two seconds to go out, twice the 1 s exit budget of
// a lossy session), so the trace holds every call and ends with the Goodbye.
TEST(Probe, LosslessExitWaitsForEveryEvent) {
    RunOptions o;
    o.script = "def f(x):\n    return x + 1\n"
               "s = 0\n"
               "for i in range(20000):\n    s = f(s)\n"
               "print(s)\n";
    o.welcome = welcome(wire::TraceMode::Full, false, /*lossless=*/true);
    o.readPauseMs = 100; // at most 64 KiB a read: about 640 KB/s
    const RunResult r = runTraced(o);
    ASSERT_TRUE(r.streamClean) << describe(r);
    EXPECT_EQ(r.exitCode, 0);
    EXPECT_EQ(r.out, "20000\n");
    const auto names = r.codeNames();
    std::size_t calls = 0;
    for (const Record* rec : r.ofType(RecordType::PyCall)) {
        calls += names.at(rec->as<wire::PyCall>().codeId) == "f" ? 1 : 0;
    }
    EXPECT_EQ(calls, 20000u);
    EXPECT_TRUE(r.ofType(RecordType::Dropped).empty());
    ASSERT_EQ(r.ofType(RecordType::Goodbye).size(), 1u);
}

// --lossless against a slow tracer: the program waits for room in its ring asleep (a futex the
// sender wakes when it frees space), not spinning. The loop takes about two seconds of waiting
// for the tracer; a producer that yielded in a loop spent them on the CPU.
TEST(Probe, LosslessProducerSleepsWhileTheTracerIsSlow) {
    RunOptions o;
    o.script = "import time\n"
               "def f(x):\n    return x + 1\n"
               "cpu0, wall0 = time.process_time(), time.monotonic()\n"
               "s = 0\n"
               "for i in range(20000):\n    s = f(s)\n"
               "print(s, round(time.process_time() - cpu0, 3), round(time.monotonic() - wall0, 3))\n";
    o.welcome = welcome(wire::TraceMode::Full, false, /*lossless=*/true);
    o.readPauseMs = 100; // at most 64 KiB a read: about 640 KB/s
    o.env = {{"LAYERTRACE_BUFFER_SIZE", "65536"}}; // the loop's ~1 MB of events do not fit: it waits
    const RunResult r = runTraced(o);
    ASSERT_TRUE(r.streamClean) << describe(r);
    ASSERT_EQ(r.exitCode, 0);
    int result = 0;
    double cpu = 0, wall = 0;
    ASSERT_EQ(std::sscanf(r.out.c_str(), "%d %lf %lf", &result, &cpu, &wall), 3) << r.out;
    EXPECT_EQ(result, 20000);
    ASSERT_GT(wall, 0.5) << "the tracer did not slow the program down: nothing was tested";
    EXPECT_LT(cpu, wall / 4) << "CPU " << cpu << " s over " << wall << " s of a loop that mostly waits for the tracer";
    EXPECT_TRUE(r.ofType(RecordType::Dropped).empty());
}

TEST(Probe, ForkedChildDoesNotWriteIntoTheSession) {
    RunOptions o;
    o.script = "import os\n"
               "def f():\n    return sum(range(100))\n"
               "pid = os.fork()\n"
               "if pid == 0:\n"
               "    for i in range(20000):\n        f()\n"
               "    os._exit(3)\n"
               "_, status = os.waitpid(pid, 0)\n"
               "print(os.waitstatus_to_exitcode(status), f())\n";
    o.welcome = welcome(wire::TraceMode::Full, true, true); // lossless: a child that traced would hang
    const RunResult r = runTraced(o);
    ASSERT_TRUE(r.streamClean) << describe(r);
    EXPECT_EQ(r.out, "3 4950\n");
    std::set<std::uint32_t> tids;
    for (const Record* rec : r.ofType(RecordType::PyCall)) {
        tids.insert(rec->tid);
    }
    EXPECT_EQ(tids, std::set<std::uint32_t>{r.hello.pid}) << "only the parent's events";
}

// A listener run by another uid (SO_PEERCRED is taken at listen()) must be refused: the probe
// sends nothing, stays inert, and the program runs normally.
TEST(Probe, PeerWithAnotherUidIsRefused) {
    if (geteuid() != 0) {
        GTEST_SKIP() << "needs root to run a listener as another uid";
    }
    TempDir dir;
    const uid_t nobody = 65534;
    ASSERT_EQ(chown(dir.path().c_str(), nobody, nobody), 0);
    const std::string sock = dir.path() + "/probe.sock";
    int ready[2], report[2];
    ASSERT_EQ(pipe(ready), 0);
    ASSERT_EQ(pipe(report), 0);
    const pid_t server = fork();
    if (server == 0) {
        if (setgid(nobody) != 0 || setuid(nobody) != 0) {
            _exit(3);
        }
        const int l = socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::strncpy(addr.sun_path, sock.c_str(), sizeof addr.sun_path - 1);
        if (bind(l, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(l, 1) != 0) {
            _exit(4);
        }
        (void)!write(ready[1], "r", 1);
        const int c = accept(l, nullptr, nullptr);
        char buf[64];
        const ssize_t n = read(c, buf, sizeof buf); // the probe must close without a Hello
        const char verdict = n == 0 ? '0' : 'X';
        (void)!write(report[1], &verdict, 1);
        _exit(0);
    }
    close(ready[1]);
    close(report[1]);
    char r = 0;
    ASSERT_EQ(read(ready[0], &r, 1), 1) << "server did not start";

    const std::string script = dir.path() + "/s.py";
    {
        std::FILE* f = std::fopen(script.c_str(), "w");
        std::fputs("print(6 * 7)\n", f);
        std::fclose(f);
        chmod(script.c_str(), 0644);
    }
    int out[2];
    ASSERT_EQ(pipe(out), 0);
    const pid_t py = fork();
    if (py == 0) {
        dup2(out[1], 1);
        dup2(out[1], 2);
        setenv("LD_PRELOAD", probePath().c_str(), 1);
        setenv("LAYERTRACE_SOCKET", sock.c_str(), 1);
        execl(LAYERTRACE_PYTHON, LAYERTRACE_PYTHON, script.c_str(), static_cast<char*>(nullptr));
        _exit(127);
    }
    close(out[1]);
    std::string text;
    char buf[256];
    for (ssize_t n; (n = read(out[0], buf, sizeof buf)) > 0;) {
        text.append(buf, static_cast<std::size_t>(n));
    }
    int status = 0;
    waitpid(py, &status, 0);
    char verdict = 0;
    ASSERT_EQ(read(report[0], &verdict, 1), 1);
    waitpid(server, nullptr, 0);
    EXPECT_EQ(verdict, '0') << "the probe sent bytes to a foreign-uid peer";
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    EXPECT_NE(text.find("42\n"), std::string::npos) << text;
    EXPECT_NE(text.find("runs as uid 65534"), std::string::npos) << text;
}

// LLVM libunwind is linked into the probe statically and hidden: a pybind11 exception must
// still unwind through libgcc_s, with stacks being captured by libunwind around it.
TEST(Probe, CxxExceptionsThroughPybind11StillWork) {
    RunOptions o;
    o.script = "import sys\n"
               "sys.path.insert(0, '" LAYERTRACE_CXX_EXCEPTIONS_DIR "')\n"
               "import probe_cxx_exceptions as m\n"
               "caught = 0\n"
               "for i in range(100):\n"
               "    try:\n"
               "        m.throwing(i % 7)\n"
               "    except RuntimeError as e:\n"
               "        caught += str(e) == 'thrown from C++'\n"
               "print(caught)\n";
    o.welcome = welcome(wire::TraceMode::Full, true);
    const RunResult r = runTraced(o);
    ASSERT_TRUE(r.streamClean) << describe(r);
    EXPECT_EQ(r.exitCode, 0);
    EXPECT_EQ(r.out, "100\n");
    const auto strings = r.strings();
    int raises = 0;
    for (const Record* rec : r.ofType(RecordType::CRaise)) {
        raises += strings.at(rec->as<wire::CCall>().nameId) == "throwing";
    }
    EXPECT_EQ(raises, 100) << "each throw seen as a C function raising";
}

// The probe exports its entry points only: no unw_/_Unwind_ (LLVM libunwind stays hidden), no
// Capstone, no protocol or runtime symbol the host could bind to.
TEST(Probe, ExportsOnlyItsEntryPoints) {
    const std::string command = "nm -D --defined-only '" + probePath() + "'";
    std::FILE* pipe = popen(command.c_str(), "r");
    ASSERT_NE(pipe, nullptr);
    std::set<std::string> exported;
    char line[512];
    while (std::fgets(line, sizeof line, pipe) != nullptr) {
        std::string text(line);
        text.erase(text.find_last_not_of("\n") + 1);
        exported.insert(text.substr(text.rfind(' ') + 1));
    }
    ASSERT_EQ(pclose(pipe), 0);
    EXPECT_EQ(exported, (std::set<std::string>{"__libc_start_main", "_exit", "exit", "layertrace_probe_attach",
                                               // exec of the launched process is followed (exec_follow.cpp)
                                               "execve", "execv", "execvp", "execvpe", "execl", "execlp", "execle",
                                               "fexecve"}));
}

std::string pyenvPython(const char* version) {
    const char* home = std::getenv("HOME");
    const std::string path = std::string(home != nullptr ? home : "/root") + "/.pyenv/versions/" + version + "/bin/python3";
    return std::filesystem::exists(path) ? path : "";
}

TEST(Probe, PyenvPython311FullMode) {
    const std::string python = pyenvPython("3.11.7");
    if (python.empty()) {
        GTEST_SKIP() << "pyenv 3.11.7 not installed";
    }
    RunOptions o;
    o.python = python;
    o.script = "def f():\n    return 2\nprint(f() + f())\n";
    o.welcome = welcome(wire::TraceMode::Full, true);
    const RunResult r = runTraced(o);
    ASSERT_TRUE(r.streamClean) << describe(r);
    EXPECT_EQ(r.out, "4\n");
    EXPECT_EQ(r.hello.pythonVersionHex >> 8, 0x030b07u);
    const auto calls = pythonCalls(r, r.hello.pid);
    EXPECT_EQ(std::count(calls.begin(), calls.end(), "+f"), 2);
    EXPECT_EQ(std::count(calls.begin(), calls.end(), "-f"), 2);
}

TEST(Probe, PyenvPython311ReportsCallsTheInterpreterWouldInline) {
    const std::string python = pyenvPython("3.11.7");
    if (python.empty()) {
        GTEST_SKIP() << "pyenv 3.11.7 not installed";
    }
    expectCallsTheInterpreterWouldInline(python);
}

// 3.12+: the same records from sys.monitoring callbacks (method descriptors included).
TEST(Probe, Python312ThroughSysMonitoring) {
    const std::string python = pyenvPython("3.12.1");
    if (python.empty()) {
        GTEST_SKIP() << "pyenv 3.12.1 not installed";
    }
    RunOptions o;
    o.python = python;
    o.script = "import threading\n"
               "def g():\n    return 'abc'.upper()\n"
               "def f():\n    return g() + g()\n"
               "def boom():\n    raise ValueError('x')\n"
               "try:\n    boom()\nexcept ValueError:\n    pass\n"
               "t = threading.Thread(target=f)\nt.start()\nt.join()\n"
               "print(f(), len('xy'))\n";
    o.welcome = welcome(wire::TraceMode::Full, true);
    const RunResult r = runTraced(o);
    ASSERT_TRUE(r.streamClean) << describe(r);
    EXPECT_EQ(r.out, "ABCABC 2\n");
    EXPECT_EQ(r.hello.pythonVersionHex >> 16, 0x030cu);
    const auto calls = pythonCalls(r, r.hello.pid);
    std::vector<std::string> fg;
    for (const auto& c : calls) {
        if (c == "+f" || c == "-f" || c == "+g" || c == "-g") {
            fg.push_back(c);
        }
    }
    EXPECT_EQ(fg, (std::vector<std::string>{"+f", "+g", "-g", "+g", "-g", "-f"}));
    const auto names = r.codeNames();
    const auto strings = r.strings();
    bool boomRaised = false, otherThread = false, upper = false, len = false;
    for (const auto& rec : r.records) {
        if (rec.type() == RecordType::PyReturn && names.at(rec.as<wire::PyReturn>().codeId) == "boom") {
            boomRaised = rec.as<wire::PyReturn>().raised == 1;
        }
        if (rec.type() == RecordType::PyCall && names.at(rec.as<wire::PyCall>().codeId) == "f") {
            otherThread = otherThread || rec.tid != r.hello.pid;
        }
        if (rec.type() == RecordType::CCall) {
            const auto c = rec.as<wire::CCall>();
            upper = upper || (strings.at(c.nameId) == "upper" && strings.at(c.ownerId) == "str");
            len = len || (strings.at(c.nameId) == "len" && strings.at(c.ownerId) == "builtins");
        }
    }
    EXPECT_TRUE(boomRaised);
    EXPECT_TRUE(otherThread) << "threads are covered (sys.monitoring is process-wide)";
    EXPECT_TRUE(upper);
    EXPECT_TRUE(len);
    bool reported = false;
    for (const Record* rec : r.ofType(RecordType::Report)) {
        reported = reported || rec->view().text().find("sys.monitoring") != std::string_view::npos;
    }
    EXPECT_TRUE(reported) << "the missing Python frames in native stacks are reported";
}

// 3.12+ anchored mode: sys.monitoring delivers C calls only (no Python-frame callbacks at all).
TEST(Probe, Python312AnchoredSeesCCallsOnly) {
    const std::string python = pyenvPython("3.12.1");
    if (python.empty()) {
        GTEST_SKIP() << "pyenv 3.12.1 not installed";
    }
    RunOptions o;
    o.python = python;
    o.script = "def f():\n    return len('xy')\n"
               "print(f())\n";
    o.welcome = welcome(wire::TraceMode::Anchored, false);
    const RunResult r = runTraced(o);
    ASSERT_TRUE(r.streamClean) << describe(r);
    EXPECT_EQ(r.out, "2\n");
    EXPECT_TRUE(r.ofType(RecordType::PyCall).empty());
    EXPECT_TRUE(r.ofType(RecordType::PyReturn).empty());
    const auto strings = r.strings();
    bool len = false;
    for (const Record* rec : r.ofType(RecordType::CCall)) {
        len = len || strings.at(rec->as<wire::CCall>().nameId) == "len";
    }
    EXPECT_TRUE(len);
}

TEST(Probe, UnsupportedPythonIsReportedAndRunsNormally) {
    const std::string python = pyenvPython("3.10.13");
    if (python.empty()) {
        GTEST_SKIP() << "pyenv 3.10.13 not installed";
    }
    RunOptions o;
    o.python = python;
    o.script = "print(sum(range(5)))\n";
    o.welcome = welcome(wire::TraceMode::Full, false);
    const RunResult r = runTraced(o);
    ASSERT_TRUE(r.streamClean) << describe(r);
    EXPECT_EQ(r.out, "10\n");
    EXPECT_TRUE(r.ofType(RecordType::PyCall).empty());
    bool reported = false;
    for (const Record* rec : r.ofType(RecordType::Report)) {
        reported = reported || rec->view().text().find("3.10") != std::string_view::npos;
    }
    EXPECT_TRUE(reported);
}

} // namespace
} // namespace layertrace::probe::test
