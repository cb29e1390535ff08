// Event assembly tests: encoded record streams (as the probe sends them) become TraceEvents with
// the right kinds, roles, symbols, nesting depths, durations, FFI values, merged stacks and
// layer paths; malformed streams fail with the offset.
#include "stream_builder.h"
#include "test_helpers.h"

#include <layertrace/assembler.h>
#include <layertrace/errors.h>
#include <layertrace/formatters.h>
#include <layertrace/stream.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <map>

using namespace layertrace;
using namespace layertrace::tracer;
using test::StreamBuilder;
using wire::FfiType;

namespace {

constexpr std::uint64_t kFfiBase = 0x7f0000000000;
constexpr std::uint64_t kCtypesBase = 0x7f0100000000;
constexpr std::uint64_t kPlainBase = 0x7f0200000000;
constexpr std::uint64_t kExtBase = 0x7f0300000000;

// Addresses of real symbols at the biases above, computed with a separate symbolizer.
struct Addresses {
    std::uint64_t ffiCall, ctypesCaller, plainAdd, plainTwice, fixtureMethod, fixtureImpl, evalFrame, pyMain;
    Addresses() {
        Symbolizer s;
        ffiCall = s.addressOf(s.addModule(1, LIBFFI_SO, kFfiBase), "ffi_call");
        ctypesCaller = s.addressOf(s.addModule(2, CTYPES_EXT, kCtypesBase), "PyInit__ctypes") + 0x10;
        ModuleInfo& plain = s.addModule(3, FIXTURE_PLAIN, kPlainBase);
        plainAdd = s.addressOf(plain, "plain_add");
        plainTwice = s.addressOf(plain, "plain_twice");
        ModuleInfo& ext = s.addModule(4, FIXTURE_EXT, kExtBase);
        fixtureMethod = s.addressOf(ext, "fixture_method");
        fixtureImpl = s.addressOf(ext, "fixture_impl");
        ModuleInfo& py = s.addModule(5, PYTHON_EXE, 0);
        evalFrame = s.addressOf(py, "_PyEval_EvalFrameDefault");
        pyMain = s.addressOf(py, "Py_BytesMain");
    }
};

struct Fixture {
    test::TempTree app;
    std::string user, bindings;
    Addresses a;
    Symbolizer symbolizer;
    std::unique_ptr<Classifier> classifier;
    test::CollectingSink sink;
    std::unique_ptr<Assembler> assembler;
    std::vector<std::pair<std::uint32_t, std::string>> paths;

    Fixture() {
        user = app.write("user.py", "from mypkg.bindings import transform\n");
        app.write("mypkg/__init__.py", "");
        bindings = app.write("mypkg/bindings.py", "import ctypes\n");
        ClassifierOptions o;
        o.appDir = app.root();
        classifier = std::make_unique<Classifier>(o);
        assembler = std::make_unique<Assembler>(symbolizer, *classifier, sink);
    }

    // Module maps, strings, code objects and hooks every scenario uses.
    void preamble(StreamBuilder& s, std::uint32_t tid) {
        s.batch(tid)
            .moduleMap(1, LIBFFI_SO, kFfiBase)
            .moduleMap(2, CTYPES_EXT, kCtypesBase)
            .moduleMap(3, FIXTURE_PLAIN, kPlainBase)
            .moduleMap(4, FIXTURE_EXT, kExtBase)
            .moduleMap(5, PYTHON_EXE, 0)
            .string(1, "main").string(2, user).string(3, "transform").string(4, bindings)
            .string(5, "ffi_call").string(6, "plain_add").string(7, "method").string(8, "fixture_ext")
            .string(9, "fixture_impl").string(10, "plain_twice")
            .pyCode(10, 1, 2, 5).pyCode(11, 3, 4, 3)
            .hook(1, 5, 1, wire::HookKind::Ffi, a.ffiCall)
            .hook(2, 6, 3, wire::HookKind::TargetSymbol, a.plainAdd)
            .hook(3, 9, 4, wire::HookKind::TargetSymbol, a.fixtureImpl)
            .hook(4, 10, 3, wire::HookKind::TargetSymbol, a.plainTwice);
    }

    void feed(const std::vector<std::byte>& bytes) {
        StreamFeeder f(*assembler);
        f.feed(bytes.data(), bytes.size());
        f.finish();
    }

    std::vector<std::string> buildPaths() {
        std::vector<std::string> out;
        PathBuilder pb([&](std::uint32_t, const std::vector<Hop>& hops) { out.push_back(formatPath(hops)); });
        for (const auto& m : sink.modules) {
            pb.onModule(m);
        }
        for (const auto& e : sink.events) {
            pb.onEvent(e);
        }
        pb.finish();
        return out;
    }
};

std::string baseOf(const std::string& p) { return p.substr(p.rfind('/') + 1); }

} // namespace

