// Exports of a trace to other viewers: Chrome's Trace Event JSON (Perfetto UI, chrome://tracing)
// and speedscope's evented profile format. Each exporter is an EventSink, so it can be fed by a
// RecordingReader (layertrace export) or by a live session alike; it writes on onFinished.
#pragma once

#include <layertrace/session.h>

#include <memory>
#include <ostream>
#include <string>

namespace layertrace::tracer {

enum class ExportFormat { Chrome, Speedscope };

struct ExportOptions {
    std::string name;     // trace / profile name (e.g. the command line)
    std::string exporter; // "layertrace 0.1.0"
};

// What an exporter wrote, for the CLI summary and tests.
struct ExportStats {
    std::uint64_t enters = 0;   // B / O events
    std::uint64_t exits = 0;    // E / C events (including ones closed at the end)
    std::uint64_t closedAtEnd = 0; // calls still open when the trace ended, closed at its last timestamp
    std::uint64_t lostExits = 0;   // exits the tracer made for calls whose own exit never came (TraceEvent::lost)
    std::uint64_t flows = 0;    // Chrome flow arrows (one per role change between a caller and its callee)
    std::uint64_t instants = 0; // Chrome instant events (thread start/exit, dropped, module load)
    std::uint64_t threads = 0;
};

class Exporter : public EventSink {
public:
    virtual const ExportStats& stats() const = 0;
};

// Chrome Trace Event Format, JSON object form: {"traceEvents": [...], "displayTimeUnit": "ns"}.
// Roles are categories, each thread a track (thread_name metadata), enters/exits B/E events that
// nest per thread, and flow events (s/f) for every hop from one role to another.
std::unique_ptr<Exporter> makeChromeExporter(std::ostream& out, ExportOptions options = {});

// speedscope file format (https://www.speedscope.app/file-format-schema.json), one evented
// profile per thread with open/close frame events, frames shared.
std::unique_ptr<Exporter> makeSpeedscopeExporter(std::ostream& out, ExportOptions options = {});

std::unique_ptr<Exporter> makeExporter(ExportFormat format, std::ostream& out, ExportOptions options = {});

} // namespace layertrace::tracer
