// EventFilter on hand-made streams: the edge cases the demo recordings do not contain (an exit
// whose enter never came, calls left open when their thread ended, a --function match nested in
// another, markers of filtered threads). test_filters.py checks the semantics on real recordings.
#include <layertrace/event_filter.h>

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace layertrace;
using namespace layertrace::tracer;

namespace {

struct Collect : EventSink {
    std::vector<std::uint64_t> seqs;
    std::vector<std::pair<std::uint32_t, std::uint64_t>> dropped;
    int modules = 0, reports = 0, finished = 0;
    void onEvent(const TraceEvent& e) override { seqs.push_back(e.seq); }
    void onModule(const ModuleInfo&) override { ++modules; }
    void onReport(const ProbeReport&) override { ++reports; }
    void onDropped(std::uint32_t tid, std::uint64_t n) override { dropped.emplace_back(tid, n); }
    void onFinished(const SessionResult&) override { ++finished; }
};

class Stream {
public:
    TraceEvent& add(EventKind kind, std::uint32_t depth, Role role = Role::App, std::string symbol = "f",
                    std::uint32_t tid = 1) {
        TraceEvent e;
        e.seq = events.size();
        e.tid = tid;
        e.kind = kind;
        e.depth = depth;
        e.role = role;
        e.symbol = std::move(symbol);
        e.module = role == Role::Native ? "libn.so" : "user.py";
        events.push_back(e);
        return events.back();
    }
    std::vector<std::uint64_t> through(const EventFilterOptions& options) const {
        Collect out;
        EventFilter filter(options, out);
        for (const auto& e : events) {
            filter.onEvent(e);
        }
        return out.seqs;
    }
    std::vector<TraceEvent> events;
};

TEST(EventFilter, AnExitWhoseEnterNeverCameIsDropped) {
    Stream s;
    s.add(EventKind::NativeExit, 3, Role::Native); // 0: begun before tracing
    s.add(EventKind::NativeEnter, 0, Role::Native); // 1
    s.add(EventKind::NativeExit, 0, Role::Native);  // 2
    EventFilterOptions o;
    o.roles = {Role::Native};
    EXPECT_EQ(s.through(o), (std::vector<std::uint64_t>{1, 2}));
}

TEST(EventFilter, CallsLeftOpenAreClosedByTheOuterExit) {
    Stream s;
    s.add(EventKind::PyCall, 0, Role::App, "outer");     // 0
    s.add(EventKind::PyCall, 1, Role::App, "target");    // 1: its exit never comes
    s.add(EventKind::NativeEnter, 2, Role::Native, "n"); // 2
    s.add(EventKind::PyReturn, 0, Role::App, "outer");   // 3: closes 2 and 1 too
    s.add(EventKind::NativeEnter, 0, Role::Native, "n"); // 4: outside target: not kept
    s.add(EventKind::NativeExit, 0, Role::Native, "n");  // 5
    EventFilterOptions o;
    o.functionGlobs = {"target"};
    EXPECT_EQ(s.through(o), (std::vector<std::uint64_t>{1, 2}));
}

TEST(EventFilter, ANestedFunctionMatchDoesNotEndTheScopeEarly) {
    Stream s;
    s.add(EventKind::PyCall, 0, Role::App, "walk");        // 0 opens the scope
    s.add(EventKind::PyCall, 1, Role::App, "walk");        // 1 nested match
    s.add(EventKind::PyReturn, 1, Role::App, "walk");      // 2
    s.add(EventKind::NativeEnter, 1, Role::Native, "n");   // 3 still inside the outer walk
    s.add(EventKind::NativeExit, 1, Role::Native, "n");    // 4
    s.add(EventKind::PyReturn, 0, Role::App, "walk");      // 5 ends the scope
    s.add(EventKind::PyCall, 0, Role::App, "other");       // 6
    s.add(EventKind::PyReturn, 0, Role::App, "other");     // 7
    EventFilterOptions o;
    o.functionGlobs = {"wa*"};
    EXPECT_EQ(s.through(o), (std::vector<std::uint64_t>{0, 1, 2, 3, 4, 5}));
    o.roles = {Role::Native};
    EXPECT_EQ(s.through(o), (std::vector<std::uint64_t>{3, 4}));
}

TEST(EventFilter, HideLeavesOutAWholeSubtreeEvenInsideAFunctionScope) {
    Stream s;
    s.add(EventKind::PyCall, 0, Role::App, "main");          // 0 opens the --function scope
    s.add(EventKind::PyCall, 1, Role::App, "noisy");         // 1 hidden ...
    s.add(EventKind::NativeEnter, 2, Role::Native, "main");  // 2 ... with all below it, a match too
    s.add(EventKind::NativeExit, 2, Role::Native, "main");   // 3
    s.add(EventKind::PyReturn, 1, Role::App, "noisy");       // 4
    s.add(EventKind::NativeEnter, 1, Role::Native, "n");     // 5 visible again
    s.add(EventKind::NativeExit, 1, Role::Native, "n");      // 6
    s.add(EventKind::PyReturn, 0, Role::App, "main");        // 7
    EventFilterOptions o;
    o.functionGlobs = {"main"};
    o.hideGlobs = {"noi*"};
    EXPECT_EQ(s.through(o), (std::vector<std::uint64_t>{0, 5, 6, 7}));
    o.functionGlobs.clear();
    o.hideGlobs = {"main"}; // the outermost match hides everything
    EXPECT_TRUE(s.through(o).empty());
}

TEST(EventFilter, CrossingsAreMeasuredAgainstTheCallTheyAreMadeFrom) {
    Stream s;
    s.add(EventKind::PyCall, 0, Role::App, "main");           // 0 root Python: no crossing
    s.add(EventKind::CCall, 1, Role::Capi, "len");            // 1 Python band: no crossing
    s.add(EventKind::CReturn, 1, Role::Capi, "len");          // 2
    s.add(EventKind::CCall, 1, Role::Ext, "_ctypes.call");    // 3 Python -> extension
    s.add(EventKind::FfiCall, 2, Role::Ffi, "ffi_call");      // 4 extension -> libffi
    s.add(EventKind::NativeEnter, 3, Role::Native, "visit");  // 5 libffi -> native
    s.add(EventKind::NativeEnter, 4, Role::Native, "helper"); // 6 native -> native: no
    s.add(EventKind::NativeExit, 4, Role::Native, "helper");  // 7
    s.add(EventKind::ClosureEnter, 4, Role::Ffi, "ffi_closure"); // 8 native -> closure
    s.add(EventKind::PyCall, 5, Role::App, "callback");       // 9 closure -> Python
    s.add(EventKind::PyReturn, 5, Role::App, "callback");     // 10
    s.add(EventKind::ClosureExit, 4, Role::Ffi, "ffi_closure"); // 11
    s.add(EventKind::NativeExit, 3, Role::Native, "visit");   // 12
    s.add(EventKind::FfiReturn, 2, Role::Ffi, "ffi_call");    // 13
    s.add(EventKind::CReturn, 1, Role::Ext, "_ctypes.call");  // 14
    s.add(EventKind::PyReturn, 0, Role::App, "main");         // 15
    EventFilterOptions o;
    o.onlyCrossings = true;
    EXPECT_EQ(s.through(o), (std::vector<std::uint64_t>{3, 4, 5, 8, 9, 10, 11, 12, 13, 14}));
}

TEST(EventFilter, AnchoredRootCallsCrossWhenPythonMadeThem) {
    Stream s;
    s.add(EventKind::CCall, 0, Role::Ext, "fromPython").pyFile = "user.py"; // 0
    s.add(EventKind::CReturn, 0, Role::Ext, "fromPython");                  // 1
    s.add(EventKind::NativeEnter, 0, Role::Native, "threadBody");          // 2: a native thread's own code
    s.add(EventKind::NativeExit, 0, Role::Native, "threadBody");           // 3
    EventFilterOptions o;
    o.onlyCrossings = true;
    EXPECT_EQ(s.through(o), (std::vector<std::uint64_t>{0, 1}));
}

TEST(EventFilter, ThreadMarkersFollowTheirThreadAndEverythingElsePasses) {
    Stream s;
    s.add(EventKind::ThreadStart, 0, Role::Unknown, "t1", 1);
    s.add(EventKind::ThreadStart, 0, Role::Unknown, "t2", 2);
    s.add(EventKind::Dropped, 0, Role::Unknown, "", 2);
    s.add(EventKind::PyCall, 0, Role::App, "f", 2);
    EventFilterOptions o;
    o.tids = {2};
    o.roles = {Role::Native}; // keeps no call, but markers stay with their thread
    Collect out;
    EventFilter filter(o, out);
    filter.onModule(ModuleInfo{});
    for (const auto& e : s.events) {
        filter.onEvent(e);
    }
    filter.onDropped(1, 5);
    filter.onDropped(2, 7);
    filter.onReport(ProbeReport{});
    filter.onFinished(SessionResult{});
    EXPECT_EQ(out.seqs, (std::vector<std::uint64_t>{1, 2}));
    EXPECT_EQ(out.dropped, (std::vector<std::pair<std::uint32_t, std::uint64_t>>{{2, 7}}));
    EXPECT_EQ(out.modules, 1);
    EXPECT_EQ(out.reports, 1);
    EXPECT_EQ(out.finished, 1);
    EXPECT_EQ(filter.seen(), 4u);
    EXPECT_EQ(filter.kept(), 2u);
}

TEST(EventFilter, ModuleAndFunctionGlobs) {
    Stream s;
    TraceEvent& py = s.add(EventKind::CCall, 0, Role::Glue, "Config_process"); // 0
    py.pyName = "mymodule.Config.process";
    py.module = "mymodule.cpython-311-x86_64-linux-gnu.so";
    py.modulePath = "/build/demos/x/mymodule.cpython-311-x86_64-linux-gnu.so";
    s.add(EventKind::CReturn, 0, Role::Glue, "Config_process");                  // 1
    EventFilterOptions o;
    for (const char* glob : {"mymodule.Config.*", "Config_*", "mymodule*.so:Config_process"}) {
        o.functionGlobs = {glob};
        EXPECT_EQ(s.through(o), (std::vector<std::uint64_t>{0, 1})) << glob;
    }
    o.functionGlobs = {"Config"};
    EXPECT_TRUE(s.through(o).empty());
    o.functionGlobs.clear();
    for (const char* glob : {"mymodule*", "*/demos/*", "/build/*"}) {
        o.moduleGlobs = {glob};
        EXPECT_EQ(s.through(o), (std::vector<std::uint64_t>{0, 1})) << glob;
    }
    o.moduleGlobs = {"libffi*"};
    EXPECT_TRUE(s.through(o).empty());
}

TEST(EventFilter, LayerNames) {
    EXPECT_EQ(rolesOfLayer("python"), (std::vector<Role>{Role::App, Role::Wrapper, Role::Pylib}));
    EXPECT_EQ(rolesOfLayer("3"), (std::vector<Role>{Role::Ffi, Role::Native, Role::Unknown}));
    EXPECT_FALSE(rolesOfLayer("kernel").has_value());
    EXPECT_EQ(crossingBand(Role::Capi), crossingBand(Role::App));
    EXPECT_NE(crossingBand(Role::Ffi), crossingBand(Role::Native));
}

} // namespace