TEST(Assembler, PartFourShapedCallAndExtensionCall) {
    Fixture fx;
    StreamBuilder s;
    fx.preamble(s, 100);
    s.pyCall(1000, 10, 5)
        .pyCall(1100, 11, 3)
        .ffiCall(1200, 1, fx.a.plainAdd, fx.a.ctypesCaller,
                 {StreamBuilder::value(FfiType::SInt32, 2), StreamBuilder::value(FfiType::SInt32, 0xfffffffd)})
        .nativeEnter(1300, 2, fx.a.plainAdd, fx.a.ffiCall + 0x40)
        .nativeExit(1400, 2, fx.a.plainAdd, 5)
        .ffiReturn(1500, fx.a.plainAdd, StreamBuilder::value(FfiType::SInt32, 0xffffffff))
        .pyReturn(1600, 11)
        .cCall(wire::RecordType::CCall, 1700, fx.a.fixtureMethod, 7, 8)
        .nativeEnter(1800, 3, fx.a.fixtureImpl, fx.a.fixtureMethod + 8)
        .nativeExit(1900, 3, fx.a.fixtureImpl, 7)
        .cCall(wire::RecordType::CReturn, 2000, fx.a.fixtureMethod, 7, 8)
        .pyReturn(2100, 10);
    fx.feed(s.bytes());

    const auto& ev = fx.sink.events;
    ASSERT_EQ(ev.size(), 12u);
    std::vector<EventKind> kinds;
    std::vector<std::uint32_t> depths;
    for (const auto& e : ev) {
        kinds.push_back(e.kind);
        depths.push_back(e.depth);
        EXPECT_EQ(e.tid, 100u);
    }
    using K = EventKind;
    EXPECT_EQ(kinds, (std::vector<K>{K::PyCall, K::PyCall, K::FfiCall, K::NativeEnter, K::NativeExit, K::FfiReturn,
                                     K::PyReturn, K::CCall, K::NativeEnter, K::NativeExit, K::CReturn, K::PyReturn}));
    EXPECT_EQ(depths, (std::vector<std::uint32_t>{0, 1, 2, 3, 3, 2, 1, 1, 2, 2, 1, 0}));
    for (std::size_t i = 0; i < ev.size(); ++i) {
        EXPECT_EQ(ev[i].seq, i);
    }

    EXPECT_EQ(ev[0].role, Role::App);
    EXPECT_EQ(ev[0].module, "user.py");
    EXPECT_EQ(ev[1].role, Role::Wrapper);
    EXPECT_EQ(ev[1].module, "mypkg/bindings.py");

    const TraceEvent& call = ev[2];
    EXPECT_EQ(call.role, Role::Ffi);
    EXPECT_EQ(call.symbol, "ffi_call");
    EXPECT_EQ(call.module, baseOf(LIBFFI_SO));
    ASSERT_EQ(call.args.size(), 2u);
    EXPECT_EQ(call.args[0].type, "int32");
    EXPECT_EQ(call.args[0].value, "2");
    EXPECT_EQ(call.args[1].value, "-3");
    EXPECT_EQ(call.target.symbol, "plain_add");
    EXPECT_EQ(call.target.role, Role::Native);
    EXPECT_EQ(call.caller.role, Role::Ext);
    EXPECT_EQ(call.caller.module, baseOf(CTYPES_EXT));
    EXPECT_EQ(call.pyFile, fx.bindings);

    EXPECT_EQ(ev[3].symbol, "plain_add");
    EXPECT_EQ(ev[3].role, Role::Native);
    EXPECT_EQ(ev[4].durationNs, 100u);
    ASSERT_TRUE(ev[5].ret.has_value());
    EXPECT_EQ(ev[5].ret->value, "-1");
    EXPECT_EQ(ev[5].durationNs, 300u);
    EXPECT_EQ(ev[5].symbol, "ffi_call"); // an exit names what its enter named

    EXPECT_EQ(ev[7].role, Role::Glue); // ml_meth of a PyCFunction
    EXPECT_EQ(ev[7].symbol, "fixture_method");
    EXPECT_EQ(ev[7].pyName, "fixture_ext.method");
    EXPECT_EQ(ev[8].role, Role::Native); // plain C inside the extension
    EXPECT_EQ(ev[8].symbol, "fixture_impl");
    EXPECT_NE(ev[8].sourceFile.find("fixture_ext.c"), std::string::npos); // DWARF of the -g fixture
    EXPECT_EQ(ev[8].sourceLine, 6); // first line of fixture_impl's body
    EXPECT_EQ(ev[11].durationNs, 1100u);

    const auto paths = fx.buildPaths();
    ASSERT_EQ(paths.size(), 2u);
    EXPECT_EQ(paths[0], "app user.py:main -> wrapper mypkg/bindings.py:transform -> ext " + baseOf(CTYPES_EXT) +
                            " -> ffi " + baseOf(LIBFFI_SO) + ":ffi_call -> native libfixture_plain.so:plain_add");
    EXPECT_EQ(paths[1], "app user.py:main -> glue fixture_ext.so:fixture_method -> native fixture_ext.so:fixture_impl");
}

