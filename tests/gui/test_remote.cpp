// Watching a served session (issue 8, docs/cli/serve.md): `layertrace serve --wait-viewers 1`
// runs a demo on loopback; the GUI connects and shows every event serve recorded (-o), and a
// wrong token makes `layertrace-gui --connect` exit like `layertrace view`: 9, the same message.
// Closing while the server sends nothing does not wait for it.
#include "gui_test_support.h"

#include "core/remote_source.h"
#include "widgets/main_window.h"

#include <layertrace/errors.h>
#include <layertrace/recording.h>
#include <layertrace/session.h>

#include <QFile>
#include <QProcess>
#include <QProcessEnvironment>
#include <QRegularExpression>
#include <QTemporaryDir>

#include <gtest/gtest.h>

using namespace layertrace;
using namespace layertrace::gui;
using namespace layertrace::gui::test;

namespace {

const QString kToken = QStringLiteral("projector-token-0123456789abcdef");

struct Counted : tracer::EventSink {
    std::uint64_t events = 0;
    void onEvent(const TraceEvent&) override { ++events; }
};

// Runs `program args` to its end with LAYERTRACE_TOKEN=token (offscreen Qt for the GUI).
int runWithToken(const QString& program, const QStringList& args, const QString& token, QString* err) {
    QProcess p;
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("QT_QPA_PLATFORM"), QStringLiteral("offscreen"));
    env.insert(QStringLiteral("LAYERTRACE_TOKEN"), token);
    p.setProcessEnvironment(env);
    p.start(program, args);
    if (!p.waitForFinished(60000))
        return -1;
    *err = QString::fromUtf8(p.readAllStandardError()).trimmed();
    return p.exitCode();
}

// What follows "layertrace: " / "layertrace-gui: " on the line that names the refusal.
QString refusalLine(const QString& stderrText) {
    const QRegularExpressionMatch m = QRegularExpression(QStringLiteral("^layertrace(?:-gui)?: (.*refused this viewer.*)$"),
                                                         QRegularExpression::MultilineOption)
                                          .match(stderrText);
    return m.hasMatch() ? m.captured(1) : QString();
}

bool writeToken(const QString& path) {
    QFile f(path);
    return f.open(QIODevice::WriteOnly) && f.write(kToken.toUtf8() + "\n") > 0;
}

// Every test here: a temporary directory with the token file, and `layertrace serve` of
// c_ext_ctypes_add on loopback recording to `served` (skipped where live tracing cannot run).
class Remote : public ::testing::Test {
protected:
    void SetUp() override {
        std::string why;
        if (!liveTracingAvailable(&why))
            GTEST_SKIP() << why;
        ASSERT_TRUE(m_dir.isValid());
        m_tokenFile = m_dir.filePath(QStringLiteral("token"));
        ASSERT_TRUE(writeToken(m_tokenFile));
        served = m_dir.filePath(QStringLiteral("served.ltr"));
    }

    void TearDown() override {
        if (serve.state() != QProcess::NotRunning) {
            serve.kill(); // a program that never started; its connection threads end with the socket
            serve.waitForFinished(10000);
        }
    }

    // Starts serve, which runs the demo once `waitViewers` viewers passed the token check; returns
    // its address ("" when it printed none) and leaves its stderr so far in `serveErr`.
    QString startServe(const QString& waitViewers) {
        serve.setWorkingDirectory(QString::fromStdString(tracer::Catalog::defaultDemosDir()) +
                                  QStringLiteral("/c_ext_ctypes_add"));
        // Lossless: none dropped on a loaded machine (anchored, without stacks, every builtin's call
        // too with --c-calls all: about 95,000 events).
        serve.start(QStringLiteral(LAYERTRACE_CLI_BIN),
                    {QStringLiteral("serve"), QStringLiteral("--listen"), QStringLiteral("127.0.0.1:0"),
                     QStringLiteral("--token-file"), m_tokenFile, QStringLiteral("--wait-viewers"), waitViewers,
                     QStringLiteral("run"), QStringLiteral("--mode"), QStringLiteral("anchored"), QStringLiteral("--no-stacks"),
                     QStringLiteral("--lossless"), QStringLiteral("--c-calls"), QStringLiteral("all"),
                     QStringLiteral("--text-output"), QStringLiteral("/dev/null"), QStringLiteral("-o"), served, QStringLiteral("--"), QString::fromStdString(tracer::defaultPython()),
                     QStringLiteral("user.py")});
        if (!serve.waitForStarted(10000))
            return {};
        QString address;
        waitFor([&] {
            serveErr += QString::fromUtf8(serve.readAllStandardError());
            const QRegularExpressionMatch m = QRegularExpression(QStringLiteral("listening on (\\S+)")).match(serveErr);
            address = m.captured(1);
            return m.hasMatch() || serve.state() == QProcess::NotRunning;
        }, 60000);
        return address;
    }

