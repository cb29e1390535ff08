// Event assembly: turns decoded wire records into TraceEvents. Resolves interned strings, code
// objects and hook ids, symbolizes addresses, classifies every hop, decodes FFI values, attaches
// Stack records to the event before them (merging native eval frames with Python frames), tracks
// per-thread nesting and durations, and surfaces Dropped counts. Input is one record at a time, as
// the protocol decoder yields them, so live sessions, tests and replays share this code.
#pragma once

#include <layertrace/classifier.h>
#include <layertrace/session.h>
#include <layertrace/symbolizer.h>
#include <layertrace/wire/records.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace layertrace::tracer {

// "int"/"2", "double"/"1.5", "pointer"/"0x7f..", "struct"/"size=48".
FfiValue formatFfiValue(const wire::FfiValue& v);

class Assembler {
public:
    Assembler(Symbolizer& symbolizer, Classifier& classifier, EventSink& sink);

    // The traced process (for /proc/PID/exe when the main program's ModuleMap has no path).
    void setPid(std::uint32_t pid) { m_pid = pid; }
    // Objects already mapped before the first ModuleMap arrived (from /proc/PID/maps).
    void addMappedObject(const std::string& path, std::uint64_t base);

    // One whole record (header included, `size` bytes, already bounds-checked by the decoder),
    // from a batch of thread `tid`. Throws FormatError when a record's tail is inconsistent.
    void record(std::uint32_t tid, const std::byte* data, std::size_t size);
    // End of a batch: events waiting for a possible Stack record are delivered.
    void endBatch(std::uint32_t tid);
    // End of stream: deliver everything still pending.
    void finish();

    std::uint64_t eventCount() const { return m_seq; }
    std::uint64_t droppedTotal() const { return m_dropped > m_goodbyeDropped ? m_dropped : m_goodbyeDropped; }
    bool sawGoodbye() const { return m_goodbye; }
    std::int32_t goodbyeExitStatus() const { return m_goodbyeStatus; }
    // Exits not delivered because their enter never arrived (dropped, or begun before attach).
    std::uint64_t orphanExits() const { return m_orphanExits; }
    // Threads the stream carried records of (each had a ring in the probe).
    std::size_t threadsSeen() const { return m_threads.size() - m_threads.count(wire::kProcessTid); }

private:
    struct Code {
        std::string name, qualname, file;
        std::uint32_t firstLine = 0;
    };
    struct Hook {
        std::string symbol;
        std::uint32_t moduleId = 0;
        wire::HookKind kind = wire::HookKind::TargetSymbol;
        std::uint64_t address = 0;
    };
    struct Frame {
        EventKind kind;
        std::uint64_t key;
        std::uint64_t tsNs;
        std::uint32_t depth;
        bool python;
        std::string file; // Python frames
        int line;
        Role role;
        std::string module, modulePath, symbol, reason;
    };
    struct ThreadState {
        std::vector<Frame> frames;
        std::optional<TraceEvent> pending;
        bool pendingDirect = false; // pending enter came straight from Python (wrapper evidence)
        std::string name;
    };

    std::string str(std::uint32_t id) const;
    const ModuleInfo& pythonModule(const std::string& file);
    void announceRoleChanges();
    void describeNative(TraceEvent& ev, std::uint64_t address, const std::string& preferredSymbol,
                        bool calledFromInterpreter);
    CodeRef codeRef(std::uint64_t address, bool returnAddress);
    bool inInterpreter(std::uint64_t address) const;
    void attachStack(ThreadState& t, const std::byte* data, std::size_t size);
    void enter(std::uint32_t tid, ThreadState& t, TraceEvent ev, std::uint64_t key, bool python);
    void exit(std::uint32_t tid, ThreadState& t, TraceEvent ev, std::uint64_t key, EventKind enterKind);
    void innermostPython(const ThreadState& t, TraceEvent& ev) const;
    void flush(ThreadState& t);
    void deliver(TraceEvent& ev);
    ModuleInfo& mapModule(std::uint32_t id, std::string path, std::uint64_t base);

    Symbolizer& m_symbolizer;
    Classifier& m_classifier;
    EventSink& m_sink;
    std::uint32_t m_pid = 0;
    std::unordered_map<std::uint32_t, std::string> m_strings;
    std::unordered_map<std::uint32_t, Code> m_codes;
    std::unordered_map<std::uint32_t, Hook> m_hooks;
    std::map<std::uint32_t, ThreadState> m_threads;
    std::uint64_t m_seq = 0;
    std::uint64_t m_dropped = 0;
    bool m_goodbye = false;
    std::int32_t m_goodbyeStatus = -1;
    std::uint64_t m_goodbyeDropped = 0;
    std::uint64_t m_orphanExits = 0; // exits whose enter was dropped or predates tracing
};

} // namespace layertrace::tracer