TEST(Assembler, ExactCountsAndNestingOverManyBatchesAndThreads) {
    Fixture fx;
    StreamBuilder s;
    fx.preamble(s, 1);
    std::uint64_t ts = 10;
    for (int i = 0; i < 1000; ++i) {
        const std::uint32_t tid = i % 2 == 0 ? 1 : 2; // two threads, interleaved batches
        s.batch(tid)
            .ffiCall(ts, 1, fx.a.plainTwice, fx.a.ctypesCaller, {StreamBuilder::value(FfiType::SInt32, 1)})
            .nativeEnter(ts + 1, 4, fx.a.plainTwice, fx.a.ffiCall + 0x40)
            .nativeEnter(ts + 2, 2, fx.a.plainAdd, fx.a.plainTwice + 8)
            .nativeExit(ts + 3, 2, fx.a.plainAdd, 2)
            .nativeExit(ts + 4, 4, fx.a.plainTwice, 2)
            .ffiReturn(ts + 5, fx.a.plainTwice, StreamBuilder::value(FfiType::SInt32, 2));
        ts += 10;
    }
    fx.feed(s.bytes());
    std::map<std::string, int> counts;
    std::map<std::uint32_t, int> depth;
    for (const auto& e : fx.sink.events) {
        counts[std::string(kindName(e.kind)) + ":" + e.symbol]++;
        // Nesting: every enter at the current depth, every exit back to it.
        if (isEnter(e.kind)) {
            EXPECT_EQ(e.depth, static_cast<std::uint32_t>(depth[e.tid]++));
        } else if (isExit(e.kind)) {
            EXPECT_EQ(e.depth, static_cast<std::uint32_t>(--depth[e.tid]));
        }
    }
    EXPECT_EQ(counts["ffi_call:ffi_call"], 1000);
    EXPECT_EQ(counts["ffi_return:ffi_call"], 1000);
    EXPECT_EQ(counts["native_enter:plain_twice"], 1000);
    EXPECT_EQ(counts["native_exit:plain_twice"], 1000);
    EXPECT_EQ(counts["native_enter:plain_add"], 1000);
    EXPECT_EQ(counts["native_exit:plain_add"], 1000);
    EXPECT_EQ(depth[1], 0);
    EXPECT_EQ(depth[2], 0);
    const auto paths = fx.buildPaths();
    EXPECT_EQ(paths.size(), 1000u);
    // Nested calls inside the library appear after the target, in order.
    EXPECT_NE(paths[0].find("native libfixture_plain.so:plain_twice -> native libfixture_plain.so:plain_add"),
              std::string::npos)
        << paths[0];
}

