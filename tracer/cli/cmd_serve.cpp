// `layertrace serve [serve options] run|attach ...`: the wrapped command runs as usual and its
// session is streamed live to `layertrace view` on other machines (docs/cli/serve.md).
#include "serve_hook.h"
#include "trace_options.h"

#include <layertrace/errors.h>
#include <layertrace/recording.h>
#include <layertrace/remote.h>

#include <signal.h>

#include <cerrno>
#include <csignal>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <thread>
#include <vector>

namespace layertrace::tracer::cli {

namespace {

constexpr const char* kServeUsage = R"(usage: layertrace serve [serve options] run [run options] -- PROGRAM [ARGS...]
       layertrace serve [serve options] attach PID [attach options]

Runs `run` or `attach` exactly as on their own and streams the session live to viewers
(`layertrace view HOST:PORT`) on this or other machines.

serve options:
  --listen ADDR:PORT    where viewers connect (default 127.0.0.1:7450; PORT 0 picks a free port).
                        An address other than loopback needs a token given on purpose.
  --token-file FILE     the token viewers must present (or $LAYERTRACE_TOKEN); on loopback without
                        one, a random token is generated and printed on stderr
  --token TOKEN         the same, but visible to every user in `ps` (warned)
  --wait-viewers N      start the program (or attach) only when N viewers are connected
  --history EVENTS      events kept for viewers that join late (default 0: they see from their join on)
  --viewer-queue EVENTS events queued per viewer before a slow viewer starts losing them (default 65536)
  --linger SECONDS      keep accepting viewers this long after the session ended (default 0)
  --drain SECONDS       at the end, how long viewers get to take the rest of the stream (default 5)
See docs/cli/serve.md.
)";

struct ServeCli {
    std::string listen = "127.0.0.1:7450";
    std::string tokenFile, tokenArgument;
    bool tokenArgumentGiven = false;
    std::size_t waitViewers = 0;
    std::size_t history = 0;
    std::size_t viewerQueue = 65536;
    double lingerSeconds = 0;
    double drainSeconds = 5;
    std::string command;           // run or attach
    std::vector<std::string> rest; // its arguments
};

std::size_t parseCount(const std::string& option, const std::string& text) {
    char* end = nullptr;
    errno = 0;
    const unsigned long long v = std::strtoull(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || errno != 0 || text[0] == '-') {
        throw UsageError(option + " wants a whole number, not '" + text + "'");
    }
    return static_cast<std::size_t>(v);
}

double parseSeconds(const std::string& option, const std::string& text) {
    char* end = nullptr;
    const double v = std::strtod(text.c_str(), &end);
    if (text.empty() || *end != '\0' || !(v >= 0) || !std::isfinite(v)) {
        throw UsageError(option + " wants a number of seconds (0 or more), not '" + text + "'");
    }
    return v;
}

ServeCli parseServe(int argc, char** argv) {
    ServeCli cli;
    ArgCursor args(argc, argv, 2);
    while (args.next()) {
        const std::string& a = args.name();
        if (a == "--help" || a == "-h") {
            std::cout << kServeUsage;
            std::exit(0);
        } else if (a == "--listen") {
            cli.listen = args.value();
        } else if (a == "--token-file") {
            cli.tokenFile = args.value();
        } else if (a == "--token") {
            cli.tokenArgument = args.value();
            cli.tokenArgumentGiven = true;
        } else if (a == "--wait-viewers") {
            cli.waitViewers = parseCount(a, args.value());
        } else if (a == "--history") {
            cli.history = parseCount(a, args.value());
        } else if (a == "--viewer-queue") {
            cli.viewerQueue = parseCount(a, args.value());
        } else if (a == "--linger") {
            cli.lingerSeconds = parseSeconds(a, args.value());
        } else if (a == "--drain") {
            cli.drainSeconds = parseSeconds(a, args.value());
        } else if (a == "run" || a == "attach") {
            cli.command = a;
            cli.rest = args.rest();
            return cli;
        } else {
            throw UsageError("serve wraps run or attach, got '" + a + "': layertrace serve [options] run|attach ...; "
                             "try layertrace serve --help");
        }
    }
    throw UsageError("serve needs a command to wrap: layertrace serve [options] run|attach ...");
}

} // namespace

