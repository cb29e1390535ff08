// `layertrace replay FILE`: plays a recording through the same formatters as `layertrace run`, so
// stdout is what the live run printed; probe reports and the summary go to stderr as they did live.
#include <layertrace/errors.h>
#include <layertrace/formatters.h>
#include <layertrace/recording.h>

#include "losses.h"
#include "trace_options.h"

#include <ctime>
#include <iostream>
#include <string>

namespace layertrace::tracer::cli {

namespace {

// Reports as the live run printed them, and the recorded result's summary.
class ReplayDiagnostics : public EventSink {
public:
    void onEvent(const TraceEvent&) override {}
    void onReport(const ProbeReport& r) override { printProbeReport(r); }
    void onFinished(const SessionResult& r) override { result = r; }
    SessionResult result;
};

std::string wallClock(std::uint64_t unixNs) {
    const std::time_t t = static_cast<std::time_t>(unixNs / 1000000000u);
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    char buf[64];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
    return buf;
}

} // namespace

// One line on stderr saying what is being replayed (stdout stays identical to the live run).
void describeRecording(RecordingReader& reader, std::ostream& err) {
    const RecordingInfo& info = reader.info();
    err << "layertrace: replaying " << reader.path() << ":";
    for (const auto& a : info.argv) {
        err << ' ' << a;
    }
    err << " (pid " << info.pid << ", recorded " << wallClock(info.startUnixNs);
    if (!info.hostname.empty()) {
        err << " on " << info.hostname;
    }
    if (!info.pythonVersion.empty()) {
        err << ", Python " << info.pythonVersion;
    }
    err << ", layertrace " << info.layertraceVersion << ")\n";
}

int replayMain(int argc, char** argv) {
    std::string file;
    OutputOptions output;
    bool quiet = false;
    ArgCursor args(argc, argv, 2);
    while (args.next()) {
        RunOptions capture;
        if (parseOutputOption(args, output)) {
        } else if (args.name() == "-q" || args.name() == "--quiet") {
            quiet = true;
        } else if (parseCaptureOption(args, capture)) {
            throw UsageError(args.name() + " was fixed when the recording was made; replay cannot change it "
                             "(layertrace dump shows the recorded options)");
        } else if (args.isOption()) {
            unknownOption(args.name(), "replay", "layertrace --help");
        } else {
            takeRecordingPath(args.name(), file, "replay");
        }
    }
    if (file.empty()) {
        throw UsageError("no recording given: layertrace replay FILE [--format tree|path|jsonl] [filters]");
    }
    RecordingReader reader(file);
    TracePrinter printer(output);
    if (!quiet) {
        describeRecording(reader, std::cerr);
    }
    ReplayDiagnostics diag;
    TeeSink tee;
    tee.add(printer.sink());
    tee.add(diag);
    reader.replay(tee); // throws RecordingError (exit 7) after delivering everything before the damage
    printer.finish();
    const SessionResult& r = diag.result;
    if (!r.streamError.empty()) {
        std::cerr << "layertrace: recorded stream error: " << r.streamError << '\n';
    }
    printKilledBySignal(r, "the recorded program", std::cerr);
    printLosses(r, LossContext::Replay, std::cerr);
    return 0;
}

} // namespace layertrace::tracer::cli
