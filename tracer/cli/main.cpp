// The `layertrace` command line: parses arguments and drives the tracer core library; every
// error becomes one line on stderr and a documented exit code (docs/cli/exit-codes.md).
#include <layertrace/catalog.h>
#include <layertrace/errors.h>
#include <layertrace/formatters.h>
#include <layertrace/recording.h>
#include <layertrace/session.h>

#include "losses.h"
#include "module_list.h"
#include "serve_hook.h"
#include "trace_options.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

using namespace layertrace;
using namespace layertrace::tracer;
using namespace layertrace::tracer::cli;

namespace {

constexpr const char* kUsage = R"(usage: layertrace run [options] -- PROGRAM [ARGS...]
       layertrace modules [options] -- PROGRAM [ARGS...]
       layertrace demos
       layertrace replay FILE [--format tree|path|jsonl] [filters] [--color ...] [--text-output FILE]
       layertrace dump FILE
       layertrace export FILE --format chrome|speedscope [-O OUT]
       layertrace attach PID [--duration SECONDS] [options]
       layertrace ps
       layertrace serve [--listen ADDR:PORT] [--token-file F] run|attach ...
       layertrace view HOST:PORT [--token-file F] [--format tree|path|jsonl]
       layertrace --help | --version

run      launch PROGRAM with the probe and print every layer hop as it happens
modules  launch PROGRAM, then list every loaded object and Python file with its role and why
demos    list the bundled demos (catalog.json) and the command that runs each
replay   print a recording (-o) exactly as the live run printed it
dump     print a recording's raw blocks and records (for debugging the format)
export   convert a recording to Chrome Trace Event JSON (Perfetto) or speedscope
attach   trace the running Python process PID, then detach and leave it as it was
ps       list the Python processes you may attach to
serve    run or attach as usual and stream the session live to viewers (see serve --help)
view     print a served session live, as run prints it

options:
  --format tree|path|jsonl  output format (default tree; modules: text or jsonl)
  --mode full|anchored      full: every Python call too (default); anchored: native events only,
                            each with its Python stack
  --probe LIB:GLOB          also hook functions matching GLOB in objects matching LIB (repeatable)
  --no-stacks               do not capture native/Python stacks
  --lossless                make the program wait instead of dropping events
  --spool-limit SIZE        when the tracer is behind, keep up to SIZE of the stream on disk
                            (an unlinked file in $TMPDIR or /tmp) rather than drop; default 1G,
                            0: none (the probe drops as soon as the tracer's memory pool is full)
  --c-calls extensions|all  C function calls reported: extension modules' (default) or every
                            builtin's too (Python 3.11: costs a profile function, 2-3x)
  --app PATH                files/directories that are the application (repeatable)
  --wrapper GLOB            Python files that are wrappers (repeatable)
  -o, --output FILE         also write a recording of the session to FILE (.ltr; see replay)
  --text-output FILE        write the printed output to FILE instead of stdout
  --color auto|always|never colour roles (default auto: when stdout is a terminal)
  -C DIR                    run PROGRAM in DIR
  --all-images              modules: list the objects of every program PROGRAM exec'd through,
                            not only the Python interpreter's

filters (run, attach, replay; values of one filter are alternatives, different filters all apply):
  --tid N                   only thread N (repeatable)
  --layer python|extension|ffi|native   only calls of code in that layer (repeatable)
  --role ROLE               only calls of code with that role: app, wrapper, pylib, ext, glue,
                            capi, ffi, native, unknown (repeatable)
  --module GLOB             only calls of code in objects/files whose name or path matches
  --function GLOB           calls whose symbol or Python name matches (or MODULE:SYMBOL), and
                            everything they call until they return
  --hide GLOB               leave out matching calls (as for --function) and everything they call
  --only-crossings          only calls that cross into another layer (Python, extension, libffi,
                            native), as the path format's hops do
See docs/cli/run.md, docs/cli/modules.md and docs/layers.md.
)";

std::atomic<pid_t> g_child{0};

// Ctrl-C reaches the program through the terminal; we keep running to print what it sent. A
// handler (not SIG_IGN) so the program does not inherit an ignored SIGINT across exec.
void onInterrupt(int) {}
void onTerminate(int sig) {
    const pid_t pid = g_child.load();
    if (pid > 0) {
        ::kill(pid, sig);
    }
}

void installSignalHandlers() {
    struct sigaction sa {};
    sa.sa_handler = onInterrupt;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGQUIT, &sa, nullptr);
    sa.sa_handler = onTerminate;
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGHUP, &sa, nullptr);
}