TEST(Assembler, StackMergeAndHonestFallback) {
    Fixture fx;
    StreamBuilder s;
    fx.preamble(s, 7);
    // One eval frame running both Python frames: merged in place.
    s.nativeEnter(10, 2, fx.a.plainAdd, fx.a.ffiCall + 0x40)
        .stack({fx.a.plainAdd, fx.a.ffiCall + 0x40, fx.a.evalFrame + 0x30, fx.a.pyMain + 0x10},
               {wire::PyFrameRef{11, 3}, wire::PyFrameRef{10, 9}})
        .nativeExit(20, 2, fx.a.plainAdd, 0)
        // Two eval frames, three Python frames: no certain split, keep both and flag.
        .nativeEnter(30, 2, fx.a.plainAdd, fx.a.ffiCall + 0x40)
        .stack({fx.a.plainAdd, fx.a.evalFrame + 0x30, fx.a.evalFrame + 0x50},
               {wire::PyFrameRef{11, 3}, wire::PyFrameRef{10, 9}, wire::PyFrameRef{10, 12}})
        .nativeExit(40, 2, fx.a.plainAdd, 0);
    fx.feed(s.bytes());
    ASSERT_EQ(fx.sink.events.size(), 4u);
    const TraceEvent& merged = fx.sink.events[0];
    EXPECT_TRUE(merged.stackMerged);
    ASSERT_EQ(merged.stack.size(), 5u);
    EXPECT_EQ(merged.stack[0].function, "plain_add");
    EXPECT_EQ(merged.stack[1].function, "ffi_call");
    EXPECT_TRUE(merged.stack[2].python);
    EXPECT_EQ(merged.stack[2].function, "transform");
    EXPECT_EQ(merged.stack[2].role, Role::Wrapper);
    EXPECT_EQ(merged.stack[2].line, 3);
    EXPECT_EQ(merged.stack[3].function, "main");
    EXPECT_EQ(merged.stack[4].function, "Py_BytesMain");
    EXPECT_EQ(merged.stack[4].role, Role::Capi);
    EXPECT_EQ(merged.pyFile, fx.bindings); // anchored: the caller comes from the stack
    EXPECT_EQ(merged.pyLine, 3);

    const TraceEvent& unmerged = fx.sink.events[2];
    EXPECT_FALSE(unmerged.stackMerged);
    EXPECT_TRUE(unmerged.stackUnmerged);
    EXPECT_EQ(unmerged.stack.size(), 6u);
    EXPECT_EQ(unmerged.stack[1].function, "_PyEval_EvalFrameDefault");
    EXPECT_TRUE(unmerged.stack[3].python);
}

TEST(Assembler, AnchoredPathUsesStackPythonFrames) {
    Fixture fx;
    StreamBuilder s;
    fx.preamble(s, 7);
    s.ffiCall(10, 1, fx.a.plainAdd, fx.a.ctypesCaller, {})
        .stack({fx.a.ffiCall, fx.a.ctypesCaller, fx.a.evalFrame + 0x30},
               {wire::PyFrameRef{11, 3}, wire::PyFrameRef{10, 9}})
        .ffiReturn(20, fx.a.plainAdd, StreamBuilder::value(FfiType::Void, 0, 0));
    fx.feed(s.bytes());
    const auto paths = fx.buildPaths();
    ASSERT_EQ(paths.size(), 1u);
    EXPECT_EQ(paths[0].rfind("app user.py:main -> wrapper mypkg/bindings.py:transform -> ext ", 0), 0u) << paths[0];
}

// Every thread's events nest strictly: each exit closes the innermost open call, at its depth.
void expectStrictNesting(const std::vector<TraceEvent>& events) {
    std::map<std::uint32_t, std::vector<const TraceEvent*>> open;
    for (const TraceEvent& e : events) {
        auto& stack = open[e.tid];
        if (isEnter(e.kind)) {
            EXPECT_EQ(e.depth, stack.size()) << "enter #" << e.seq;
            stack.push_back(&e);
        } else if (isExit(e.kind)) {
            ASSERT_FALSE(stack.empty()) << "exit #" << e.seq << " with nothing open";
            EXPECT_EQ(e.depth, stack.size() - 1) << "exit #" << e.seq;
            EXPECT_EQ(e.symbol, stack.back()->symbol) << "exit #" << e.seq << " names another call";
            stack.pop_back();
        }
    }
}

// The exits the assembler made (lost) and threw away (orphans), and the nesting that results.
void expectExitAccounting(const Fixture& fx, std::uint64_t lost, std::uint64_t orphans) {
    EXPECT_EQ(fx.assembler->lostExits(), lost);
    EXPECT_EQ(fx.assembler->orphanExits(), orphans);
    expectStrictNesting(fx.sink.events);
}

TEST(Assembler, DroppedUnwoundAndUnmatchedExits) {
    Fixture fx;
    StreamBuilder s;
    fx.preamble(s, 9);
    s.nativeEnter(10, 4, fx.a.plainTwice, 0)
        .nativeEnter(11, 2, fx.a.plainAdd, 0)
        // plain_add was left by longjmp without an exit; plain_twice's exit closes both, and
        // plain_add's exit is made (lost) before it.
        .nativeExit(30, 4, fx.a.plainTwice, 0, /*unwound=*/true)
        .dropped(17)
        .nativeExit(40, 2, fx.a.plainAdd, 0); // nothing open: its enter was lost, so it is not delivered
    fx.feed(s.bytes());
    const auto& ev = fx.sink.events;
    ASSERT_EQ(ev.size(), 5u);
    EXPECT_EQ(ev[2].kind, EventKind::NativeExit);
    EXPECT_TRUE(ev[2].lost);
    EXPECT_EQ(ev[2].symbol, "plain_add");
    EXPECT_EQ(ev[2].depth, 1u);
    EXPECT_EQ(ev[2].tsNs, 30u);
    EXPECT_EQ(ev[2].durationNs, 19u);
    EXPECT_FALSE(ev[2].unwound);
    EXPECT_TRUE(ev[3].unwound);
    EXPECT_FALSE(ev[3].lost);
    EXPECT_EQ(ev[3].depth, 0u);
    EXPECT_EQ(ev[3].durationNs, 20u);
    EXPECT_FALSE(ev[3].ret.has_value());
    EXPECT_EQ(ev[4].kind, EventKind::Dropped);
    EXPECT_EQ(ev[4].dropped, 17u);
    EXPECT_EQ(fx.sink.dropped, 17u);
    EXPECT_EQ(fx.assembler->droppedTotal(), 17u);
    expectExitAccounting(fx, 1, 1);
}

