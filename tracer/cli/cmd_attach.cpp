// `layertrace attach PID` (trace a running Python process, then detach and leave it as it was)
// and `layertrace ps` (the Python processes this user may attach to). docs/cli/attach.md, ps.md.
#include <layertrace/attach.h>
#include <layertrace/errors.h>
#include <layertrace/formatters.h>
#include <layertrace/json.h>
#include <layertrace/recording.h>
#include <layertrace/session.h>

#include "losses.h"
#include "serve_hook.h"
#include "trace_options.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>

namespace layertrace::tracer::cli {

namespace {

constexpr const char* kAttachUsage = R"(usage: layertrace attach PID [--duration SECONDS] [options]
       layertrace ps [--format text|jsonl]

attach   bring the probe into the running Python process PID, print every layer hop as `run`
         does, and detach on --duration, Ctrl-C (SIGINT/SIGTERM) or when PID exits; the process
         goes on exactly as before
ps       list the Python processes you may attach to: PID, interpreter version, command line

attach options: --format tree|path|jsonl, --mode full|anchored, --probe LIB:GLOB, --no-stacks,
  --lossless, --spool-limit SIZE, --c-calls extensions|all, --app PATH, --wrapper GLOB, -o/--output FILE, --text-output FILE,
  --color auto|always|never, filters (--tid N, --layer L, --role R, --module GLOB,
  --function GLOB, --hide GLOB, --only-crossings) as for run (docs/cli/run.md), --duration SECONDS
  (of tracing, counted once attached)
See docs/cli/attach.md and docs/cli/ps.md.
)";

int g_wakeWrite = -1; // self-pipe: signals and the session's end wake the waiting main thread

void onStopSignal(int) {
    const char c = 's';
    [[maybe_unused]] const ssize_t n = ::write(g_wakeWrite, &c, 1);
}

// Prints the probe's reports and wakes the CLI when the session ends on its own (target exit).
class AttachDiagnostics : public EventSink {
public:
    void onEvent(const TraceEvent& event) override {
        if (m_firstEvent.time_since_epoch().count() == 0) {
            m_firstEvent = std::chrono::steady_clock::now();
        }
        (void)event;
    }
    void onReport(const ProbeReport& r) override { printProbeReport(r); }
    void onFinished(const SessionResult&) override {
        const char c = 'f';
        [[maybe_unused]] const ssize_t n = ::write(g_wakeWrite, &c, 1);
    }
    std::chrono::steady_clock::time_point firstEvent() const { return m_firstEvent; }

private:
    std::chrono::steady_clock::time_point m_firstEvent{};
};

// After the detach the session goes on decoding what it received before it (a busy program can
// be far ahead of the decoder: up to --spool-limit). A second stop signal skims the rest instead;
// returns when the session has ended.
void waitForTheBacklog(int wakeRead, Session& session) {
    bool told = false;
    for (;;) {
        pollfd p{wakeRead, POLLIN, 0};
        const int r = ::poll(&p, 1, told ? -1 : 1000);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r == 0) {
            std::fprintf(stderr, "layertrace: detached; still decoding what arrived before the detach "
                                 "(Ctrl-C again to skip it)\n");
            told = true;
            continue;
        }
        char c = 0;
        while (::read(wakeRead, &c, 1) == 1) {
            if (c == 'f') {
                return;
            }
            session.skipBacklog();
        }
    }
}

struct AttachCli {
    std::uint32_t pid = 0;
    double duration = 0; // 0: until Ctrl-C or the target exits
    TraceOptions trace;
};

std::uint32_t parsePid(const std::string& text) {
    char* end = nullptr;
    errno = 0;
    const unsigned long v = std::strtoul(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || errno != 0 || v == 0 || v > 4194304) {
        throw UsageError("attach wants a process id (a positive number), not '" + text + "'; see layertrace ps");
    }
    return static_cast<std::uint32_t>(v);
}

AttachCli parseAttach(int argc, char** argv) {
    AttachCli cli;
    bool havePid = false;
    ArgCursor args(argc, argv, 2);
    while (args.next()) {
        const std::string& a = args.name();
        if (a == "--help" || a == "-h") {
            std::cout << kAttachUsage;
            std::exit(0);
        } else if (a == "--duration") {
            const std::string v = args.value();
            char* end = nullptr;
            cli.duration = std::strtod(v.c_str(), &end);
            if (v.empty() || *end != '\0' || !(cli.duration > 0) || !std::isfinite(cli.duration)) {
                throw UsageError("--duration wants a positive number of seconds, not '" + v + "'");
            }
        } else if (parseTraceOptions(args, cli.trace)) {
        } else if (args.isOption()) {
            unknownOption(a, "attach", "layertrace attach --help");
        } else if (!havePid) {
            cli.pid = parsePid(a);
            havePid = true;
        } else {
            throw UsageError("attach takes one PID, got another argument '" + a + "'");
        }
    }
    if (!havePid) {
        throw UsageError("no PID given: layertrace attach PID [options] (layertrace ps lists candidates)");
    }
    return cli;
}

} // namespace