    QProcess serve;
    QString serveErr;
    QString served; // what serve recorded (-o)

private:
    QTemporaryDir m_dir;
    QString m_tokenFile;
};

} // namespace

TEST_F(Remote, WindowShowsEveryServedEventAndAWrongTokenExitsLikeView) {
    const QString address = startServe(QStringLiteral("1"));
    ASSERT_FALSE(address.isEmpty()) << serveErr.toStdString();

    // A wrong token: the GUI exits as `layertrace view` does, and serve goes on waiting.
    QString guiErr, viewErr;
    const int gui = runWithToken(QStringLiteral(LAYERTRACE_GUI_BIN), {QStringLiteral("--connect"), address},
                                 QStringLiteral("wrong-token"), &guiErr);
    const int view = runWithToken(QStringLiteral(LAYERTRACE_CLI_BIN), {QStringLiteral("view"), address},
                                  QStringLiteral("wrong-token"), &viewErr);
    EXPECT_EQ(view, int(tracer::ExitCode::Refused)) << viewErr.toStdString();
    EXPECT_EQ(gui, view) << guiErr.toStdString();
    EXPECT_FALSE(refusalLine(guiErr).isEmpty()) << guiErr.toStdString();
    EXPECT_EQ(refusalLine(guiErr), refusalLine(viewErr));
    EXPECT_TRUE(guiErr.contains(QStringLiteral("wrong token"))) << guiErr.toStdString();

    // The right token: the window receives the whole session.
    MainWindow w;
    const StartOutcome connected = w.connectToServer(address, kToken.toStdString());
    ASSERT_TRUE(connected.ok) << connected.error.toStdString();
    ASSERT_TRUE(waitFor([&] { return w.ingest() && w.ingest()->finished(); }, 240000))
        << w.document().sourceState().toStdString();
    ASSERT_TRUE(serve.state() == QProcess::NotRunning || serve.waitForFinished(60000)); // false once it ended
    serveErr += QString::fromUtf8(serve.readAllStandardError());
    ASSERT_EQ(serve.exitCode(), 0) << serveErr.toStdString();
    EXPECT_TRUE(serveErr.contains(QStringLiteral("received the whole session"))) << serveErr.toStdString();
    EXPECT_TRUE(serveErr.contains(QStringLiteral("1 viewer(s) served, 2 refused"))) << serveErr.toStdString();

    Counted recorded;
    tracer::RecordingReader(served.toStdString()).replay(recorded);
    const auto& remote = dynamic_cast<const RemoteSource&>(w.ingest()->source());
    EXPECT_TRUE(remote.outcome().ok) << remote.outcome().error.toStdString();
    EXPECT_TRUE(w.document().sourceError().isEmpty()) << w.document().sourceError().toStdString();
    EXPECT_GT(recorded.events, 1000u);
    EXPECT_EQ(remote.result().events, recorded.events);
    EXPECT_EQ(w.document().totalEvents(), recorded.events);
    EXPECT_EQ(w.document().droppedByGui(), 0u);
    EXPECT_TRUE(w.document().sourceState().startsWith(QStringLiteral("complete"))) << w.document().sourceState().toStdString();
}

// Closing the window while the served program has not started (serve waits for a second viewer,
// so nothing arrives) returns at once instead of waiting for the server's next record.
TEST_F(Remote, ClosingWhileTheServerIsQuietReturnsAtOnce) {
    const QString address = startServe(QStringLiteral("2"));
    ASSERT_FALSE(address.isEmpty()) << serveErr.toStdString();
    {
        MainWindow w;
        ASSERT_TRUE(w.connectToServer(address, kToken.toStdString()).ok);
        // Serve logs the viewer once it passed the token check.
        ASSERT_TRUE(waitFor([&] {
            serveErr += QString::fromUtf8(serve.readAllStandardError());
            return serveErr.contains(QStringLiteral("connected"));
        }, 30000)) << serveErr.toStdString();
        QElapsedTimer clock;
        clock.start();
        EXPECT_TRUE(w.finishSession().isEmpty());
        EXPECT_LT(clock.elapsed(), 2000);
        ASSERT_TRUE(waitFor([&] { return w.ingest()->finished(); }, 5000));
        EXPECT_TRUE(w.document().sourceState().startsWith(QStringLiteral("stopped watching"))) << w.document().sourceState().toStdString();
        EXPECT_EQ(w.document().totalEvents(), 0u);
    }
}