TEST(Assembler, DroppedInnerExitsBecomeLostExitsBeforeTheOuterExit) {
    Fixture fx;
    StreamBuilder s;
    fx.preamble(s, 7);
    s.pyCall(100, 10, 5)
        .pyCall(110, 11, 3)
        .ffiCall(120, 1, fx.a.plainTwice, fx.a.ctypesCaller, {})
        .nativeEnter(130, 4, fx.a.plainTwice, fx.a.ffiCall + 0x40)
        .nativeEnter(140, 2, fx.a.plainAdd, fx.a.plainTwice + 8)
        // The probe dropped plain_add's and plain_twice's exits, ffi_call's return and transform's.
        .dropped(4)
        .pyReturn(200, 10);
    fx.feed(s.bytes());
    const auto& ev = fx.sink.events;
    ASSERT_EQ(ev.size(), 11u);
    EXPECT_EQ(ev[5].kind, EventKind::Dropped);
    const EventKind lostKinds[] = {EventKind::NativeExit, EventKind::NativeExit, EventKind::FfiReturn,
                                   EventKind::PyReturn};
    const char* lostSymbols[] = {"plain_add", "plain_twice", "ffi_call", "transform"};
    for (std::size_t i = 0; i < 4; ++i) {
        const TraceEvent& e = ev[6 + i];
        SCOPED_TRACE("lost exit " + std::to_string(i));
        EXPECT_EQ(e.kind, lostKinds[i]);
        EXPECT_TRUE(e.lost);
        EXPECT_EQ(e.symbol, lostSymbols[i]);
        EXPECT_EQ(e.depth, 4 - i);
        EXPECT_EQ(e.tsNs, 200u); // when the outer exit showed they were over
        EXPECT_EQ(e.tid, 7u);
        EXPECT_EQ(e.seq, 6 + i);
        EXPECT_EQ(e.role, ev[4 - i].role); // named like its enter
        EXPECT_EQ(e.module, ev[4 - i].module);
    }
    EXPECT_EQ(ev[6].durationNs, 60u);
    EXPECT_EQ(ev[6].address, fx.a.plainAdd);
    EXPECT_EQ(ev[6].pyFile, fx.bindings); // the innermost open Python frame, as a real exit
    EXPECT_EQ(ev[8].target.symbol, "plain_twice");
    EXPECT_EQ(ev[9].pyFile, fx.bindings);
    EXPECT_EQ(ev[9].role, Role::Wrapper);
    EXPECT_EQ(ev[10].kind, EventKind::PyReturn);
    EXPECT_FALSE(ev[10].lost);
    EXPECT_EQ(ev[10].symbol, "main");
    EXPECT_EQ(ev[10].depth, 0u);
    expectExitAccounting(fx, 4, 0);
}

