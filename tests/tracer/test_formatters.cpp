// Formatter tests: JSON lines parse back with the documented fields, the tree indents by depth
// and tags roles, path lines follow the rules of PathBuilder, catalog patterns match paths.
#include <layertrace/catalog.h>
#include <layertrace/formatters.h>
#include <layertrace/json.h>

#include <gtest/gtest.h>

#include <sstream>

using namespace layertrace;
using namespace layertrace::tracer;

namespace {

TraceEvent event(EventKind kind, Role role, std::string module, std::string symbol, std::uint32_t depth,
                 std::uint32_t tid = 1) {
    TraceEvent e;
    e.kind = kind;
    e.role = role;
    e.module = std::move(module);
    e.symbol = std::move(symbol);
    e.depth = depth;
    e.tid = tid;
    return e;
}

TraceEvent py(EventKind kind, Role role, const std::string& file, std::string symbol, std::uint32_t depth,
              std::uint32_t tid = 1) {
    TraceEvent e = event(kind, role, file.substr(file.rfind('/') + 1), std::move(symbol), depth, tid);
    e.modulePath = file;
    e.pyFile = file;
    return e;
}

ModuleInfo pyModule(const std::string& path, const std::string& name, Role role) {
    ModuleInfo m;
    m.python = true;
    m.path = path;
    m.name = name;
    m.role = role;
    return m;
}

} // namespace

TEST(Jsonl, EventRoundTripsThroughTheParser) {
    TraceEvent e = event(EventKind::FfiCall, Role::Ffi, "libffi.so.8", "ffi_call", 2, 42);
    e.seq = 7;
    e.tsNs = 123456789;
    e.pyFile = "/app/mypkg/bindings.py";
    e.pyLine = 12;
    e.args = {{"int32", "2"}, {"int32", "3"}};
    e.target = CodeRef{Role::Native, "libadd.so", "/x/libadd.so", "add", 0x1000, "plain library"};
    e.caller = CodeRef{Role::Ext, "_ctypes.so", "/x/_ctypes.so", "", 0x2000, ""};
    StackFrame f;
    f.function = "add \"quoted\"\n";
    f.module = "libadd.so";
    f.ip = 0x1004;
    f.role = Role::Native;
    e.stack.push_back(f);
    e.stackMerged = true;
    const json::Value v = json::parse(eventToJson(e));
    EXPECT_EQ(v.find("seq")->asNumber(), 7);
    EXPECT_EQ(v.find("ts_ns")->asNumber(), 123456789);
    EXPECT_EQ(v.find("tid")->asNumber(), 42);
    EXPECT_EQ(v.find("kind")->asString(), "ffi_call");
    EXPECT_EQ(v.find("role")->asString(), "ffi");
    EXPECT_EQ(v.find("layer")->asNumber(), 3);
    EXPECT_EQ(v.find("module")->asString(), "libffi.so.8");
    EXPECT_EQ(v.find("symbol")->asString(), "ffi_call");
    EXPECT_EQ(v.find("py_file")->asString(), "/app/mypkg/bindings.py");
    EXPECT_EQ(v.find("py_line")->asNumber(), 12);
    ASSERT_EQ(v.find("args")->asArray().size(), 2u);
    EXPECT_EQ(v.find("args")->asArray()[1].find("value")->asString(), "3");
    EXPECT_EQ(v.find("target")->find("symbol")->asString(), "add");
    EXPECT_EQ(v.find("target")->find("role")->asString(), "native");
    EXPECT_EQ(v.find("caller")->find("role")->asString(), "ext");
    EXPECT_EQ(v.find("stack")->asArray()[0].find("function")->asString(), "add \"quoted\"\n");
    EXPECT_TRUE(v.find("stack_merged")->asBool());
    EXPECT_EQ(v.find("ret"), nullptr);

    TraceEvent r = event(EventKind::FfiReturn, Role::Ffi, "libffi.so.8", "ffi_call", 2);
    r.ret = FfiValue{"int32", "5"};
    r.durationNs = 900;
    const json::Value rv = json::parse(eventToJson(r));
    EXPECT_EQ(rv.find("ret")->find("value")->asString(), "5");
    EXPECT_EQ(rv.find("duration_ns")->asNumber(), 900);
    EXPECT_EQ(rv.find("layer")->asNumber(), 3);
}

TEST(Jsonl, InvalidUtf8IsReplacedSoEveryLineParses) {
    TraceEvent e = event(EventKind::NativeEnter, Role::Native, "lib\xff.so", "f\xc3", 0);
    EXPECT_NO_THROW(json::parse(eventToJson(e)));
    ModuleInfo m = pyModule("/a/b.py", "b.py", Role::App);
    m.reason = "under the script's directory";
    const json::Value v = json::parse(moduleToJson(m));
    EXPECT_EQ(v.find("kind")->asString(), "module_load");
    EXPECT_EQ(v.find("role")->asString(), "app");
    EXPECT_EQ(v.find("reason")->asString(), "under the script's directory");
}