int attachMain(int argc, char** argv, const std::string& version) {
    const AttachCli cli = parseAttach(argc, argv);
    TracePrinter printer(cli.trace.output, cli.pid);
    int wake[2];
    if (::pipe2(wake, O_CLOEXEC | O_NONBLOCK) != 0) {
        throw TransportError(std::string("pipe: ") + std::strerror(errno));
    }
    g_wakeWrite = wake[1];
    struct sigaction sa {};
    sa.sa_handler = onStopSignal;
    sigemptyset(&sa.sa_mask);
    for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) {
        sigaction(sig, &sa, nullptr);
    }

    AttachDiagnostics diag;
    TeeSink tee;
    tee.add(printer.sink());
    tee.add(diag);
    std::unique_ptr<RecordingWriter> recording;
    if (!cli.trace.recording.empty()) {
        recording = std::make_unique<RecordingWriter>(cli.trace.recording, recordingInfoFor(cli.trace.run, version));
        tee.add(*recording);
    }
    addServeSink(tee, cli.trace.run, version);
    const auto attachStart = std::chrono::steady_clock::now();
    InjectionReport injected;
    auto session = Session::attach(cli.pid, cli.trace.run, tee, &injected);
    const double attachMs =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - attachStart).count();
    std::fprintf(stderr,
                 "layertrace: attached to PID %u in %.1f ms (all %zu threads paused %.2f ms, thread %u %.2f ms%s%s)\n",
                 cli.pid, attachMs, injected.threadsStopped, injected.pausedMs, injected.injectedTid,
                 injected.injectedThreadPausedMs, injected.injectedInSyscall ? ", in a system call" : "",
                 injected.probeWasLoaded ? ", probe already loaded" : "");

    // Wait for --duration, a stop signal, or the end of the session (target exit, lost probe).
    // The duration is time traced, so it counts from here: counted from the start of the
    // attach, a slow injection (a loaded machine, many threads) ate a short --duration and
    // left a trace with almost nothing in it.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(cli.duration);
    for (;;) {
        int timeout = -1;
        if (cli.duration > 0) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            timeout = static_cast<int>(std::max<long long>(0, left.count()));
        }
        pollfd p{wake[0], POLLIN, 0};
        const int r = ::poll(&p, 1, timeout);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        break;
    }
    // What woke us is read now, so that only a later signal counts as the second one.
    bool ended = false;
    for (char c = 0; ::read(wake[0], &c, 1) == 1;) {
        ended = ended || c == 'f';
    }
    session->stop(); // detaches (nothing to do when the session already ended)
    if (!ended) {
        waitForTheBacklog(wake[0], *session);
    }
    const SessionResult result = session->wait();
    printer.finish();
    if (recording) {
        recording->close();
    }
    if (diag.firstEvent().time_since_epoch().count() != 0) {
        std::fprintf(stderr, "layertrace: first event %.1f ms after attach began; %llu events\n",
                     std::chrono::duration<double, std::milli>(diag.firstEvent() - attachStart).count(),
                     static_cast<unsigned long long>(result.events));
    }
    if (!result.streamError.empty()) {
        std::cerr << "layertrace: " << result.streamError << '\n';
    }
    printSpooled(session->spoolStats(), std::cerr);
    printLosses(result, LossContext::Attach, std::cerr);
    if (result.handshakeFailed) {
        return static_cast<int>(ExitCode::Handshake);
    }
    if (!result.connected) {
        return static_cast<int>(AttachFailure::InjectionFailed);
    }
    if (result.termSignal != 0) {
        printKilledBySignal(result, "PID " + std::to_string(cli.pid), std::cerr);
        return 0;
    }
    std::cerr << "layertrace: " << (result.targetExited ? "PID " + std::to_string(cli.pid) + " exited"
                                                        : "detached from PID " + std::to_string(cli.pid) +
                                                              "; it goes on untraced")
              << '\n';
    return 0;
}

int psMain(int argc, char** argv) {
    std::string format = "text";
    for (int i = 2; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--format" && i + 1 < argc) {
            format = argv[++i];
        } else if (a.rfind("--format=", 0) == 0) {
            format = a.substr(9);
        } else if (a == "--help" || a == "-h") {
            std::cout << kAttachUsage;
            return 0;
        } else {
            throw UsageError("unknown argument '" + a + "' for ps; try layertrace ps --help");
        }
    }
    if (format != "text" && format != "jsonl") {
        throw UsageError("ps --format must be text or jsonl, not '" + format + "'");
    }
    const std::vector<PythonProcess> procs = listPythonProcesses();
    if (format == "text") {
        std::printf("%7s  %-8s  %s\n", "PID", "PYTHON", "COMMAND");
    }
    for (const auto& p : procs) {
        if (format == "jsonl") {
            std::cout << "{\"pid\":" << p.pid << ",\"version\":" << json::quoted(p.version)
                      << ",\"executable\":" << json::quoted(p.executable)
                      << ",\"interpreter\":" << json::quoted(p.interpreterObject)
                      << ",\"probe_loaded\":" << (p.probeLoaded ? "true" : "false")
                      << ",\"command\":" << json::quoted(p.commandLine) << "}\n";
        } else {
            std::printf("%7u  %-8s  %s%s\n", p.pid, p.version.c_str(), p.commandLine.c_str(),
                        p.probeLoaded ? "  [probe loaded]" : "");
        }
    }
    std::cout.flush();
    return 0;
}

} // namespace layertrace::tracer::cli