// A detach that settles at once (RunOptions::skipBacklogOnDetach): the records fed while
// skimming deliver no events but one Dropped event per thread counting them, and what they
// defined (a code object named only there) serves the events after them.
TEST(Assembler, SkimmedEventsBecomeOneDroppedEventAndTheirDefinitionsAreKept) {
    Fixture fx;
    StreamBuilder before;
    fx.preamble(before, 9);
    before.pyCall(100, 10, 5).pyCall(110, 11, 3);
    StreamBuilder skimmed(/*withHello=*/false);
    skimmed.batch(9)
        .stack({}, {}) // transform's own stack, before the first skimmed event: still attached
        .string(11, "helper")
        .pyCode(12, 11, 4, 7)
        .pyReturn(120, 11) // transform's exit: skimmed, so transform stays open
        .pyCall(130, 12, 7)
        .stack({}, {})
        .pyReturn(140, 12)
        .batch(3)
        .pyCall(150, 10, 5);
    StreamBuilder after(/*withHello=*/false);
    after.batch(9).pyCall(200, 12, 7).pyReturn(210, 12).pyReturn(220, 10);

    StreamFeeder feeder(*fx.assembler);
    feeder.feed(before.bytes().data(), before.bytes().size());
    fx.assembler->setSkimming(true);
    feeder.feed(skimmed.bytes().data(), skimmed.bytes().size());
    EXPECT_EQ(fx.sink.events.size(), 2u) << "skimmed records deliver no events";
    fx.assembler->setSkimming(false);
    feeder.feed(after.bytes().data(), after.bytes().size());
    feeder.finish();

    const auto& ev = fx.sink.events;
    std::vector<std::pair<EventKind, std::uint32_t>> kindsAndTids;
    for (const TraceEvent& e : ev) {
        kindsAndTids.emplace_back(e.kind, e.tid);
    }
    using K = EventKind;
    EXPECT_EQ(kindsAndTids, (std::vector<std::pair<K, std::uint32_t>>{{K::PyCall, 9}, {K::PyCall, 9}, {K::Dropped, 3},
                                                                      {K::Dropped, 9}, {K::PyCall, 9}, {K::PyReturn, 9},
                                                                      {K::PyReturn, 9}, {K::PyReturn, 9}}));
    ASSERT_EQ(ev.size(), 8u);
    EXPECT_EQ(ev[2].dropped, 1u);
    EXPECT_EQ(ev[3].dropped, 3u);
    EXPECT_EQ(ev[3].depth, 2u); // main and transform were open when the gap began
    EXPECT_EQ(ev[4].symbol, "helper") << "named by a PyCode record that came while skimming";
    EXPECT_EQ(ev[4].depth, 2u);
    EXPECT_TRUE(ev[6].lost) << "transform's exit was skimmed: made when main returns";
    EXPECT_EQ(ev[6].symbol, "transform");
    EXPECT_EQ(ev[7].symbol, "main");
    EXPECT_FALSE(ev[7].lost);
    EXPECT_EQ(fx.assembler->skimmedTotal(), 4u);
    EXPECT_EQ(fx.sink.dropped, 4u);
    EXPECT_EQ(fx.assembler->droppedTotal(), 0u) << "the probe dropped nothing";
    expectExitAccounting(fx, 1, 0);
}

TEST(Assembler, OrphanExitsAreStillDiscardedAndCounted) {
    Fixture fx;
    StreamBuilder s;
    fx.preamble(s, 3);
    s.dropped(3)
        .nativeExit(10, 2, fx.a.plainAdd, 0)
        .ffiReturn(11, fx.a.plainAdd, StreamBuilder::value(FfiType::SInt32, 1))
        .pyReturn(12, 10)
        .nativeEnter(20, 4, fx.a.plainTwice, 0)
        .nativeExit(21, 2, fx.a.plainAdd, 0) // plain_twice is open, but this is not its exit
        .nativeExit(22, 4, fx.a.plainTwice, 0);
    fx.feed(s.bytes());
    const auto& ev = fx.sink.events;
    ASSERT_EQ(ev.size(), 3u);
    EXPECT_EQ(ev[0].kind, EventKind::Dropped);
    EXPECT_EQ(ev[2].kind, EventKind::NativeExit);
    EXPECT_FALSE(ev[2].lost);
    expectExitAccounting(fx, 0, 4);
}

TEST(Assembler, CallsOpenAtTheEndOfTheStreamGetLostExits) {
    Fixture fx;
    StreamBuilder s;
    fx.preamble(s, 5);
    s.pyCall(100, 10, 5).nativeEnter(110, 4, fx.a.plainTwice, 0);
    fx.preamble(s, 6);
    s.nativeEnter(50, 2, fx.a.plainAdd, 0).nativeExit(60, 2, fx.a.plainAdd, 0).nativeEnter(70, 2, fx.a.plainAdd, 0);
    fx.feed(s.bytes());
    const auto& ev = fx.sink.events;
    ASSERT_EQ(ev.size(), 8u);
    std::size_t lost = 0;
    for (const TraceEvent& e : ev) {
        if (e.lost) {
            ++lost;
            EXPECT_EQ(e.tsNs, e.tid == 5 ? 110u : 70u) << "closed at its thread's last event";
        }
    }
    EXPECT_EQ(lost, 3u);
    expectExitAccounting(fx, 3, 0);
    for (std::uint32_t tid : {5u, 6u}) {
        EXPECT_EQ(std::count_if(ev.begin(), ev.end(), [&](const TraceEvent& e) { return e.tid == tid && isEnter(e.kind); }),
                  std::count_if(ev.begin(), ev.end(), [&](const TraceEvent& e) { return e.tid == tid && isExit(e.kind); }));
    }
}

