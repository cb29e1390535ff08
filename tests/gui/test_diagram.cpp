// The layer diagram's state and layout: a scripted Part IV stream drives it step by step and the
// lit bands and boxes are checked after every step; the five-hop route in both views; labels
// never cut in presentation mode.
#include "gui_test_support.h"

#include "core/catalog_model.h"
#include "core/diagram_layout.h"

#include <QGuiApplication>

#include <gtest/gtest.h>

#include <set>

using namespace layertrace;
using namespace layertrace::gui;
using namespace layertrace::gui::test;

namespace {

std::set<QString> litBandNames(const DiagramState& s, ViewMode mode) {
    std::set<QString> out;
    for (int b : s.litBands(mode))
        out.insert(bandTitle(b, mode));
    return out;
}

std::set<QString> litBoxNames(const DiagramState& s, ViewMode mode) {
    std::set<QString> out;
    for (int b : s.litBoxes(mode))
        out.insert(displayModuleName(s.registry(mode).box(b).module));
    return out;
}

std::vector<std::string> routeModules(const DiagramState& s, ViewMode mode) {
    std::vector<std::string> out;
    for (const auto& hop : s.route(mode))
        out.push_back(displayModuleName(s.registry(mode).box(hop.box).module).toStdString());
    return out;
}

std::vector<std::string> routeLabels(const DiagramState& s, ViewMode mode) {
    std::vector<std::string> out;
    for (const auto& hop : s.route(mode))
        out.push_back(hop.label());
    return out;
}

const QString App = QStringLiteral("Application");
const QString Mirror = QStringLiteral("Python mirror / user API");
const QString Ext = QStringLiteral("C extension modules");
const QString Ffi = QStringLiteral("libffi");
const QString Native = QStringLiteral("Native libraries");

} // namespace

TEST(DiagramState, PartFourLightsAndDimsBandsStepByStep) {
    TraceDocument doc;
    doc.playback()->pause();
    feedPartFour(doc);
    ASSERT_EQ(doc.store().size(), 20u);
    // After each event of the scripted stream: the bands lit in the detailed view.
    const std::vector<std::set<QString>> expected = {
        {}, {},                                  // module loads light nothing
        {App},                                   // main
        {App, Mirror}, {App},                    // InputRecordPy.__init__ and its return
        {App, Mirror}, {App, Mirror}, {App, Mirror}, // transform, to_ctypes, return
        {App, Mirror, Ext},                      // PyCFuncPtr_call in _ctypes
        {App, Mirror, Ext, Ffi},                 // ffi_call
        {App, Mirror, Ext, Ffi, Native},         // transform_record
        {App, Mirror, Ext, Ffi, Native},         // nested sd_filter_items
        {App, Mirror, Ext, Ffi, Native},         // helper returns, still inside transform_record
        {App, Mirror, Ext, Ffi},                 // transform_record returns: Layer 3 dims
        {App, Mirror, Ext},                      // ffi_call returns
        {App, Mirror},                           // back in the wrapper
        {App, Mirror}, {App, Mirror},            // OutputRecordPy.from_ctypes
        {App},                                   // transform returns
        {},                                      // main returns
    };
    Playback* pb = doc.playback();
    pb->toStart();
    for (std::size_t step = 0; step < expected.size(); ++step) {
        ASSERT_TRUE(pb->stepEventForward()) << "step " << step;
        EXPECT_EQ(litBandNames(doc.diagram(), ViewMode::Detailed), expected[step]) << "after event " << step;
    }
    // Everything entered once and returned: boxes are visited (dimmed), none lit.
    for (const auto& box : doc.diagram().registry(ViewMode::Detailed).boxes())
        EXPECT_EQ(doc.diagram().boxActivity(ViewMode::Detailed, box.id), Activity::Visited) << box.module;
    EXPECT_EQ(doc.diagram().bandActivity(ViewMode::Detailed, BandCapi), Activity::Idle);
}

