// layertrace-gui entry point: parse the command line, open the requested trace (demo, command,
// attached PID, recording), and for --screenshot render the chosen view to a PNG (or SVG) once
// the trace is complete. Opening and attaching fail with the tracer's exit codes.
#include "core/remote_source.h"
#include "widgets/command_line.h"
#include "widgets/main_window.h"

#include <QApplication>
#include <QDir>
#include <QPainter>
#include <QSvgGenerator>
#include <QTimer>

#include <layertrace/attach.h>
#include <layertrace/errors.h>
#include <layertrace/remote.h>

#include <cstdio>
#include <limits>

using namespace layertrace;
using namespace layertrace::gui;

namespace {

int fail(int code, const QString& message) {
    std::fprintf(stderr, "layertrace-gui: %s\n", qPrintable(message));
    return code;
}

int fail(GuiExit code, const QString& message) { return fail(int(code), message); }

// What `layertrace attach` would exit with once an attached session is over: 5 when the
// handshake failed, 16 when the injected probe never connected, else 0.
int attachedSessionStatus(const MainWindow& w) {
    const LiveSource* live = w.liveSource();
    if (!live || !w.ingest() || !w.ingest()->finished())
        return 0;
    if (live->result().handshakeFailed)
        return int(tracer::ExitCode::Handshake);
    if (!live->result().connected)
        return int(tracer::AttachFailure::InjectionFailed);
    return 0;
}

void applyPosition(MainWindow& w, const QString& at) {
    Playback* pb = w.document().playback();
    pb->pause();
    if (at == QLatin1String("end"))
        pb->toEnd();
    else if (at == QLatin1String("start"))
        pb->toStart();
    else if (at == QLatin1String("deepest")) {
        const std::int64_t d = pb->deepestPosition();
        pb->seek(d >= 0 ? d : std::int64_t(w.document().store().endIndex()) - 1);
    } else
        pb->seek(at.toLongLong());
    if (pb->cursor() >= 0)
        w.document().select(pb->cursor());
}

bool saveView(MainWindow& w, const GuiOptions& o) {
    QWidget* target = w.viewWidget(o.view);
    if (o.view != QLatin1String("window") && o.view != QLatin1String("diagram") && o.view != QLatin1String("start")) {
        // Engineer views are rendered on their own at the requested size rather than as docks.
        target->setParent(nullptr);
        target->resize(o.size);
        target->show();
    }
    QApplication::processEvents();
    if (o.screenshot.endsWith(QLatin1String(".svg"), Qt::CaseInsensitive)) {
        // Vector output for slides and print: the same paint code, drawn into an SVG.
        QSvgGenerator svg;
        svg.setFileName(o.screenshot);
        svg.setSize(target->size());
        svg.setViewBox(QRect(QPoint(0, 0), target->size()));
        svg.setTitle(QStringLiteral("layertrace"));
        QPainter painter;
        if (!painter.begin(&svg))
            return false;
        target->render(&painter);
        painter.end();
        std::printf("layertrace-gui: wrote %s (SVG %dx%d, view %s)\n", qPrintable(o.screenshot), target->width(),
                    target->height(), qPrintable(o.view));
        return true;
    }
    const QPixmap pixmap = target->grab();
    if (pixmap.isNull() || !pixmap.save(o.screenshot, "PNG"))
        return false;
    std::printf("layertrace-gui: wrote %s (%dx%d, view %s)\n", qPrintable(o.screenshot), pixmap.width(), pixmap.height(),
                qPrintable(o.view));
    return true;
}

} // namespace