TEST(Assembler, AnExitIsNamedByItsEnterAfterTheCachesWereCleared) {
    Fixture fx;
    StreamBuilder s;
    fx.preamble(s, 4);
    // A module map between enter and exit clears the description cache; the call keeps its own.
    s.cCall(wire::RecordType::CCall, 10, fx.a.fixtureMethod, 7, 8)
        .nativeEnter(11, 3, fx.a.fixtureImpl, fx.a.fixtureMethod + 8)
        .moduleMap(6, CTYPES_EXT, kCtypesBase + 0x100000000)
        .nativeExit(12, 3, fx.a.fixtureImpl, 0)
        .moduleUnmap(6)
        .cCall(wire::RecordType::CReturn, 13, fx.a.fixtureMethod, 7, 8);
    fx.feed(s.bytes());
    const auto& ev = fx.sink.events;
    ASSERT_EQ(ev.size(), 4u);
    for (std::size_t exit : {2u, 3u}) {
        const TraceEvent& enter = ev[3 - exit];
        const TraceEvent& e = ev[exit];
        SCOPED_TRACE("exit " + std::to_string(exit));
        EXPECT_EQ(e.symbol, enter.symbol);
        EXPECT_EQ(e.module, enter.module);
        EXPECT_EQ(e.modulePath, enter.modulePath);
        EXPECT_EQ(e.role, enter.role);
        EXPECT_EQ(e.reason, enter.reason);
        EXPECT_EQ(e.pyName, enter.pyName);
    }
    EXPECT_EQ(ev[3].pyName, "fixture_ext.method");
    expectExitAccounting(fx, 0, 0);
}

TEST(Assembler, FfiValueFormatting) {
    auto v = [](FfiType t, std::uint64_t bits, std::uint32_t size = 8) {
        return formatFfiValue(StreamBuilder::value(t, bits, size));
    };
    EXPECT_EQ(v(FfiType::SInt8, 0xff).value, "-1");
    EXPECT_EQ(v(FfiType::UInt8, 0x1ff).value, "255");
    EXPECT_EQ(v(FfiType::UInt16, 0xffffffff).value, "65535");
    EXPECT_EQ(v(FfiType::SInt64, ~0ull).value, "-1");
    EXPECT_EQ(v(FfiType::Double, 0x3ff8000000000000ull).value, "1.5");
    EXPECT_EQ(v(FfiType::Float, 0x40200000ull).value, "2.5");
    EXPECT_EQ(v(FfiType::Pointer, 0x1234).value, "0x1234");
    EXPECT_EQ(v(FfiType::Struct, 0, 48).value, "size=48");
    EXPECT_EQ(v(FfiType::Struct, 0, 48).type, "struct");
    EXPECT_EQ(v(FfiType::Void, 0).type, "void");
}

TEST(StreamFeeder, ByteByByteEqualsWhole) {
    Fixture a, b;
    StreamBuilder s;
    a.preamble(s, 3);
    s.nativeEnter(10, 2, a.a.plainAdd, 0).nativeExit(20, 2, a.a.plainAdd, 4);
    const auto bytes = s.bytes();
    a.feed(bytes);
    StreamFeeder f(*b.assembler);
    for (const std::byte& x : bytes) {
        f.feed(&x, 1);
    }
    f.finish();
    ASSERT_EQ(a.sink.events.size(), b.sink.events.size());
    for (std::size_t i = 0; i < a.sink.events.size(); ++i) {
        EXPECT_EQ(eventToJson(a.sink.events[i]), eventToJson(b.sink.events[i]));
    }
}

