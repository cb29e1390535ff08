// layertrace-gui's command line: what to open (start screen, a demo, a command, a PID, a file,
// the scripted example) and how to present it (view, size, scale, palette, screenshot).
#pragma once

#include <QSize>
#include <QString>
#include <QStringList>

#include <cstddef>

namespace layertrace::gui {

// Exit codes of layertrace-gui (docs/gui.md). Tracer errors keep the tracer's codes (3..8).
// Opening a recording and attaching fail with the tracer's codes (7 damaged or not a recording,
// 8 unreadable; 10..16 attach refusals, as `layertrace attach`), so --screenshot's timeout uses 17.
enum class GuiExit : int {
    Ok = 0,
    Usage = 2,          // bad command line
    ScreenshotFailed = 9,
    Timeout = 17,       // --screenshot waited too long for the trace to finish
};

struct GuiOptions {
    enum class Open { Start, Demo, Run, Attach, Recording, Example, Connect };
    Open open = Open::Start;
    QString demo;
    QStringList command;
    qint64 pid = 0;
    QString file;
    QString server;                 // --connect HOST:PORT (layertrace serve)
    QString tokenFile;              // --token-file FILE for --connect
    QString output;                 // -o/--output: save the live session's recording there

    QString screenshot;             // render and exit
    QString view = QStringLiteral("window"); // window|diagram|events|tree|timeline|details|start
    QSize size{1400, 900};
    int scalePercent = 100;
    bool highContrast = false;
    bool summary = false;           // three-layer view
    bool presentation = false;
    QString at = QStringLiteral("deepest"); // playback position for screenshots: deepest|end|start|N
    std::size_t eventBudget = 0;    // 0: default
    int timeoutSeconds = 60;
    bool anchored = false;

    bool help = false;
    QString error;                  // non-empty: usage error, one line
};

GuiOptions parseCommandLine(const QStringList& arguments);
QString usageText();

} // namespace layertrace::gui