TEST(DiagramState, ThreeLayerSummaryLightsLayers) {
    TraceDocument doc;
    doc.playback()->pause();
    feedPartFour(doc);
    doc.playback()->seek(9); // ffi_call entered
    EXPECT_EQ(litBandNames(doc.diagram(), ViewMode::Summary),
              (std::set<QString>{QStringLiteral("Pure Python"), QStringLiteral("C extension modules"), QStringLiteral("libffi")}));
    EXPECT_EQ(litBoxNames(doc.diagram(), ViewMode::Summary),
              (std::set<QString>{QStringLiteral("user.py"), QStringLiteral("mypkg/bindings.py"), QStringLiteral("_ctypes"),
                                 QStringLiteral("libffi.so.8")}));
    doc.playback()->seek(10); // transform_record entered: Layer 3 lights
    EXPECT_EQ(doc.diagram().bandActivity(ViewMode::Summary, BandLayer3), Activity::Active);
    doc.playback()->seek(14); // back from libffi
    EXPECT_EQ(doc.diagram().bandActivity(ViewMode::Summary, BandLayer3), Activity::Visited);
    EXPECT_EQ(doc.diagram().bandActivity(ViewMode::Summary, BandLibffi), Activity::Visited);
    EXPECT_EQ(doc.diagram().bandActivity(ViewMode::Summary, BandLayer2), Activity::Active);
}

TEST(DiagramState, PartFourFiveHopRouteInOrderInBothViews) {
    TraceDocument doc;
    doc.playback()->pause();
    feedPartFour(doc);
    doc.playback()->seek(11); // inside the nested helper
    const std::vector<std::string> modules = {"user.py", "mypkg/bindings.py", "_ctypes", "libffi.so.8", "libstruct_demo.so"};
    const std::vector<std::string> labels = {"main", "transform", "PyCFuncPtr_call", "ffi_call",
                                             "transform_record \u203A sd_filter_items"};
    for (ViewMode mode : {ViewMode::Detailed, ViewMode::Summary}) {
        EXPECT_EQ(routeModules(doc.diagram(), mode), modules);
        EXPECT_EQ(routeLabels(doc.diagram(), mode), labels);
    }
    // Bands of the hops, top to bottom, in each view.
    std::vector<int> detailed, summary;
    for (const auto& hop : doc.diagram().route(ViewMode::Detailed))
        detailed.push_back(doc.diagram().registry(ViewMode::Detailed).box(hop.box).band);
    for (const auto& hop : doc.diagram().route(ViewMode::Summary))
        summary.push_back(doc.diagram().registry(ViewMode::Summary).box(hop.box).band);
    EXPECT_EQ(detailed, (std::vector<int>{BandApp, BandWrapper, BandExt, BandFfi, BandNative}));
    EXPECT_EQ(summary, (std::vector<int>{BandLayer1, BandLayer1, BandLayer2, BandLibffi, BandLayer3}));
    // The catalog's expected Part IV path matches the route in both views.
    const tracer::Catalog catalog = tracer::Catalog::load(LAYERTRACE_SOURCE_CATALOG);
    const tracer::Demo* demo = catalog.find("ctypes_complex_struct");
    ASSERT_NE(demo, nullptr);
    ASSERT_FALSE(demo->paths.empty());
    EXPECT_TRUE(routeMatches(doc.diagram(), ViewMode::Detailed, demo->paths.front()));
    EXPECT_TRUE(routeMatches(doc.diagram(), ViewMode::Summary, demo->paths.front()));
    // ...and not before the call reached Layer 3.
    doc.playback()->seek(9);
    EXPECT_FALSE(routeMatches(doc.diagram(), ViewMode::Detailed, demo->paths.front()));
}

TEST(DiagramState, BoxesKeepTheirSlotsWhileStepping) {
    TraceDocument doc;
    doc.playback()->pause();
    feedPartFour(doc);
    Palette palette;
    std::vector<QRectF> first;
    for (std::int64_t i = -1; i < 20; ++i) {
        doc.playback()->seek(i);
        const auto lay = DiagramLayout::compute(doc.diagram(), ViewMode::Detailed, QSizeF(1400, 900), palette);
        std::vector<QRectF> rects;
        for (const auto& b : lay.boxes)
            rects.push_back(b.rect);
        std::vector<QRectF> bands;
        if (first.empty())
            first = rects;
        EXPECT_EQ(rects, first) << "boxes moved at step " << i;
    }
}