TEST(StreamFeeder, MalformedStreamsNameTheOffset) {
    constexpr std::uint64_t kAfterHello = sizeof(wire::Hello);
    {
        Fixture fx;
        StreamBuilder s;
        s.batch(1).nativeEnter(10, 2, 0x1000, 0);
        auto bytes = s.bytes();
        std::memset(bytes.data() + kAfterHello, 0x41, 4); // batch magic
        StreamFeeder f(*fx.assembler, "test stream");
        try {
            f.feed(bytes.data(), bytes.size());
            FAIL() << "bad magic accepted";
        } catch (const FormatError& e) {
            EXPECT_EQ(e.offset(), kAfterHello);
            EXPECT_EQ(e.source(), "test stream");
        }
    }
    {
        Fixture fx;
        StreamBuilder s;
        s.batch(1).nativeEnter(10, 2, 0x1000, 0);
        auto bytes = s.bytes();
        // Corrupt the record size: larger than the batch.
        const std::uint16_t bad = 4096;
        std::memcpy(bytes.data() + kAfterHello + sizeof(wire::BatchHeader) + 2, &bad, sizeof bad);
        StreamFeeder f(*fx.assembler, "test stream");
        EXPECT_THROW(f.feed(bytes.data(), bytes.size()), FormatError);
    }
    {
        Fixture fx;
        StreamBuilder s;
        s.batch(1).nativeEnter(10, 2, 0x1000, 0);
        const auto& bytes = s.bytes();
        StreamFeeder f(*fx.assembler, "test stream");
        f.feed(bytes.data(), bytes.size() - 3);
        EXPECT_THROW(f.finish(), FormatError);
    }
    {
        // A Hello of another protocol version is a handshake error naming the PID.
        Fixture fx;
        StreamBuilder s;
        auto bytes = s.bytes();
        const std::uint16_t v99 = 99;
        std::memcpy(bytes.data() + offsetof(wire::Hello, version), &v99, sizeof v99);
        StreamFeeder f(*fx.assembler, "test stream");
        f.setPeerPid(777);
        try {
            f.feed(bytes.data(), bytes.size());
            FAIL() << "bad version accepted";
        } catch (const HandshakeError& e) {
            EXPECT_EQ(e.pid(), 777u);
            EXPECT_NE(std::string(e.what()).find("v99"), std::string::npos) << e.what();
        }
    }
}

TEST(Assembler, ClosureCallbackNestsBetweenNativeFrames) {
    Fixture fx;
    StreamBuilder s;
    fx.preamble(s, 5);
    // ffi_call -> plain_twice (native) -> closure -> Python main -> back.
    s.ffiCall(10, 1, fx.a.plainTwice, fx.a.ctypesCaller, {})
        .nativeEnter(11, 4, fx.a.plainTwice, fx.a.ffiCall + 0x40)
        .closureEnter(12, 0x5000, fx.a.ctypesCaller - 0x10, fx.a.plainTwice + 8)
        .pyCall(13, 10, 5)
        .pyReturn(14, 10)
        .closureExit(15, 0x5000)
        .nativeExit(16, 4, fx.a.plainTwice, 0)
        .ffiReturn(17, fx.a.plainTwice, StreamBuilder::value(FfiType::Void, 0, 0));
    fx.feed(s.bytes());
    const auto& ev = fx.sink.events;
    ASSERT_EQ(ev.size(), 8u);
    EXPECT_EQ(ev[2].kind, EventKind::ClosureEnter);
    EXPECT_EQ(ev[2].role, Role::Ffi);
    EXPECT_EQ(ev[2].symbol, "ffi_closure");
    EXPECT_EQ(ev[2].module, baseOf(LIBFFI_SO));
    EXPECT_EQ(ev[2].target.role, Role::Ext);
    EXPECT_EQ(ev[2].depth, 2u);
    EXPECT_EQ(ev[3].depth, 3u);
    EXPECT_EQ(ev[5].kind, EventKind::ClosureExit);
    EXPECT_EQ(ev[5].depth, 2u);
    EXPECT_EQ(ev[7].depth, 0u);
    const auto paths = fx.buildPaths();
    ASSERT_EQ(paths.size(), 1u);
    EXPECT_NE(paths[0].find("native libfixture_plain.so:plain_twice -> ffi " + baseOf(LIBFFI_SO) +
                            ":ffi_closure -> ext " + baseOf(CTYPES_EXT) + " -> app user.py:main"),
              std::string::npos)
        << paths[0];
}

TEST(Assembler, ReportsAndThreadNames) {
    Fixture fx;
    StreamBuilder s;
    s.batch(wire::kProcessTid).report(wire::ReportLevel::Warning, "inline hook on foo failed: turned off").threadInfo(12, "worker-1");
    fx.feed(s.bytes());
    ASSERT_EQ(fx.sink.reports.size(), 1u);
    EXPECT_EQ(fx.sink.reports[0].level, ProbeReport::Level::Warning);
    EXPECT_EQ(fx.sink.reports[0].message, "inline hook on foo failed: turned off");
    ASSERT_EQ(fx.sink.events.size(), 1u);
    EXPECT_EQ(fx.sink.events[0].kind, EventKind::ThreadStart);
    EXPECT_EQ(fx.sink.events[0].tid, 12u);
    EXPECT_EQ(fx.sink.events[0].symbol, "worker-1");
}
