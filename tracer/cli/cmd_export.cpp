// `layertrace export FILE --format chrome|speedscope [-O OUT]`: converts a recording for Perfetto
// UI / chrome://tracing or speedscope. A damaged recording still exports what came before the
// damage (the exporter is flushed), then fails with the damage's offset.
#include <layertrace/errors.h>
#include <layertrace/export.h>
#include <layertrace/recording.h>

#include "trace_options.h"

#include <fstream>
#include <iostream>
#include <string>

namespace layertrace::tracer::cli {

int exportMain(int argc, char** argv, const std::string& version) {
    std::string file, format, output;
    ArgCursor args(argc, argv, 2);
    while (args.next()) {
        if (args.name() == "--format") {
            format = args.value();
        } else if (args.name() == "-O" || args.name() == "--out") {
            output = args.value();
        } else if (args.isOption()) {
            unknownOption(args.name(), "export", "layertrace --help");
        } else {
            takeRecordingPath(args.name(), file, "export");
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
    std::ostream& os = openTextOutput(output, out);
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
    if (s.lostExits != 0) {
        std::cerr << " (" << s.lostExits << " closed by exits the tracer made: their own exit was lost)";
    }
    std::cerr << (output.empty() ? "" : " to " + output) << '\n';
    return 0;
}

} // namespace layertrace::tracer::cli
