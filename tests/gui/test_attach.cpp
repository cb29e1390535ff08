// Attaching from the GUI: a running demo (python3 user.py --forever, as tests/attach start their
// targets) is listed by the attach dialog, attached to, shows its events and its catalog route,
// and goes on correctly after the detach. Refusals give `layertrace attach`'s exit codes, from
// MainWindow::startAttach and from `layertrace-gui --attach PID` alike.
#include "gui_test_support.h"

#include "widgets/attach_dialog.h"
#include "widgets/main_window.h"

#include <layertrace/attach.h>
#include <layertrace/errors.h>

#include <QElapsedTimer>
#include <QProcess>
#include <QProcessEnvironment>

#include <gtest/gtest.h>

#include <unistd.h>

using namespace layertrace;
using namespace layertrace::gui;
using namespace layertrace::gui::test;

namespace {

// A demo in its --forever mode; ready once it printed "ready" (after its first good iteration).
class ForeverDemo {
public:
    explicit ForeverDemo(const QString& demo) {
        m_process.setWorkingDirectory(QString::fromStdString(tracer::Catalog::defaultDemosDir()) + QLatin1Char('/') + demo);
        m_process.start(QString::fromStdString(tracer::defaultPython()), {QStringLiteral("user.py"), QStringLiteral("--forever")});
        m_ready = m_process.waitForStarted(10000) &&
                  waitFor([this] {
                      m_output += m_process.readAllStandardOutput();
                      return m_output.contains("ready") || m_process.state() == QProcess::NotRunning;
                  }, 60000) &&
                  m_output.contains("ready");
    }
    ~ForeverDemo() {
        if (m_process.state() != QProcess::NotRunning) {
            m_process.kill();
            m_process.waitForFinished(10000);
        }
    }
    bool ready() const { return m_ready; }
    std::uint32_t pid() const { return std::uint32_t(m_process.processId()); }
    QString output() const { return QString::fromUtf8(m_output) + QString::fromUtf8(m_process.readAllStandardError()); }
    bool running() const { return m_process.state() == QProcess::Running; }
    // SIGTERM: the demo finishes its iteration, checks its results and exits 0.
    bool terminateAndCheck(QString* why) {
        m_process.terminate();
        if (!m_process.waitForFinished(30000)) {
            *why = QStringLiteral("did not exit after SIGTERM");
            return false;
        }
        m_output += m_process.readAllStandardOutput();
        *why = output();
        return m_process.exitStatus() == QProcess::NormalExit && m_process.exitCode() == 0 &&
               m_output.contains("all correct");
    }

private:
    mutable QProcess m_process;
    QByteArray m_output;
    bool m_ready = false;
};

// Exit status of a command run to its end (offscreen Qt for the GUI).
int runToEnd(const QString& program, const QStringList& args, QString* err) {
    QProcess p;
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("QT_QPA_PLATFORM"), QStringLiteral("offscreen"));
    p.setProcessEnvironment(env);
    p.start(program, args);
    if (!p.waitForFinished(60000))
        return -1;
    *err = QString::fromUtf8(p.readAllStandardError()).trimmed();
    return p.exitCode();
}

} // namespace

TEST(Attach, DialogListsARunningPythonProcessWithOwnerAndCommandLine) {
    ForeverDemo target(QStringLiteral("ctypes_complex_struct"));
    ASSERT_TRUE(target.ready()) << target.output().toStdString();
    AttachDialog dialog;
    ASSERT_TRUE(dialog.selectPid(target.pid())) << "PID " << target.pid() << " not listed";
    EXPECT_EQ(dialog.selectedPid(), target.pid());
    const QList<QTreeWidgetItem*> rows = dialog.table()->selectedItems();
    ASSERT_EQ(rows.size(), 1);
    EXPECT_TRUE(rows.front()->text(3).contains(QStringLiteral("user.py --forever"))) << rows.front()->text(3).toStdString();
    EXPECT_EQ(rows.front()->text(1), processOwner(std::uint32_t(::getpid()))); // started by us, so ours
    EXPECT_FALSE(rows.front()->text(2).isEmpty());
    // Our own process is never offered.
    EXPECT_FALSE(dialog.selectPid(std::uint32_t(::getpid())));
}

