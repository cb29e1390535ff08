// Command-line parsing for layertrace-gui (hand-written: `--run -- CMD...` must pass the
// command's own options through untouched, which QCommandLineParser cannot).
#include "widgets/command_line.h"

namespace layertrace::gui {

QString usageText() {
    return QStringLiteral(
        "usage: layertrace-gui [options] [FILE]\n"
        "       layertrace-gui [options] --demo NAME | --run -- CMD [ARGS...] | --attach PID | --example\n"
        "       layertrace-gui [options] --connect HOST:PORT [--token-file FILE]\n"
        "\n"
        "  --demo NAME          run a catalog demo live under the tracer\n"
        "  --run -- CMD...      run CMD live under the tracer\n"
        "  --attach PID         attach to a running Python process (Stop tracing detaches; it goes on)\n"
        "  --connect HOST:PORT  watch the session `layertrace serve` streams there (docs/cli/serve.md)\n"
        "  --token-file FILE    the token for --connect (else $LAYERTRACE_TOKEN)\n"
        "  FILE                 open a recording (.ltr)\n"
        "  -o, --output FILE    save the live session (--demo, --run, --attach) as a recording when it ends\n"
        "  --example            the Part IV transform() call as a scripted (not live) event sequence\n"
        "  --anchored           anchored mode: native events only, each with its Python stack\n"
        "  --summary            start in the three-layer view\n"
        "  --scale PCT          presentation scale, 100..300\n"
        "  --high-contrast      colour-blind-safe palette with hatched layers\n"
        "  --presentation       presentation mode (diagram and playback only)\n"
        "  --event-budget N     keep at most N events in memory (default 500000)\n"
        "  --screenshot FILE    render --view to FILE (.png, or .svg for the vector drawing) when the trace\n"
        "                       is complete, then exit\n"
        "  --view NAME          window|diagram|events|tree|timeline|details|start (default window)\n"
        "  --size WxH           window size for --screenshot (default 1400x900)\n"
        "  --at POS             playback position for --screenshot: deepest|start|end|N\n"
        "  --timeout SECONDS    how long --screenshot waits for the trace (default 60)\n");
}

GuiOptions parseCommandLine(const QStringList& arguments) {
    GuiOptions o;
    auto fail = [&o](const QString& msg) {
        o.error = msg;
        return o;
    };
    for (int i = 1; i < arguments.size(); ++i) {
        const QString& a = arguments[i];
        auto value = [&](QString* out) {
            if (i + 1 >= arguments.size())
                return false;
            *out = arguments[++i];
            return true;
        };
        QString v;
        if (a == QLatin1String("--demo")) {
            if (!value(&o.demo))
                return fail(QStringLiteral("--demo needs a demo name (see demos/catalog.json)"));
            o.open = GuiOptions::Open::Demo;
        } else if (a == QLatin1String("--run")) {
            if (i + 1 < arguments.size() && arguments[i + 1] == QLatin1String("--"))
                ++i;
            o.command = arguments.mid(i + 1);
            if (o.command.isEmpty())
                return fail(QStringLiteral("--run needs a command: layertrace-gui --run -- python3 script.py"));
            o.open = GuiOptions::Open::Run;
            break;
        } else if (a == QLatin1String("--attach")) {
            bool ok = false;
            if (!value(&v) || (o.pid = v.toLongLong(&ok), !ok) || o.pid <= 0)
                return fail(QStringLiteral("--attach needs a process id"));
            o.open = GuiOptions::Open::Attach;
        } else if (a == QLatin1String("--connect")) {
            if (!value(&o.server) || o.server.isEmpty())
                return fail(QStringLiteral("--connect needs HOST:PORT of a `layertrace serve`"));
            o.open = GuiOptions::Open::Connect;
        } else if (a == QLatin1String("--token-file")) {
            if (!value(&o.tokenFile) || o.tokenFile.isEmpty())
                return fail(QStringLiteral("--token-file needs the file holding serve's token"));
        } else if (a == QLatin1String("-o") || a == QLatin1String("--output")) {
            if (!value(&o.output) || o.output.isEmpty())
                return fail(QStringLiteral("%1 needs a file name for the recording (e.g. trace.ltr)").arg(a));
        } else if (a == QLatin1String("--example")) {
            o.open = GuiOptions::Open::Example;
        } else if (a == QLatin1String("--anchored")) {
            o.anchored = true;
        } else if (a == QLatin1String("--summary")) {
            o.summary = true;
        } else if (a == QLatin1String("--high-contrast")) {
            o.highContrast = true;
        } else if (a == QLatin1String("--presentation")) {
            o.presentation = true;
        } else if (a == QLatin1String("--scale")) {
            bool ok = false;
            if (!value(&v) || (o.scalePercent = v.toInt(&ok), !ok) || o.scalePercent < 100 || o.scalePercent > 300)
                return fail(QStringLiteral("--scale needs a percentage from 100 to 300"));
        } else if (a == QLatin1String("--event-budget")) {
            bool ok = false;
            if (!value(&v) || (o.eventBudget = v.toULongLong(&ok), !ok) || o.eventBudget == 0)
                return fail(QStringLiteral("--event-budget needs a positive number of events"));
        } else if (a == QLatin1String("--screenshot")) {
            if (!value(&o.screenshot))
                return fail(QStringLiteral("--screenshot needs an output PNG path"));
        } else if (a == QLatin1String("--view")) {
            static const QStringList views = {QStringLiteral("window"), QStringLiteral("diagram"), QStringLiteral("events"),
                                              QStringLiteral("tree"),   QStringLiteral("timeline"), QStringLiteral("details"),
                                              QStringLiteral("start")};
            if (!value(&o.view) || !views.contains(o.view))
                return fail(QStringLiteral("--view needs one of: %1").arg(views.join(QLatin1Char('|'))));
        } else if (a == QLatin1String("--size")) {
            const QStringList wh = value(&v) ? v.split(QLatin1Char('x')) : QStringList();
            if (wh.size() != 2 || wh[0].toInt() < 200 || wh[1].toInt() < 150)
                return fail(QStringLiteral("--size needs WIDTHxHEIGHT, at least 200x150"));
            o.size = QSize(wh[0].toInt(), wh[1].toInt());
        } else if (a == QLatin1String("--at")) {
            if (!value(&o.at))
                return fail(QStringLiteral("--at needs deepest, start, end or an event number"));
        } else if (a == QLatin1String("--timeout")) {
            bool ok = false;
            if (!value(&v) || (o.timeoutSeconds = v.toInt(&ok), !ok) || o.timeoutSeconds <= 0)
                return fail(QStringLiteral("--timeout needs a number of seconds"));
        } else if (a == QLatin1String("-h") || a == QLatin1String("--help")) {
            o.help = true;
            return o;
        } else if (a.startsWith(QLatin1Char('-'))) {
            return fail(QStringLiteral("unknown option '%1' (layertrace-gui --help lists them)").arg(a));
        } else {
            o.file = a;
            o.open = GuiOptions::Open::Recording;
        }
    }
    const bool live = o.open == GuiOptions::Open::Demo || o.open == GuiOptions::Open::Run || o.open == GuiOptions::Open::Attach;
    if (!o.output.isEmpty() && !live)
        return fail(QStringLiteral("--output saves a live session: use it with --demo, --run or --attach"));
    if (!o.tokenFile.isEmpty() && o.open != GuiOptions::Open::Connect)
        return fail(QStringLiteral("--token-file is the token for --connect HOST:PORT"));
    return o;
}

} // namespace layertrace::gui