TEST(Tree, IndentsByDepthAndTagsRoles) {
    std::ostringstream out;
    auto f = makeFormatter(OutputFormat::Tree, out);
    f->onEvent(py(EventKind::PyCall, Role::App, "/app/user.py", "main", 0));
    TraceEvent call = event(EventKind::FfiCall, Role::Ffi, "libffi.so.8", "ffi_call", 1);
    call.args = {{"int32", "2"}, {"int32", "3"}};
    call.target = CodeRef{Role::Native, "libadd.so", "", "add", 1, ""};
    f->onEvent(call);
    TraceEvent ret = event(EventKind::FfiReturn, Role::Ffi, "libffi.so.8", "ffi_call", 1);
    ret.ret = FfiValue{"int32", "5"};
    ret.durationNs = 1500;
    f->onEvent(ret);
    f->onEvent(py(EventKind::PyReturn, Role::App, "/app/user.py", "main", 0));
    f->onFinished({});
    EXPECT_EQ(out.str(), "[1] app     user.py:main {\n"
                         "[1]   ffi     libffi.so.8:ffi_call(int32 2, int32 3) -> native libadd.so:add {\n"
                         "[1]   } = int32 5  1.50 us  libffi.so.8:ffi_call\n"
                         "[1] }  0 ns  user.py:main\n");
    std::ostringstream colored;
    FormatOptions o;
    o.color = true;
    auto c = makeFormatter(OutputFormat::Tree, colored, o);
    c->onEvent(py(EventKind::PyCall, Role::App, "/app/user.py", "main", 0));
    EXPECT_NE(colored.str().find("\x1b[32mapp"), std::string::npos);
}

TEST(Paths, CollapsesPythonRunsAndMergesDuplicates) {
    std::vector<std::string> lines;
    PathBuilder pb([&](std::uint32_t, const std::vector<Hop>& h) { lines.push_back(formatPath(h)); });
    pb.onModule(pyModule("/app/user.py", "user.py", Role::App));
    pb.onModule(pyModule("/app/mypkg/bindings.py", "mypkg/bindings.py", Role::App));
    pb.onEvent(py(EventKind::PyCall, Role::App, "/app/user.py", "<module>", 0));
    pb.onEvent(py(EventKind::PyCall, Role::App, "/app/user.py", "main", 1));
    pb.onEvent(py(EventKind::PyCall, Role::App, "/app/mypkg/bindings.py", "transform", 2));
    TraceEvent call = event(EventKind::FfiCall, Role::Ffi, "libffi.so.8", "ffi_call", 3);
    call.caller = CodeRef{Role::Ext, "_ctypes.so", "", "", 0x10, ""};
    call.target = CodeRef{Role::Native, "libstruct_demo.so", "", "transform_record", 0x20, ""};
    // Internals of a ready-made extension hooked before libffi is reached: one ext hop.
    pb.onEvent(event(EventKind::NativeEnter, Role::Ext, "_ctypes.so", "PyCFuncPtr_call", 3));
    pb.onEvent(event(EventKind::NativeEnter, Role::Ext, "_ctypes.so", "_ctypes_callproc", 4));
    call.depth = 5;
    pb.onEvent(call);
    pb.onEvent(event(EventKind::NativeEnter, Role::Native, "libstruct_demo.so", "transform_record", 6));
    pb.onEvent(event(EventKind::NativeEnter, Role::Native, "libstruct_demo.so", "checksum", 7));
    pb.onEvent(event(EventKind::NativeExit, Role::Native, "libstruct_demo.so", "checksum", 7));
    pb.onEvent(event(EventKind::NativeExit, Role::Native, "libstruct_demo.so", "transform_record", 6));
    // The file turned out to be a wrapper while the call was open: the path shows it.
    pb.onModule(pyModule("/app/mypkg/bindings.py", "mypkg/bindings.py", Role::Wrapper));
    EXPECT_TRUE(lines.empty());
    pb.onEvent(event(EventKind::FfiReturn, Role::Ffi, "libffi.so.8", "ffi_call", 5));
    pb.onEvent(event(EventKind::NativeExit, Role::Ext, "_ctypes.so", "_ctypes_callproc", 4));
    EXPECT_TRUE(lines.empty());
    pb.onEvent(event(EventKind::NativeExit, Role::Ext, "_ctypes.so", "PyCFuncPtr_call", 3));
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(lines[0], "app user.py:main -> wrapper mypkg/bindings.py:transform -> ext _ctypes.so:PyCFuncPtr_call -> ffi "
                        "libffi.so.8:ffi_call -> native libstruct_demo.so:transform_record -> native "
                        "libstruct_demo.so:checksum");
    // Calls of the interpreter's own C functions are not crossings: no line.
    pb.onEvent(event(EventKind::CCall, Role::Capi, "python3.11", "builtin_len", 3));
    pb.onEvent(event(EventKind::CReturn, Role::Capi, "python3.11", "builtin_len", 3));
    EXPECT_EQ(lines.size(), 1u);
    // A second call from the same frames is its own path.
    pb.onEvent(event(EventKind::CCall, Role::Ext, "_ctypes.so", "byref", 3));
    pb.onEvent(event(EventKind::CReturn, Role::Ext, "_ctypes.so", "byref", 3));
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_EQ(lines[1], "app user.py:main -> wrapper mypkg/bindings.py:transform -> ext _ctypes.so:byref");
}

