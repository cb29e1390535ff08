// Output formats shared by the CLI, the GUI and replays: the call tree, one line per layer path,
// and JSON lines. Each formatter is an EventSink writing to a stream; PathBuilder is the
// reusable part that turns events into layer paths (hops in order).
#pragma once

#include <layertrace/catalog.h>
#include <layertrace/session.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace layertrace::tracer {

struct Hop {
    Role role = Role::Unknown;
    std::string module; // short name
    std::string symbol; // may be empty (an extension seen only as libffi's caller)
    std::string modulePath;

    bool operator==(const Hop& o) const { return role == o.role && module == o.module && symbol == o.symbol; }
};

// "module:symbol"; "module+0x1234" when the symbol is the symbolizer's module+offset fallback.
std::string codeText(std::string_view module, std::string_view symbol);
void appendCodeText(std::string& out, std::string_view module, std::string_view symbol);
// "app user.py:main", "ext _ctypes.cpython-311-x86_64-linux-gnu.so"
std::string formatHop(const Hop& hop);
// Hops joined with " -> ".
std::string formatPath(const std::vector<Hop>& hops);
void appendPath(std::string& out, const std::vector<Hop>& hops);
// Does `hops` (one path line: the calls entered during one crossing, in order) contain the
// catalog path's hops in order? Other hops may lie between them: a catalog path is a chain of
// nested calls, and every such chain is an ordered subsequence of the line (its siblings, such
// as a helper called before the converter, come in between).
bool pathMatches(const DemoPath& expected, const std::vector<Hop>& hops);

// Builds one path per outermost call that crosses from Python into native-side code (any event
// that is not a Python call or a call of the interpreter's own C functions): the Python frames
// leading to it (runs of frames of the same file and role collapsed to the innermost one), then
// every hop entered until that call returns, consecutive duplicates merged. Python files' roles
// are re-read from onModule updates when the path is emitted, so a file promoted to wrapper
// mid-call shows as wrapper.
class PathBuilder {
public:
    using Callback = std::function<void(std::uint32_t tid, const std::vector<Hop>& hops)>;
    explicit PathBuilder(Callback callback, std::size_t maxHops = 64);

    void onModule(const ModuleInfo& module);
    void onEvent(const TraceEvent& event);
    // Emits paths still open (the program ended inside them).
    void finish();

private:
    // Hop lists keep their slots (and the slots their strings' storage) between paths: a
    // path line is built by copying into existing buffers, not by allocating hops.
    struct ThreadPaths {
        std::vector<Hop> python; // full mode: python[0, pythonOpen) are the open Python frames, outermost first
        std::size_t pythonOpen = 0;
        bool active = false;
        std::uint32_t depth = 0;
        std::vector<Hop> hops; // hops[0, hopCount) are the current path's
        std::size_t hopCount = 0;
        std::size_t chainLength = 0; // leading hops that are the Python frames before the crossing
        std::size_t truncated = 0;
        std::size_t lostExits = 0; // exits of the path's calls that the tracer made (TraceEvent::lost)
    };
    void add(ThreadPaths& t, Role role, std::string_view module, std::string_view symbol, std::string_view modulePath);
    void emit(std::uint32_t tid, ThreadPaths& t);
    void setPythonHop(Hop& hop, const std::string& file, std::string_view function, Role fallback) const;

    Callback m_callback;
    std::size_t m_maxHops;
    std::map<std::string, ModuleInfo> m_python; // path -> latest info
    std::map<std::uint32_t, ThreadPaths> m_threads;
    std::vector<Hop> m_line; // the path handed to the callback
};

enum class OutputFormat { Tree, Path, Jsonl };

struct FormatOptions {
    bool color = false;          // ANSI colours by role (CLI: when the output is a TTY)
    std::uint32_t mainPid = 0;   // path lines of other threads get a "[tid N] " prefix
};

// An EventSink that prints in `format` to `out`. Probe reports and summaries are not its business:
// the CLI writes those to stderr so they never mix into machine-readable output.
std::unique_ptr<EventSink> makeFormatter(OutputFormat format, std::ostream& out, FormatOptions options = {});

// One JSON object (no trailing newline) for an event / a module, as --format jsonl writes them.
std::string eventToJson(const TraceEvent& event);
void appendEventJson(std::string& out, const TraceEvent& event);
std::string moduleToJson(const ModuleInfo& module);

// Fans one session out to several sinks (e.g. a formatter and a counter).
class TeeSink : public EventSink {
public:
    void add(EventSink& sink) { m_sinks.push_back(&sink); }
    void onStarted(std::uint32_t pid) override;
    void onConnected(std::uint32_t pid, const std::string& pythonVersion) override;
    void onModule(const ModuleInfo& module) override;
    void onEvent(const TraceEvent& event) override;
    void onReport(const ProbeReport& report) override;
    void onDropped(std::uint32_t tid, std::uint64_t count) override;
    void onIdle() override;
    void onFinished(const SessionResult& result) override;

private:
    std::vector<EventSink*> m_sinks;
};

} // namespace layertrace::tracer
