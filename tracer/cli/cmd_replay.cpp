// `layertrace replay FILE`: plays a recording through the same formatters as `layertrace run`, so
// stdout is what the live run printed; probe reports and the summary go to stderr as they did live.
#include <layertrace/errors.h>
#include <layertrace/formatters.h>
#include <layertrace/recording.h>

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <string>

namespace layertrace::tracer::cli {

namespace {

// Reports as the live run printed them, and the recorded result's summary.
class ReplayDiagnostics : public EventSink {
public:
    void onEvent(const TraceEvent&) override {}
    void onReport(const ProbeReport& r) override {
        const char* level = r.level == ProbeReport::Level::Error     ? "error"
                            : r.level == ProbeReport::Level::Warning ? "warning"
                                                                     : "info";
        std::cerr << "layertrace: probe " << level << ": " << r.message << '\n';
    }
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
    std::string file, format = "tree", color = "auto", textOutput;
    bool quiet = false;
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
        if (a == "--format") {
            format = val();
        } else if (a == "--color" || a == "--colour") {
            color = val();
        } else if (a == "--text-output") {
            textOutput = val();
        } else if (a == "-q" || a == "--quiet") {
            quiet = true;
        } else if (!a.empty() && a[0] == '-' && a != "-") {
            throw UsageError("unknown option '" + a + "' for replay; try layertrace --help");
        } else if (file.empty()) {
            file = a;
        } else {
            throw UsageError("replay takes one recording, got '" + file + "' and '" + a + "'");
        }
    }
    if (file.empty()) {
        throw UsageError("no recording given: layertrace replay FILE [--format tree|path|jsonl]");
    }
    if (format != "tree" && format != "path" && format != "jsonl") {
        throw UsageError("--format must be tree, path or jsonl, not '" + format + "'");
    }
    if (color != "auto" && color != "always" && color != "never") {
        throw UsageError("--color must be auto, always or never");
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
    RecordingReader reader(file);
    if (!quiet) {
        describeRecording(reader, std::cerr);
    }
    FormatOptions fo;
    fo.color = color == "always" || (color == "auto" && tty);
    const OutputFormat of = format == "path"    ? OutputFormat::Path
                            : format == "jsonl" ? OutputFormat::Jsonl
                                                : OutputFormat::Tree;
    auto formatter = makeFormatter(of, *out, fo);
    ReplayDiagnostics diag;
    TeeSink tee;
    tee.add(*formatter);
    tee.add(diag);
    reader.replay(tee); // throws RecordingError (exit 7) after printing everything before the damage
    out->flush();
    const SessionResult& r = diag.result;
    if (!r.streamError.empty()) {
        std::cerr << "layertrace: recorded stream error: " << r.streamError << '\n';
    }
    if (r.dropped != 0) {
        std::cerr << "layertrace: the probe dropped " << r.dropped << " events during the recorded session\n";
    }
    return 0;
}

} // namespace layertrace::tracer::cli