struct Cli {
    std::string command;
    TraceOptions trace;
    bool allImages = false; // modules --all-images
};

// `modules` shares run's capture options but prints a module list, not a trace: no recording,
// no filters, its own formats.
void checkModulesOptions(const TraceOptions& trace) {
    if (!trace.recording.empty()) {
        throw UsageError("modules does not write recordings (-o/--output is for run and attach); "
                         "use --text-output FILE to save the module list");
    }
    if (!trace.output.filter.empty()) {
        throw UsageError("modules lists objects, it has no event filters (--tid, --layer, --role, --module, "
                         "--function, --hide, --only-crossings are for run, attach and replay)");
    }
}

Cli parse(int argc, char** argv) {
    Cli cli;
    if (argc < 2) {
        throw UsageError("missing command (run, modules, demos, replay, dump, export); try layertrace --help");
    }
    cli.command = argv[1];
    if (cli.command == "--help" || cli.command == "-h" || cli.command == "help" || cli.command == "--version") {
        return cli;
    }
    if (cli.command != "run" && cli.command != "modules" && cli.command != "demos") {
        throw UsageError("unknown command '" + cli.command + "' (run, modules, demos, replay, dump, export); try layertrace --help");
    }
    const bool modules = cli.command == "modules";
    if (modules) {
        cli.trace.output.format = "text";
    }
    ArgCursor args(argc, argv, 2);
    std::vector<std::string> program;
    while (args.next()) {
        const std::string& a = args.name();
        if (a == "--") {
            program = args.rest();
            break;
        }
        if (modules && a == "--format") {
            cli.trace.output.format = args.value();
            if (cli.trace.output.format != "text" && cli.trace.output.format != "jsonl") {
                throw UsageError("modules --format must be text or jsonl, not '" + cli.trace.output.format + "'");
            }
        } else if (modules && a == "--all-images") {
            cli.allImages = true;
        } else if (a == "-C") {
            cli.trace.run.cwd = args.value();
        } else if (parseTraceOptions(args, cli.trace)) {
        } else if (args.isOption()) {
            unknownOption(a, cli.command, "layertrace --help");
        } else {
            program = args.rest(); // the program starts here (-- is optional)
            program.insert(program.begin(), a);
            break;
        }
    }
    cli.trace.run.argv = std::move(program);
    if (cli.command != "demos" && cli.trace.run.argv.empty()) {
        throw UsageError("no program given: layertrace " + cli.command + " [options] -- PROGRAM [ARGS...]");
    }
    if (modules) {
        checkModulesOptions(cli.trace);
    }
    return cli;
}

// Prints probe reports as they come (stderr).
class Diagnostics : public EventSink {
public:
    void onEvent(const TraceEvent&) override {}
    void onReport(const ProbeReport& r) override { printProbeReport(r); }
};

// The program's status, or 5 when the handshake failed: the trace the user asked for was not made.
int summarize(const SessionResult& result, const SpoolStats& spool) {
    if (result.handshakeFailed) {
        std::cerr << "layertrace: " << result.streamError << " (the program ran untraced and exited with "
                  << result.exitStatus << ")\n";
        return static_cast<int>(ExitCode::Handshake);
    }
    if (!result.streamError.empty()) {
        std::cerr << "layertrace: " << result.streamError << '\n';
    }
    cli::printKilledBySignal(result, "the program", std::cerr);
    if (!result.connected) {
        std::cerr << "layertrace: no events arrived: the probe never connected (a static binary, a program that "
                     "is not Python, or the probe turned itself off; see its reports above)\n";
    } else {
        cli::printSpooled(spool, std::cerr);
        cli::printLosses(result, cli::LossContext::Run, std::cerr);
    }
    return result.exitStatus;
}