TEST(Paths, UnfinishedCallsAreEmittedAtTheEndAndLongPathsTruncated) {
    std::vector<std::vector<Hop>> paths;
    PathBuilder pb([&](std::uint32_t, const std::vector<Hop>& h) { paths.push_back(h); }, 4);
    for (std::uint32_t i = 0; i < 10; ++i) {
        pb.onEvent(event(EventKind::NativeEnter, Role::Native, "libx.so", "f" + std::to_string(i), i));
    }
    pb.finish();
    ASSERT_EQ(paths.size(), 1u);
    ASSERT_EQ(paths[0].size(), 5u);
    EXPECT_EQ(paths[0][4].symbol, "6 more hops");
}

TEST(Formats, LostExitsAreMarkedInEveryFormat) {
    TraceEvent enter = event(EventKind::NativeEnter, Role::Native, "libx.so", "f", 0);
    TraceEvent lost = event(EventKind::NativeExit, Role::Native, "libx.so", "f", 0);
    lost.lost = true;
    lost.durationNs = 2000;
    EXPECT_TRUE(json::parse(eventToJson(lost)).find("lost")->asBool());
    lost.lost = false;
    EXPECT_EQ(json::parse(eventToJson(lost)).find("lost"), nullptr);
    lost.lost = true;

    std::ostringstream out;
    auto tree = makeFormatter(OutputFormat::Tree, out);
    tree->onEvent(enter);
    tree->onEvent(lost);
    EXPECT_EQ(out.str(), "[1] native  libx.so:f {\n"
                         "[1] } lost  2.00 us  libx.so:f\n");

    std::vector<std::string> lines;
    PathBuilder pb([&](std::uint32_t, const std::vector<Hop>& h) { lines.push_back(formatPath(h)); });
    pb.onEvent(enter);
    pb.onEvent(event(EventKind::NativeEnter, Role::Native, "libx.so", "g", 1));
    pb.onEvent(event(EventKind::NativeExit, Role::Native, "libx.so", "g", 1));
    pb.onEvent(lost);
    pb.onEvent(event(EventKind::NativeEnter, Role::Native, "libx.so", "h", 0));
    pb.onEvent(event(EventKind::NativeExit, Role::Native, "libx.so", "h", 0));
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_EQ(lines[0], "native libx.so:f -> native libx.so:g -> unknown ...:1 exits lost");
    EXPECT_EQ(lines[1], "native libx.so:h") << "the count is per path";
}

TEST(Paths, CatalogPatternsMatchInOrder) {
    // A fixed catalog (the real one changes with the demos): Part IV's shape.
    const Catalog cat = Catalog::parse(R"J({"schema": 1, "demos": [{"name": "p4", "run": {"argv": ["{python}", "user.py"]},
      "paths": [{"name": "transform()", "hops": [
        {"role": "app", "module": "user.py", "symbol": ["main", "transform_checked"]},
        {"role": "wrapper", "module": "mypkg/bindings.py", "symbol": "transform"},
        {"role": "ext", "module": "_ctypes*"},
        {"role": "ffi", "module": ["libffi.so*", "_cffi_backend*"], "symbol": ["ffi_call*", "cffistatic_ffi_call"]},
        {"role": "native", "module": "libstruct_demo.so", "symbol": "transform_record"},
        {"role": "native", "module": "libstruct_demo.so", "symbol": ["sd_filter_items", "sd_score_item"]}]}]}]})J",
                                       "fixed", ".");
    const DemoPath& want = cat.demos.at(0).paths.at(0);
    std::vector<Hop> hops = {
        {Role::App, "user.py", "main", ""},
        {Role::Wrapper, "mypkg/bindings.py", "TransformApi.transform", ""}, // qualified name
        {Role::Ext, "_ctypes.cpython-311-x86_64-linux-gnu.so", "", ""},
        {Role::Ffi, "libffi.so.8", "ffi_call", ""},
        {Role::Native, "libstruct_demo.so", "transform_record", ""},
        {Role::Native, "libstruct_demo.so", "sd_helper", ""}, // a sibling before the expected child
        {Role::Native, "libstruct_demo.so", "sd_score_item", ""},
    };
    EXPECT_TRUE(pathMatches(want, hops));
    std::vector<Hop> cffi = hops;
    cffi[3] = Hop{Role::Ffi, "_cffi_backend.cpython-311-x86_64-linux-gnu.so", "cffistatic_ffi_call", ""};
    EXPECT_TRUE(pathMatches(want, cffi));
    std::vector<Hop> swapped = hops;
    std::swap(swapped[3], swapped[4]); // order matters
    EXPECT_FALSE(pathMatches(want, swapped));
    std::vector<Hop> missing(hops.begin(), hops.begin() + 5);
    EXPECT_FALSE(pathMatches(want, missing));
    hops[1].role = Role::App;
    EXPECT_FALSE(pathMatches(want, hops));
}
