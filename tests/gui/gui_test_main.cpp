// Entry point of the GUI tests: offscreen platform, 96 DPI, no high-DPI scaling and a fixed font,
// so sizes and text metrics are the same on every machine; then gtest.
#include "gui_test_support.h"

#include "core/catalog_model.h"

#include <layertrace/errors.h>
#include <layertrace/session.h>

#include <QApplication>
#include <QFont>
#include <QThread>

#include <gtest/gtest.h>

#include <algorithm>
#include <mutex>

namespace layertrace::gui::test {

namespace {
std::mutex g_mutex;
QStringList* g_sink = nullptr;
QtMessageHandler g_previous = nullptr;

void collect(QtMsgType type, const QMessageLogContext& ctx, const QString& msg) {
    {
        std::lock_guard lock(g_mutex);
        if (g_sink && (type == QtWarningMsg || type == QtCriticalMsg) && msg.contains(QLatin1String("FAIL!"))) {
            g_sink->append(msg);
            return;
        }
    }
    if (g_previous)
        g_previous(type, ctx, msg);
}
} // namespace

ModelChecker::ModelChecker(QAbstractItemModel* model) {
    std::lock_guard lock(g_mutex);
    g_sink = new QStringList;
    g_previous = qInstallMessageHandler(collect);
    m_tester = std::make_unique<QAbstractItemModelTester>(model, QAbstractItemModelTester::FailureReportingMode::Warning);
}

ModelChecker::~ModelChecker() {
    m_tester.reset();
    std::lock_guard lock(g_mutex);
    qInstallMessageHandler(g_previous);
    delete g_sink;
    g_sink = nullptr;
}

QStringList ModelChecker::failures() const {
    std::lock_guard lock(g_mutex);
    return g_sink ? *g_sink : QStringList();
}

int slowdown() {
    // LAYERTRACE_TEST_SLOWDOWN in the environment overrides the build's factor (a loaded machine).
    static const int factor = std::max(1, qEnvironmentVariableIsSet("LAYERTRACE_TEST_SLOWDOWN")
                                              ? qEnvironmentVariableIntValue("LAYERTRACE_TEST_SLOWDOWN")
                                              : LAYERTRACE_BUILD_TEST_SLOWDOWN);
    return factor;
}

bool waitFor(const std::function<bool()>& done, int timeoutMs) {
    const qint64 limitMs = qint64(timeoutMs) * slowdown();
    QElapsedTimer t;
    t.start();
    while (!done()) {
        if (t.elapsed() > limitMs)
            return false;
        QCoreApplication::processEvents(QEventLoop::AllEvents, 20);
        QThread::msleep(2);
    }
    return true;
}

void feedPartFour(TraceDocument& doc) { doc.appendBatch(scriptedPartFourTrace()); }

bool liveTracingAvailable(std::string* why) {
    try {
        tracer::findProbeLibrary();
    } catch (const tracer::Error& e) {
        *why = e.what();
        return false;
    }
    return true;
}

std::vector<std::string> routesNotShown(const TraceDocument& doc, const tracer::Demo& demo) {
    return RouteWatch(doc, demo).notShownYet();
}

RouteWatch::RouteWatch(const TraceDocument& doc, const tracer::Demo& demo) : m_doc(doc) {
    for (const auto& path : demo.paths)
        for (ViewMode mode : {ViewMode::Detailed, ViewMode::Summary})
            m_watches.push_back({&path, mode, DiagramActivity{}});
}

std::vector<std::string> RouteWatch::notShownYet() {
    std::vector<std::string> missing;
    const EventStore& store = m_doc.store();
    const std::uint64_t from = std::max(m_replayedTo, store.firstIndex());
    for (Watch& w : m_watches) {
        if (!w.seen) {
            DiagramState scratch = m_doc.diagram();
            scratch.resetActivity();
            scratch.restoreActivity(w.activity);
            for (std::uint64_t i = from; !w.seen && i < store.endIndex(); ++i) {
                scratch.apply(store.at(i), i);
                w.seen = DiagramState::changesPath(store.at(i).kind) && routeMatches(scratch, w.mode, *w.path);
            }
            w.activity = scratch.activity();
        }
        if (!w.seen)
            missing.push_back(w.path->name + (w.mode == ViewMode::Detailed ? " (detailed)" : " (three-layer)"));
    }
    m_replayedTo = store.endIndex();
    return missing;
}

} // namespace layertrace::gui::test

int main(int argc, char** argv) {
    qputenv("QT_QPA_PLATFORM", "offscreen");
    qputenv("QT_FONT_DPI", "96");
    qputenv("QT_ENABLE_HIGHDPI_SCALING", "0");
    qputenv("QT_SCALE_FACTOR", "1");
    QApplication app(argc, argv);
    QApplication::setFont(QFont(QStringLiteral("DejaVu Sans"), 9));
    ::testing::InitGoogleTest(&argc, argv);
    return RUN_ALL_TESTS();
}
