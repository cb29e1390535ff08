// The live-session API: launch a program with the probe, receive its events symbolized and
// classified. Used by the `layertrace` CLI and by layertrace-gui from a worker thread; attach
// (issue 5) and recordings (issue 6) plug into the same EventSink.
#pragma once

#include <layertrace/chunk_queue.h>
#include <layertrace/module_info.h>
#include <layertrace/trace_event.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace layertrace::tracer {

enum class TraceMode : std::uint8_t {
    Anchored, // only native-side events, each with the Python stack at that moment (low overhead)
    Full,     // every Python call and return too
};

struct RunOptions {
    std::vector<std::string> argv; // program and its arguments; argv[0] is looked up on PATH
    std::string cwd;               // empty: the tracer's own working directory
    std::vector<std::pair<std::string, std::string>> env; // added to (or replacing in) the environment
    TraceMode mode = TraceMode::Full;
    bool stacks = true;
    bool lossless = false;
    bool allCCalls = false;                // --c-calls all: builtins' calls too (3.11: a profile function)
    std::vector<std::string> probeSpecs;   // "LIB:GLOB", --probe
    std::vector<std::string> appPaths;     // --app: files/dirs that are the application
    std::vector<std::string> wrapperGlobs; // --wrapper: fnmatch globs of wrapper Python files
    std::string probeLibrary;              // empty: $LAYERTRACE_PROBE, else the built/installed probe
    // The program's stdout goes to the tracer's stderr: set when the trace itself is printed on
    // stdout, so a program's prints never break `--format jsonl` lines.
    bool programStdoutToStderr = false;
    // --spool-limit: most bytes of a backlog kept on disk (an unlinked file in $TMPDIR or /tmp)
    // when the program produces faster than the tracer decodes; 0: none, the probe drops (or,
    // --lossless, the program waits) as soon as the in-memory pool is full.
    static constexpr std::uint64_t kDefaultSpoolLimit = std::uint64_t(1) << 30;
    std::uint64_t spoolLimit = kDefaultSpoolLimit;
    // An attached session's stop() (the detach) settles at once: the backlog received before it
    // (the pool and the spool) is skimmed instead of decoded, which can take minutes when the
    // program outran the decoder: its events are marked as Dropped events, counted in
    // SessionResult::dropped and said in one tracer notice. What the probe sends after the
    // Detach (its rings) is decoded as usual. For a live viewer (the GUI); `layertrace attach`
    // decodes everything it received.
    bool skipBacklogOnDetach = false;
};

struct ProbeReport {
    enum class Level : std::uint8_t { Info, Warning, Error };
    // Who is speaking: the probe in the program, or the tracer about the session (the exec chain,
    // the spool, a viewer falling behind); printed as "probe info: ..." or plain "layertrace: ...".
    enum class Origin : std::uint8_t { Probe, Tracer };
    Level level = Level::Info;
    std::string message;
    Origin origin = Origin::Probe;
};

struct SessionResult {
    int exitStatus = 0;           // the program's status; 128+N when killed by signal N
    int termSignal = 0;           // N when a signal killed the program (attached: its probe said so), else 0
    bool connected = false;       // the probe connected and completed the handshake
    std::uint64_t events = 0;     // TraceEvents delivered
    std::uint64_t dropped = 0;    // events the probe dropped (sum of Dropped records), and those a detach skimmed (skipBacklogOnDetach)
    std::string streamError;      // non-empty when the stream broke or was malformed midway
    bool handshakeFailed = false; // the probe connected but the handshake failed (streamError says why)
    bool attached = false;        // Session::attach: the target is not our child; exitStatus stays 0
    bool targetExited = false;    // attached: the target exited during the session (else we detached)
    // The program ended but its stream ended without the probe's Goodbye (a crash, SIGKILL,
    // os._exit under attach): what its sender had not sent yet is lost, and not in `dropped`.
    bool goodbyeMissing = false;
    std::uint64_t discardedExits = 0; // exits not delivered: their enter was dropped or began before attach
    std::uint64_t possiblyMissing = 0; // goodbyeMissing: at most this many events were still in the probe
    std::uint64_t lostExits = 0; // exits delivered with `lost`: the call's own exit never came (TraceEvent::lost)
};