struct ServeScope::State {
    ServeCli cli;
    std::unique_ptr<RemoteServer> server;
    std::vector<std::string> args; // the wrapped command's argv, and pointers into it
    std::vector<char*> argv;
};

namespace {
ServeScope::State* g_serve = nullptr; // set while a ServeScope lives

volatile std::sig_atomic_t g_lingerInterrupted = 0;
void onLingerSignal(int) { g_lingerInterrupted = 1; }

// Keeps accepting late viewers for `seconds` after the session, or until Ctrl-C/SIGTERM.
void linger(double seconds) {
    struct sigaction sa {};
    sa.sa_handler = onLingerSignal;
    sigemptyset(&sa.sa_mask);
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
        sigaction(sig, &sa, nullptr);
    }
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (g_lingerInterrupted == 0 && std::chrono::steady_clock::now() < end) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}
} // namespace

ServeScope::ServeScope(int& argc, char**& argv, const std::string& /*version*/) {
    if (argc < 2 || std::string(argv[1]) != "serve") {
        return;
    }
    auto state = std::make_unique<State>();
    state->cli = parseServe(argc, argv);
    const ServeCli& cli = state->cli;

    ServeOptions so;
    so.listen = parseHostPort(cli.listen, "127.0.0.1");
    so.token = loadToken(cli.tokenFile, cli.tokenArgument);
    if (cli.tokenArgumentGiven && cli.tokenFile.empty() && std::getenv("LAYERTRACE_TOKEN") == nullptr) {
        std::cerr << "layertrace serve: warning: --token is visible to every user of this machine in `ps`; "
                     "prefer --token-file FILE or LAYERTRACE_TOKEN\n";
    }
    const bool generated = so.token.empty();
    if (generated) {
        // A generated token is no deliberate choice: only a loopback server makes its own.
        if (!isLoopbackHost(so.listen.host)) {
            throw UsageError(refusalWithoutToken(so.listen));
        }
        so.token = generateToken();
    }
    so.historyEvents = cli.history;
    so.viewerQueueEvents = cli.viewerQueue;
    so.log = [](const std::string& line) { std::cerr << "layertrace serve: " << line << std::endl; };
    state->server = std::make_unique<RemoteServer>(so);
    std::cerr << "layertrace serve: listening on " << state->server->address() << '\n';
    if (generated) {
        std::cerr << "layertrace serve: token " << so.token
                  << " (generated; viewers give it with --token-file FILE or LAYERTRACE_TOKEN)\n";
    }
    if (cli.waitViewers > 0) {
        std::cerr << "layertrace serve: waiting for " << cli.waitViewers << " viewer(s) before starting\n";
        state->server->waitForViewers(cli.waitViewers);
    }
    state->args = {argv[0], cli.command};
    state->args.insert(state->args.end(), cli.rest.begin(), cli.rest.end());
    for (std::string& a : state->args) {
        state->argv.push_back(a.data());
    }
    state->argv.push_back(nullptr);
    argc = static_cast<int>(state->argv.size() - 1);
    argv = state->argv.data();
    m_state = std::move(state);
    g_serve = m_state.get();
}

ServeScope::~ServeScope() {
    if (!m_state) {
        return;
    }
    g_serve = nullptr;
    if (m_state->cli.lingerSeconds > 0) {
        std::cerr << "layertrace serve: the session ended; still accepting viewers for "
                  << m_state->cli.lingerSeconds << " s (Ctrl-C ends this)\n";
        linger(m_state->cli.lingerSeconds);
    }
    m_state->server->finish(std::chrono::milliseconds(static_cast<long long>(m_state->cli.drainSeconds * 1000)));
    const RemoteServer::Stats s = m_state->server->stats();
    std::cerr << "layertrace serve: " << s.viewersServed << " viewer(s) served, " << s.viewersRefused << " refused";
    if (s.eventsNotSent != 0) {
        std::cerr << "; " << s.eventsNotSent << " events not sent to viewers that fell behind";
    }
    std::cerr << '\n';
}

void addServeSink(TeeSink& tee, const RunOptions& options, const std::string& version) {
    if (g_serve == nullptr) {
        return;
    }
    g_serve->server->setInfo(recordingInfoFor(options, version));
    tee.add(*g_serve->server);
}

} // namespace layertrace::tracer::cli
