// `layertrace view HOST:PORT`: connects to `layertrace serve` and prints the live session as
// `run` prints it (same formatters); probe reports and the server's notices go to stderr.
#include <layertrace/errors.h>
#include <layertrace/formatters.h>
#include <layertrace/remote.h>

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>

namespace layertrace::tracer::cli {

namespace {

constexpr const char* kViewUsage = R"(usage: layertrace view HOST:PORT [--token-file FILE | --token TOKEN]
                       [--format tree|path|jsonl] [--color auto|always|never] [--text-output FILE]

Connects to `layertrace serve` and prints its session live, as `run` prints it. The token comes
from --token-file, else $LAYERTRACE_TOKEN, else --token (visible in ps: warned).
See docs/cli/serve.md.
)";

// Reports on stderr; serve's own notices (a late join, events lost by a slow viewer) say so.
class ViewDiagnostics : public EventSink {
public:
    void onEvent(const TraceEvent&) override {}
    void onReport(const ProbeReport& r) override {
        if (r.message.rfind("serve: ", 0) == 0) {
            std::cerr << "layertrace view: " << r.message << '\n';
            return;
        }
        const char* level = r.level == ProbeReport::Level::Error     ? "error"
                            : r.level == ProbeReport::Level::Warning ? "warning"
                                                                     : "info";
        std::cerr << "layertrace: probe " << level << ": " << r.message << '\n';
    }
    void onFinished(const SessionResult& r) override { result = r; }
    SessionResult result;
};

} // namespace

int viewMain(int argc, char** argv) {
    std::string server, format = "tree", color = "auto", textOutput, tokenFile, tokenArgument;
    bool tokenArgumentGiven = false;
    for (int i = 2; i < argc; ++i) {
        std::string a = argv[i];
        std::string inlineValue;
        const bool hasInline = a.rfind("--", 0) == 0 && a.find('=') != std::string::npos;
        if (hasInline) {
            inlineValue = a.substr(a.find('=') + 1);
            a = a.substr(0, a.find('='));
        }
        auto val = [&]() -> std::string {
            if (hasInline) {
                return inlineValue;
            }
            if (i + 1 >= argc) {
                throw UsageError(a + " needs a value");
            }
            return argv[++i];
        };
        if (a == "--help" || a == "-h") {
            std::cout << kViewUsage;
            return 0;
        } else if (a == "--format") {
            format = val();
        } else if (a == "--color" || a == "--colour") {
            color = val();
        } else if (a == "--text-output") {
            textOutput = val();
        } else if (a == "--token-file") {
            tokenFile = val();
        } else if (a == "--token") {
            tokenArgument = val();
            tokenArgumentGiven = true;
        } else if (!a.empty() && a[0] == '-') {
            throw UsageError("unknown option '" + a + "' for view; try layertrace view --help");
        } else if (server.empty()) {
            server = a;
        } else {
            throw UsageError("view connects to one server, got '" + server + "' and '" + a + "'");
        }
    }
    if (server.empty()) {
        throw UsageError("no server given: layertrace view HOST:PORT [--token-file FILE]");
    }
    if (format != "tree" && format != "path" && format != "jsonl") {
        throw UsageError("--format must be tree, path or jsonl, not '" + format + "'");
    }
    if (color != "auto" && color != "always" && color != "never") {
        throw UsageError("--color must be auto, always or never");
    }
    const HostPort hp = parseHostPort(server, "127.0.0.1");
    const std::string token = loadToken(tokenFile, tokenArgument);
    if (tokenArgumentGiven && tokenFile.empty() && std::getenv("LAYERTRACE_TOKEN") == nullptr) {
        std::cerr << "layertrace view: warning: --token is visible to every user of this machine in `ps`; "
                     "prefer --token-file FILE or LAYERTRACE_TOKEN\n";
    }
    std::ofstream text;
    std::ostream* out = &std::cout;
    bool tty = ::isatty(STDOUT_FILENO) != 0;
    if (!textOutput.empty()) {
        text.open(textOutput, std::ios::out | std::ios::trunc);
        if (!text) {
            throw IoError(textOutput, std::string("cannot open for writing: ") + std::strerror(errno));
        }
        out = &text;
        tty = false;
    }
    FormatOptions fo;
    fo.color = color == "always" || (color == "auto" && tty);
    const OutputFormat of = format == "path"    ? OutputFormat::Path
                            : format == "jsonl" ? OutputFormat::Jsonl
                                                : OutputFormat::Tree;
    auto formatter = makeFormatter(of, *out, fo);
    ViewDiagnostics diag;
    TeeSink tee;
    tee.add(*formatter);
    tee.add(diag);
    try {
        connectRemote(hp.host, hp.port, token, tee);
    } catch (...) {
        out->flush(); // what arrived before the failure stays printed
        throw;
    }
    out->flush();
    const SessionResult& r = diag.result;
    if (!r.streamError.empty()) {
        std::cerr << "layertrace view: the served session's stream error: " << r.streamError << '\n';
    }
    if (r.dropped != 0) {
        std::cerr << "layertrace view: the probe dropped " << r.dropped << " events in the served session\n";
    }
    return 0;
}

} // namespace layertrace::tracer::cli