TEST(Attach, AttachShowsEventsAndTheRouteThenDetachLeavesTheTargetRunningCorrectly) {
    std::string why;
    if (!liveTracingAvailable(&why))
        GTEST_SKIP() << "live tracing unavailable: " << why;
    ForeverDemo target(QStringLiteral("ctypes_complex_struct"));
    ASSERT_TRUE(target.ready()) << target.output().toStdString();

    MainWindow w;
    const StartOutcome outcome = w.startAttach(target.pid());
    if (!outcome.ok && outcome.exitCode == int(tracer::AttachFailure::PermissionDenied))
        GTEST_SKIP() << "ptrace not permitted here: " << outcome.error.toStdString();
    ASSERT_TRUE(outcome.ok) << outcome.error.toStdString();
    ASSERT_NE(w.liveSource(), nullptr);
    EXPECT_TRUE(w.liveSource()->attaching());
    EXPECT_TRUE(w.windowTitle().contains(QString::number(target.pid())));

    // Each iteration makes one transform_record() call: wait for the route to show.
    const tracer::Catalog catalog = tracer::Catalog::load(tracer::Catalog::defaultDemosDir() + "/catalog.json");
    const tracer::Demo* demo = catalog.find("ctypes_complex_struct");
    ASSERT_NE(demo, nullptr);
    // Asked as the events come, so each check replays only the new ones (RouteWatch), and at most
    // twice a second: a replay on each 20 ms turn of waitFor starves the event loop that ingests.
    RouteWatch routes(w.document(), *demo);
    QElapsedTimer sinceRouteCheck;
    sinceRouteCheck.start();
    const auto routeShown = [&] {
        if (w.document().totalEvents() <= 2000 || sinceRouteCheck.elapsed() < 500)
            return false;
        sinceRouteCheck.restart();
        return routes.notShownYet().empty();
    };
    EXPECT_TRUE(waitFor(routeShown, 120000))
        << w.document().totalEvents() << " events; " << w.document().sourceState().toStdString();
    EXPECT_TRUE(w.hasUnsavedTrace());

    w.stopTracing(); // detach
    // Finished once the probe's last events reached the views. The demo makes millions of events
    // a second, far more than the tracer decodes (under ASan: the spool at its 1 GiB limit within
    // seconds); what was received but not decoded before the detach is skimmed, so this takes
    // seconds, not the many minutes decoding it all would.
    ASSERT_TRUE(waitFor([&] { return w.ingest()->finished(); }, 180000));
    EXPECT_TRUE(w.document().sourceState().contains(QStringLiteral("detached"))) << w.document().sourceState().toStdString();
    EXPECT_TRUE(w.liveSource()->result().attached);
    EXPECT_FALSE(w.liveSource()->result().targetExited);
    EXPECT_TRUE(w.document().sourceError().isEmpty()) << w.document().sourceError().toStdString();

    // Detached, the target goes on: still running, then it finishes with correct results.
    EXPECT_TRUE(target.running());
    QString log;
    EXPECT_TRUE(target.terminateAndCheck(&log)) << log.toStdString();
}

TEST(Attach, RefusalsGiveLayertraceAttachsExitCodes) {
    MainWindow w;
    // A PID that names no process.
    StartOutcome none = w.startAttach(0x3ffffff0u);
    EXPECT_FALSE(none.ok);
    EXPECT_EQ(none.exitCode, int(tracer::AttachFailure::NoSuchProcess)) << none.error.toStdString();
    EXPECT_EQ(w.ingest(), nullptr) << "a refusal must leave the window alone";
    // A process that is not Python.
    QProcess sleeper;
    sleeper.start(QStringLiteral("sleep"), {QStringLiteral("60")});
    ASSERT_TRUE(sleeper.waitForStarted());
    const StartOutcome notPython = w.startAttach(std::uint32_t(sleeper.processId()));
    EXPECT_EQ(notPython.exitCode, int(tracer::AttachFailure::NotPython)) << notPython.error.toStdString();
    EXPECT_TRUE(notPython.error.contains(QString::number(sleeper.processId())));
    EXPECT_FALSE(notPython.error.contains(QLatin1Char('\n')));
    sleeper.kill();
    sleeper.waitForFinished();
}

TEST(Attach, CommandLineAttachExitsLikeLayertraceAttach) {
    QProcess sleeper;
    sleeper.start(QStringLiteral("sleep"), {QStringLiteral("60")});
    ASSERT_TRUE(sleeper.waitForStarted());
    const QString pid = QString::number(sleeper.processId());
    QString guiErr, cliErr;
    const int gui = runToEnd(QStringLiteral(LAYERTRACE_GUI_BIN), {QStringLiteral("--attach"), pid}, &guiErr);
    const int cli = runToEnd(QStringLiteral(LAYERTRACE_CLI_BIN), {QStringLiteral("attach"), pid}, &cliErr);
    sleeper.kill();
    sleeper.waitForFinished();
    EXPECT_EQ(gui, int(tracer::AttachFailure::NotPython)) << guiErr.toStdString();
    EXPECT_EQ(gui, cli) << guiErr.toStdString() << " / " << cliErr.toStdString();
    EXPECT_TRUE(guiErr.endsWith(cliErr.section(QStringLiteral("layertrace: "), 1))) << guiErr.toStdString();

    // A recording that is not one: both exit 7.
    const QString notRecording = QStringLiteral(LAYERTRACE_TEST_DATA "/fixtures.json");
    EXPECT_EQ(runToEnd(QStringLiteral(LAYERTRACE_GUI_BIN), {notRecording}, &guiErr), int(tracer::ExitCode::BadInput))
        << guiErr.toStdString();
    EXPECT_EQ(runToEnd(QStringLiteral(LAYERTRACE_CLI_BIN), {QStringLiteral("replay"), notRecording}, &cliErr),
              int(tracer::ExitCode::BadInput));
}