int runCommand(const Cli& cli) {
    TracePrinter printer(cli.trace.output);
    Diagnostics diag;
    TeeSink tee;
    tee.add(printer.sink());
    tee.add(diag);
    std::unique_ptr<RecordingWriter> recording;
    if (!cli.trace.recording.empty()) {
        recording = std::make_unique<RecordingWriter>(cli.trace.recording,
                                                      recordingInfoFor(cli.trace.run, LAYERTRACE_VERSION));
        tee.add(*recording);
    }
    cli::addServeSink(tee, cli.trace.run, LAYERTRACE_VERSION);
    auto session = Session::launch(cli.trace.run, tee);
    g_child = static_cast<pid_t>(session->pid());
    const SessionResult result = session->wait();
    g_child = 0;
    printer.finish();
    if (recording) {
        recording->close(); // IoError (exit 8) if any block could not be written
    }
    return summarize(result, session->spoolStats());
}

int modulesCommand(const Cli& cli, std::ostream& out) {
    RunOptions opts = cli.trace.run;
    opts.stacks = false;
    ModuleList list;
    auto session = Session::launch(opts, list);
    g_child = static_cast<pid_t>(session->pid());
    const SessionResult result = session->wait();
    g_child = 0;
    list.print(out, cli.trace.output.format == "jsonl", cli.allImages);
    return summarize(result, session->spoolStats());
}

int demosCommand(std::ostream& out) {
    const std::string dir = Catalog::defaultDemosDir();
    const Catalog cat = Catalog::load(dir + "/catalog.json");
    for (const auto& d : cat.demos) {
        out << d.name << " (Part " << d.part << "): " << d.title << "\n  cd " << cat.demoDir(d) << " && layertrace run --";
        for (const auto& a : d.resolvedArgv(defaultPython())) {
            out << ' ' << a;
        }
        out << '\n';
    }
    return 0;
}

} // namespace

namespace layertrace::tracer::cli {
int replayMain(int argc, char** argv);
int dumpMain(int argc, char** argv);
int exportMain(int argc, char** argv, const std::string& version);
int attachMain(int argc, char** argv, const std::string& version);
int psMain(int argc, char** argv);
int viewMain(int argc, char** argv);
} // namespace layertrace::tracer::cli

int main(int argc, char** argv) {
    try {
        // `serve run|attach ...` becomes run/attach with a viewer server (cmd_serve.cpp).
        const cli::ServeScope serve(argc, argv, LAYERTRACE_VERSION);
        // Recording commands (cmd_*.cpp) parse their own arguments.
        const std::string first = argc > 1 ? argv[1] : "";
        if (first == "replay") {
            return cli::replayMain(argc, argv);
        }
        if (first == "dump") {
            return cli::dumpMain(argc, argv);
        }
        if (first == "export") {
            return cli::exportMain(argc, argv, LAYERTRACE_VERSION);
        }
        if (first == "attach") { // cmd_attach.cpp
            return cli::attachMain(argc, argv, LAYERTRACE_VERSION);
        }
        if (first == "ps") {
            return cli::psMain(argc, argv);
        }
        if (first == "view") {
            return cli::viewMain(argc, argv);
        }
        Cli cli = parse(argc, argv);
        if (cli.command == "--help" || cli.command == "-h" || cli.command == "help") {
            std::cout << kUsage;
            return 0;
        }
        if (cli.command == "--version") {
            std::cout << "layertrace " << LAYERTRACE_VERSION << " (wire protocol " << 1 << ")\n";
            return 0;
        }
        // The trace owns stdout: the program's own prints go to stderr so they never break it.
        cli.trace.run.programStdoutToStderr = cli.trace.output.textOutput.empty() && cli.command != "demos";
        installSignalHandlers();
        if (cli.command == "run") {
            return runCommand(cli);
        }
        std::ofstream file;
        std::ostream& out = openTextOutput(cli.trace.output.textOutput, file);
        if (cli.command == "demos") {
            return demosCommand(out);
        }
        return modulesCommand(cli, out);
    } catch (const Error& e) {
        std::cerr << "layertrace: " << e.what() << '\n';
        return e.exitCode();
    } catch (const std::exception& e) {
        std::cerr << "layertrace: internal error: " << e.what() << " (please report this)\n";
        return static_cast<int>(ExitCode::Internal);
    }
}