TEST(DiagramLayout, PresentationAt200PercentOn1920x1080CutsNoLabel) {
    TraceDocument doc;
    doc.playback()->pause();
    feedPartFour(doc);
    Palette palette;
    palette.setScalePercent(200);
    for (auto scheme : {Palette::Scheme::Standard, Palette::Scheme::HighContrast}) {
        palette.setScheme(scheme);
        for (ViewMode mode : {ViewMode::Detailed, ViewMode::Summary}) {
            for (std::int64_t i = -1; i < 20; ++i) {
                doc.playback()->seek(i);
                const auto lay = DiagramLayout::compute(doc.diagram(), mode, QSizeF(1920, 1080), palette);
                const auto problems = lay.problems();
                EXPECT_TRUE(problems.empty()) << "step " << i << ": " << QStringList(problems.begin(), problems.end()).join('\n').toStdString();
                // Every box and band label is really there (not dropped to make it fit).
                for (const auto& b : lay.boxes)
                    EXPECT_FALSE(b.name.text.isEmpty());
                for (const auto& band : lay.bands)
                    EXPECT_FALSE(band.title.text.isEmpty());
            }
        }
    }
    // The route's labels exist at the deepest step.
    doc.playback()->seek(11);
    const auto lay = DiagramLayout::compute(doc.diagram(), ViewMode::Detailed, QSizeF(1920, 1080), palette);
    ASSERT_EQ(lay.hops.size(), 5u);
    EXPECT_EQ(lay.hops.back().label.text, QStringLiteral("transform_record \u203A sd_filter_items"));
}

TEST(DiagramLayout, ReportsCutLabelsWhenTheCanvasIsTooSmall) {
    // The check above must be able to fail: at 300 % on a small canvas labels do not fit.
    TraceDocument doc;
    doc.playback()->pause();
    feedPartFour(doc);
    doc.playback()->seek(11);
    Palette palette;
    palette.setScalePercent(300);
    const auto lay = DiagramLayout::compute(doc.diagram(), ViewMode::Detailed, QSizeF(640, 400), palette);
    EXPECT_FALSE(lay.problems().empty());
}

namespace {
TraceEvent ev(EventKind kind, Role role, const std::string& module, const std::string& symbol) {
    TraceEvent e;
    e.tid = 7;
    e.kind = kind;
    e.role = role;
    e.module = module;
    e.symbol = symbol;
    return e;
}
} // namespace

TEST(DiagramState, StandardLibraryBoxesStayFoldedUntilACallCrossesThroughThem) {
    // A full-mode trace touches many standard-library modules; only those a native call passes
    // through get their own box.
    std::vector<TraceEvent> events;
    events.push_back(ev(EventKind::PyCall, Role::App, "user.py", "main"));
    for (int i = 0; i < 12; ++i) { // import-time noise
        events.push_back(ev(EventKind::PyCall, Role::Pylib, "lib" + std::to_string(i) + ".py", "f"));
        events.push_back(ev(EventKind::PyReturn, Role::Pylib, "lib" + std::to_string(i) + ".py", "f"));
    }
    events.push_back(ev(EventKind::PyCall, Role::Pylib, "ctypes/__init__.py", "__call__"));
    events.push_back(ev(EventKind::PyCall, Role::Pylib, "lib3.py", "helper"));
    events.push_back(ev(EventKind::CCall, Role::Ext, "_ctypes.so", "PyCFuncPtr_call"));
    events.push_back(ev(EventKind::CReturn, Role::Ext, "_ctypes.so", "PyCFuncPtr_call"));
    events.push_back(ev(EventKind::PyReturn, Role::Pylib, "lib3.py", "helper"));
    events.push_back(ev(EventKind::PyReturn, Role::Pylib, "ctypes/__init__.py", "__call__"));
    events.push_back(ev(EventKind::PyReturn, Role::App, "user.py", "main"));
    TraceDocument doc;
    doc.playback()->pause();
    doc.appendBatch(std::move(events));
    const BoxRegistry& reg = doc.diagram().registry(ViewMode::Detailed);
    // Only the module that made the native call unfolds, not the modules further up its stack.
    EXPECT_EQ(reg.namedInBand(BandPylib), 1); // lib3.py
    EXPECT_EQ(reg.foldedInBand(BandPylib), 12);
    EXPECT_EQ(reg.slotsInBand(BandPylib), 2);  // lib3.py and "+12 more"
    EXPECT_GE(reg.box(reg.find(Role::Pylib, "lib3.py")).slot, 0);
    EXPECT_EQ(reg.box(reg.find(Role::Pylib, "ctypes/__init__.py")).slot, -1);
    EXPECT_EQ(reg.box(reg.find(Role::Pylib, "lib0.py")).slot, -1);
    // Inside lib0.py (folded) the route goes through the "+N more" box, labelled with the call.
    doc.playback()->seek(1);
    const auto route = doc.diagram().route(ViewMode::Detailed);
    ASSERT_EQ(route.size(), 2u);
    Palette palette;
    const auto lay = DiagramLayout::compute(doc.diagram(), ViewMode::Detailed, QSizeF(1400, 900), palette);
    const int shown = lay.displayBox(route[1].box);
    ASSERT_GE(shown, 0);
    EXPECT_TRUE(lay.box(shown)->folded);
    EXPECT_EQ(lay.box(shown)->name.text, QStringLiteral("+12 more"));
    EXPECT_TRUE(lay.problems().empty());
    // At the crossing the route runs through the folded box and then lib3.py.
    doc.playback()->seek(27); // PyCFuncPtr_call entered
    std::vector<std::string> modules;
    for (const auto& hop : doc.diagram().route(ViewMode::Detailed))
        modules.push_back(reg.box(hop.box).module);
    EXPECT_EQ(modules, (std::vector<std::string>{"user.py", "ctypes/__init__.py", "lib3.py", "_ctypes.so"}));
}