int main(int argc, char** argv) {
    QApplication app(argc, argv);
    QApplication::setApplicationName(QStringLiteral("layertrace-gui"));
    const GuiOptions o = parseCommandLine(QApplication::arguments());
    if (o.help) {
        std::fputs(qPrintable(usageText()), stdout);
        return 0;
    }
    if (!o.error.isEmpty())
        return fail(GuiExit::Usage, o.error);
    MainWindow w(o.eventBudget);
    w.resize(o.size);
    w.setScalePercent(o.scalePercent);
    w.setHighContrast(o.highContrast);
    if (o.summary)
        w.setViewMode(ViewMode::Summary);
    const QString catalogError = w.loadCatalog();
    w.setAutoSavePath(o.output);

    QString error;
    bool started = true;
    switch (o.open) {
    case GuiOptions::Open::Demo: error = w.startDemo(o.demo, o.anchored); break;
    case GuiOptions::Open::Run:
        error = w.startRun(o.command, QDir::currentPath(), o.command.join(QLatin1Char(' ')), o.anchored);
        break;
    case GuiOptions::Open::Example: w.startExample(); break;
    case GuiOptions::Open::Recording: {
        const StartOutcome opened = w.openRecording(o.file);
        if (!opened.ok)
            return fail(opened.exitCode, opened.error);
        break;
    }
    case GuiOptions::Open::Attach: {
        if (o.pid > std::numeric_limits<std::uint32_t>::max())
            return fail(int(tracer::AttachFailure::NoSuchProcess), QStringLiteral("no such process: PID %1").arg(o.pid));
        const StartOutcome attached = w.startAttach(std::uint32_t(o.pid), o.anchored);
        if (!attached.ok)
            return fail(attached.exitCode, attached.error);
        break;
    }
    case GuiOptions::Open::Connect: {
        StartOutcome connected;
        try {
            // The same rules and messages as `layertrace view` (--token-file, else $LAYERTRACE_TOKEN).
            connected = w.connectToServer(o.server, tracer::loadToken(o.tokenFile.toStdString(), {}));
        } catch (const tracer::Error& e) {
            connected = {false, e.exitCode(), QString::fromStdString(e.what())};
        }
        if (!connected.ok)
            return fail(connected.exitCode, connected.error);
        // Refused (9) or unreachable (6) before any of the session arrived: exit as `view` does.
        QObject::connect(&w, &MainWindow::ingestFinished, &w, [&w] {
            const auto* remote = w.ingest() ? dynamic_cast<const RemoteSource*>(&w.ingest()->source()) : nullptr;
            if (remote && !remote->outcome().ok)
                QApplication::exit(fail(remote->outcome().exitCode, remote->outcome().error));
        });
        break;
    }
    default:
        started = false;
        w.showStart();
        break;
    }
    if (!error.isEmpty())
        return fail(GuiExit::Usage, error);
    if (o.presentation)
        w.setPresentation(true);

    if (o.screenshot.isEmpty()) {
        w.show();
        const int exitCode = QApplication::exec(); // non-zero: a --connect that was refused
        const QString saveError = w.finishSession();
        if (!saveError.isEmpty())
            return fail(int(tracer::ExitCode::Io), saveError);
        return o.open == GuiOptions::Open::Attach ? attachedSessionStatus(w) : exitCode;
    }

    // Screenshot mode: wait until the trace is complete (or time out), then render and exit.
    w.show();
    if (o.view == QLatin1String("diagram"))
    {
        // A diagram screenshot shows the diagram alone, at the requested scale.
        w.setPresentation(true);
        w.setScalePercent(o.scalePercent);
    }
    int rc = 0;
    auto finish = [&] {
        if (started)
            applyPosition(w, o.at);
        if (!w.document().sourceError().isEmpty()) // e.g. a damaged recording: say so, then render
            std::fprintf(stderr, "layertrace-gui: %s\n", qPrintable(w.document().sourceError()));
        rc = saveView(w, o) ? 0 : fail(GuiExit::ScreenshotFailed, QStringLiteral("could not write %1").arg(o.screenshot));
        QApplication::exit(rc);
    };
    if (started && w.ingest() && !w.ingest()->finished()) {
        QObject::connect(&w, &MainWindow::ingestFinished, &w, [&] { QTimer::singleShot(50, &w, finish); });
        QTimer::singleShot(o.timeoutSeconds * 1000, &w, [&] {
            rc = fail(GuiExit::Timeout, QStringLiteral("the trace did not finish within %1 s (--timeout)").arg(o.timeoutSeconds));
            QApplication::exit(rc);
        });
    } else {
        QTimer::singleShot(50, &w, finish);
    }
    if (!catalogError.isEmpty() && o.open == GuiOptions::Open::Start)
        std::fprintf(stderr, "layertrace-gui: %s\n", qPrintable(catalogError));
    const int code = QApplication::exec();
    const QString saveError = w.finishSession();
    if (!saveError.isEmpty())
        return fail(int(tracer::ExitCode::Io), saveError);
    return code;
}
