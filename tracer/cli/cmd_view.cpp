// `layertrace view HOST:PORT`: connects to `layertrace serve` and prints the live session as
// `run` prints it (same formatters); probe reports and the server's notices go to stderr.
#include <layertrace/errors.h>
#include <layertrace/formatters.h>
#include <layertrace/remote.h>

#include "trace_options.h"

#include <cstdlib>
#include <iostream>
#include <string>

namespace layertrace::tracer::cli {

namespace {

constexpr const char* kViewUsage = R"(usage: layertrace view HOST:PORT [--token-file FILE | --token TOKEN]
                       [--format tree|path|jsonl] [--color auto|always|never] [--text-output FILE]
                       [filters: --tid --layer --role --module --function --only-crossings]

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
        } else {
            printProbeReport(r);
        }
    }
    void onFinished(const SessionResult& r) override { result = r; }
    SessionResult result;
};

} // namespace

int viewMain(int argc, char** argv) {
    std::string server, tokenFile, tokenArgument;
    bool tokenArgumentGiven = false;
    OutputOptions output;
    ArgCursor args(argc, argv, 2);
    while (args.next()) {
        if (args.name() == "--help" || args.name() == "-h") {
            std::cout << kViewUsage;
            return 0;
        }
        if (parseOutputOption(args, output)) {
        } else if (args.name() == "--token-file") {
            tokenFile = args.value();
        } else if (args.name() == "--token") {
            tokenArgument = args.value();
            tokenArgumentGiven = true;
        } else if (args.isOption()) {
            unknownOption(args.name(), "view", "layertrace view --help");
        } else if (server.empty()) {
            server = args.name();
        } else {
            throw UsageError("view connects to one server, got '" + server + "' and '" + args.name() + "'");
        }
    }
    if (server.empty()) {
        throw UsageError("no server given: layertrace view HOST:PORT [--token-file FILE]");
    }
    const HostPort hp = parseHostPort(server, "127.0.0.1");
    const std::string token = loadToken(tokenFile, tokenArgument);
    if (tokenArgumentGiven && tokenFile.empty() && std::getenv("LAYERTRACE_TOKEN") == nullptr) {
        std::cerr << "layertrace view: warning: --token is visible to every user of this machine in `ps`; "
                     "prefer --token-file FILE or LAYERTRACE_TOKEN\n";
    }
    TracePrinter printer(output);
    ViewDiagnostics diag;
    TeeSink tee;
    tee.add(printer.sink());
    tee.add(diag);
    try {
        connectRemote(hp.host, hp.port, token, tee);
    } catch (...) {
        printer.finish(); // what arrived before the failure stays printed
        throw;
    }
    printer.finish();
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