TEST(DiagramState, ImportLoopsThroughPythonFoldIntoOneHopButCallbacksStayDrawn) {
    // user.py → importlib → mod.py → importlib → mod2.py: one visit to importlib, not three hops.
    std::vector<TraceEvent> events = {
        ev(EventKind::PyCall, Role::App, "user.py", "<module>"),
        ev(EventKind::PyCall, Role::Pylib, "importlib", "_find_and_load"),
        ev(EventKind::PyCall, Role::Pylib, "mod.py", "<module>"),
        ev(EventKind::PyCall, Role::Pylib, "importlib", "_find_and_load"),
        ev(EventKind::PyCall, Role::Pylib, "mod2.py", "<module>"),
    };
    TraceDocument doc;
    doc.playback()->pause();
    doc.appendBatch(std::move(events));
    doc.playback()->toEnd();
    auto route = doc.diagram().route(ViewMode::Detailed);
    // All three standard-library modules are folded into one place: one hop for the whole chain.
    ASSERT_EQ(route.size(), 2u);
    EXPECT_EQ(route[1].functions.size(), 4u);

    // A callback re-enters user.py through native code: that loop is the lesson, it stays.
    std::vector<TraceEvent> cb = {
        ev(EventKind::PyCall, Role::App, "user.py", "sort"),
        ev(EventKind::CCall, Role::Ext, "_ctypes.so", "PyCFuncPtr_call"),
        ev(EventKind::FfiCall, Role::Ffi, "libffi.so.8", "ffi_call"),
        ev(EventKind::NativeEnter, Role::Native, "libvisit.so", "visit_sort"),
        ev(EventKind::ClosureEnter, Role::Ffi, "libffi.so.8", "ffi_closure_unix64_inner"),
        ev(EventKind::CCall, Role::Ext, "_ctypes.so", "closure_fcn"),
        ev(EventKind::PyCall, Role::App, "user.py", "on_compare"),
    };
    TraceDocument doc2;
    doc2.playback()->pause();
    doc2.appendBatch(std::move(cb));
    doc2.playback()->toEnd();
    route = doc2.diagram().route(ViewMode::Detailed);
    std::vector<std::string> labels;
    for (const auto& hop : route)
        labels.push_back(hop.label());
    EXPECT_EQ(labels, (std::vector<std::string>{"sort", "PyCFuncPtr_call", "ffi_call", "visit_sort",
                                                "ffi_closure_unix64_inner", "closure_fcn", "on_compare"}));
    Palette palette;
    const auto lay = DiagramLayout::compute(doc2.diagram(), ViewMode::Detailed, QSizeF(1400, 900), palette);
    EXPECT_EQ(lay.hops.size(), 7u);
    const auto problems = lay.problems();
    EXPECT_TRUE(problems.empty()) << QStringList(problems.begin(), problems.end()).join('\n').toStdString();
}

TEST(RouteHop, LongChainsKeepTheirEnds) {
    RouteHop hop;
    hop.functions = {"a", "b", "c", "d", "e", "f"};
    EXPECT_EQ(hop.label(), "a \u203A b \u203A \u2026 3 \u203A f");
    hop.functions = {"a", "b"};
    hop.skipped = 5;
    EXPECT_EQ(hop.label(), "a \u203A \u2026 5 \u203A b");
}
