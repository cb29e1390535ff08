// `layertrace export FILE --format chrome|speedscope [-O OUT]`: converts a recording for Perfetto
// UI / chrome://tracing or speedscope. A damaged recording still exports what came before the
// damage (the exporter is flushed), then fails with the damage's offset.
#include <layertrace/errors.h>
#include <layertrace/export.h>
#include <layertrace/recording.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>

namespace layertrace::tracer::cli {

int exportMain(int argc, char** argv, const std::string& version) {
    std::string file, format, output;
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
        } else if (a == "-O" || a == "--out") {
            output = val();
        } else if (!a.empty() && a[0] == '-') {
            throw UsageError("unknown option '" + a + "' for export; try layertrace --help");
        } else if (file.empty()) {
            file = a;
        } else {
            throw UsageError("export takes one recording, got '" + file + "' and '" + a + "'");
        }
    }
    if (file.empty()) {
        throw UsageError("no recording given: layertrace export FILE --format chrome|speedscope [-O OUT]");
    }
    if (format != "chrome" && format != "speedscope") {
        throw UsageError(format.empty() ? "export needs --format chrome or --format speedscope"
                                        : "--format must be chrome or speedscope, not '" + format + "'");
    }
    RecordingReader reader(file);
    ExportOptions eo;
    for (const auto& a : reader.info().argv) {
        eo.name += (eo.name.empty() ? "" : " ") + a;
    }
    eo.exporter = "layertrace " + version;
    std::ofstream out;
    if (!output.empty()) {
        out.open(output, std::ios::out | std::ios::trunc);
        if (!out) {
            throw IoError(output, std::string("cannot open for writing: ") + std::strerror(errno));
        }
    }
    std::ostream& os = output.empty() ? std::cout : out;
    auto exporter = makeExporter(format == "chrome" ? ExportFormat::Chrome : ExportFormat::Speedscope, os, eo);
    reader.replay(*exporter);
    os.flush();
    if (!os) {
        throw IoError(output.empty() ? "<stdout>" : output, "write failed");
    }
    const ExportStats& s = exporter->stats();
    std::cerr << "layertrace: exported " << s.enters << " calls on " << s.threads << " threads";
    if (format == "chrome") {
        std::cerr << ", " << s.flows << " layer hops as flows";
    }
    if (s.closedAtEnd != 0) {
        std::cerr << " (" << s.closedAtEnd << " still open at the end, closed there)";
    }
    std::cerr << (output.empty() ? "" : " to " + output) << '\n';
    return 0;
}

} // namespace layertrace::tracer::cli