struct InjectionReport; // attach.h

// Receives a session's output. All callbacks run on the session's reader thread, one at a time
// and in stream order; implementations that feed a GUI hand the data over to their UI thread.
class EventSink {
public:
    virtual ~EventSink() = default;
    virtual void onStarted(std::uint32_t /*pid*/) {}
    // The probe in `pid` connected; `pythonVersion` is its interpreter's exact version ("3.11.2",
    // from the Hello's PY_VERSION_HEX), empty when it has none. Comes before any onModule.
    virtual void onConnected(std::uint32_t /*pid*/, const std::string& /*pythonVersion*/) {}
    // A new object was mapped or a Python file was first seen; sent before any event using it.
    virtual void onModule(const ModuleInfo& /*module*/) {}
    virtual void onEvent(const TraceEvent& event) = 0;
    virtual void onReport(const ProbeReport& /*report*/) {}
    // The probe dropped `count` events on thread `tid` (also delivered as an EventKind::Dropped event).
    virtual void onDropped(std::uint32_t /*tid*/, std::uint64_t /*count*/) {}
    // Everything received so far has been delivered and the decoder is about to wait for more:
    // a sink that batches its output writes it now, so an idle program's last lines reach a pipe
    // or a `tail -f` at once instead of waiting for a full buffer.
    virtual void onIdle() {}
    virtual void onFinished(const SessionResult& /*result*/) {}
};

class Session {
public:
    // Starts the program with the probe preloaded and a reader thread decoding its stream into
    // `sink`. Throws ProgramNotFoundError, ProbeMissingError or TransportError (errors.h) before
    // anything runs; a failed handshake is reported through the result (the program still runs).
    // `sink` must outlive the session.
    static std::unique_ptr<Session> launch(const RunOptions& options, EventSink& sink);

    // Attaches to the running process `pid` (issue 5, docs/cli/attach.md): listens on a private
    // socket, injects the probe (attach.h), and decodes its stream like launch() does. options'
    // argv/cwd/env are taken from the target. stop() detaches (the target goes on); the session
    // also ends when the target exits. Throws AttachError (attach.h), ProbeMissingError or
    // TransportError; `report` receives how long the target was paused.
    static std::unique_ptr<Session> attach(std::uint32_t pid, const RunOptions& options, EventSink& sink,
                                           InjectionReport* report = nullptr);

    ~Session(); // stops and waits if still running
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    std::uint32_t pid() const;

    // Ends the session early from any thread: the launched program gets SIGTERM (SIGKILL
    // after a grace period). An attached session detaches instead: the probe restores every
    // hook, says Goodbye, and the target goes on.
    void stop();

    // An attached session, after stop(): what was received and is not decoded yet is skimmed
    // instead (as RunOptions::skipBacklogOnDetach does at the detach itself): counted as dropped,
    // said in one notice. `layertrace attach` calls it on a second Ctrl-C, when the decoder is far
    // behind a busy program and the user does not want to wait for it.
    void skipBacklog();

    // Blocks until the program exited and its stream is fully delivered; returns the result
    // (also passed to EventSink::onFinished). Idempotent.
    SessionResult wait();

    // What the spool file did (--spool-limit; chunk_queue.h), over every image of the session:
    // read after wait(). Not part of SessionResult: it is how the tracer kept up, not what the
    // trace holds, so recordings do not carry it.
    SpoolStats spoolStats() const;

    struct Impl;

private:
    explicit Session(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> m_impl;
};

// "3.11.2" ("3.13.0rc1") from a PY_VERSION_HEX; empty for 0 (no interpreter known).
std::string pythonVersionText(std::uint32_t pyVersionHex);

// Where the probe library is: $LAYERTRACE_PROBE, else next to the build tree or install prefix.
// Throws ProbeMissingError when none exists.
std::string findProbeLibrary(const std::string& overridePath = {});

} // namespace layertrace::tracer
