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

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace layertrace::tracer {

// "int"/"2", "double"/"1.5", "pointer"/"0x7f..", "struct"/"size=48".
FfiValue formatFfiValue(const wire::FfiValue& v);
// The same into `out`, reusing its strings (the assembler refills one event per thread).
void formatFfiValue(const wire::FfiValue& v, FfiValue& out);

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
    // End of stream: deliver everything still pending, and close the calls still open with lost
    // exits (the program ended or was detached inside them), so every enter has its exit.
    void finish();

    // Skimming (a detach that must settle at once: RunOptions::skipBacklogOnDetach): while on,
    // event records are counted per thread instead of assembled, as if dropped, and what the
    // stream defines (strings, code objects, hooks, modules, threads) is still kept for the events
    // after it. Turning it off, and finish(), mark each thread's gap with a Dropped event, as a
    // probe's Dropped record does; the calls it cut are closed the same way.
    void setSkimming(bool on);
    bool skimming() const { return m_skimming; }
    std::uint64_t skimmedTotal() const { return m_skimmed; }

    // Event numbers (`seq`) start at `firstSeq`: a session's later image (the program exec'd
    // another) goes on numbering where the previous image's assembler ended.
    void continueSequence(std::uint64_t firstSeq) { m_seq = firstSeq; }
    std::uint64_t eventCount() const { return m_seq; }
    std::uint64_t droppedTotal() const { return m_dropped > m_goodbyeDropped ? m_dropped : m_goodbyeDropped; }
    bool sawGoodbye() const { return m_goodbye; }
    std::int32_t goodbyeExitStatus() const { return m_goodbyeStatus; }
    // The signal the process was dying of when its probe said Goodbye (fatal-signal flush), or 0.
    int goodbyeFatalSignal() const { return m_goodbyeFatalSignal; }
    // Exits not delivered because their enter never arrived (dropped, or begun before attach).
    std::uint64_t orphanExits() const { return m_orphanExits; }
    // Exits delivered with `lost` set: made for calls whose own exit never came (see closeLost).
    std::uint64_t lostExits() const { return m_lostExits; }
    // Threads the stream carried records of (each had a ring in the probe).
    std::size_t threadsSeen() const { return m_threads.size() - m_threads.count(wire::kProcessTid); }
    // Sizes of the per-code caches: bounded by the distinct addresses and call sites the trace
    // touches, never by its length (tests/tracer/test_bounded_memory.cpp).
    std::size_t cachedDescriptions() const { return m_descriptions.size() + m_codeRefs.size(); }
    // Frame slots kept per thread: the deepest nesting seen, not the number of calls.
    std::size_t frameSlots(std::uint32_t tid) const;

private:
    // What a piece of code is, as events show it: the naming shared by a call's enter, its exit
    // and a lost exit standing in for it. Symbolizing, demangling and classifying are done once
    // per distinct (address, naming), or once per Python code object and role, and the strings
    // copied into each event. Shared, because an open call keeps the one it was entered with
    // after the cache that made it was cleared (an object mapped or unmapped mid-call).
    struct Description {
        Role role = Role::Unknown;
        std::string module, modulePath, symbol, reason, sourceFile;
        int sourceLine = 0;
        std::string pyName;     // CCall family
        std::string pythonFile; // Python code: its file (events' py_file)
    };
    using DescriptionRef = std::shared_ptr<const Description>;
    struct Code {
        std::string name, qualname, file;
        std::uint32_t firstLine = 0;
        bool known = true;                  // false: named by no PyCode record yet ("<code N>")
        const ModuleInfo* module = nullptr; // the classifier's entry for `file`, once looked up
        DescriptionRef description;         // valid while describedAt == m_pythonGeneration
        std::uint64_t describedAt = 0;
    };
    struct Hook {
        std::string symbol;
        std::uint32_t moduleId = 0;
        wire::HookKind kind = wire::HookKind::TargetSymbol;
        std::uint64_t address = 0;
    };
    // An open call. Everything its exit shows comes from here, so an exit names the same code as
    // its enter (FfiReturn carries no entry hook; a glue function's exit does not know it was
    // called by the interpreter) and a lost exit can be made without its record.
    struct Frame {
        EventKind kind;
        std::uint64_t key; // code id, or the address the exit record carries
        std::uint64_t tsNs;
        std::uint32_t depth;
        bool python;
        int line; // the enter's Python line
        DescriptionRef description;
    };
    struct ThreadState {
        // frames[0, open) are the open calls; the slots above are reused, so entering a call
        // allocates nothing once the thread reached its deepest nesting.
        std::vector<Frame> frames;
        std::size_t open = 0;
        // The last event, held back for a possible Stack record; refilled in place per record.
        TraceEvent pending;
        bool hasPending = false;
        bool pendingDirect = false; // pending enter came straight from Python (wrapper evidence)
        TraceEvent lost;            // refilled for each lost exit this thread delivers
        // What the pending event's described fields and code refs were copied from: an event
        // naming the same code as the one before (a call's exit, the next call of a loop) copies
        // none of their strings again.
        DescriptionRef pendingDescription;
        std::array<const CodeRef*, 2> refFrom{}; // by PendingRef; entries of m_codeRefs
        std::array<bool, 2> refSet{};            // set for the event being made
        std::uint64_t refsGeneration = 0;        // m_codeRefGeneration when refFrom was valid
        std::uint64_t lastTsNs = 0; // of its latest call or return: when the trace ended for it
        std::string name;
        std::uint64_t skimmed = 0; // events skimmed since this thread's last Dropped event
    };
    enum class Naming : std::uint8_t { Plain, Hook, FfiEntry, PyCFunction, Init, Closure };
    struct DescriptionKey {
        std::uint64_t address;
        std::uint64_t naming; // hook id, or (owner string id << 32 | name string id)
        Naming how;
        bool calledFromInterpreter;
        std::uint64_t context = 0; // Closure: the return address into libffi's closure code
        bool operator==(const DescriptionKey&) const = default;
    };
    struct DescriptionKeyHash {
        std::size_t operator()(const DescriptionKey& k) const {
            return std::hash<std::uint64_t>()(k.address * 31 + k.naming + k.context * 0x9E3779B97F4A7C15ull) ^ (static_cast<std::size_t>(k.how) << 1) ^
                   static_cast<std::size_t>(k.calledFromInterpreter);
        }
    };

    std::string str(std::uint32_t id) const;
    const ModuleInfo& pythonModule(const std::string& file);
    const ModuleInfo& codeModule(Code& code);
    // PyCall/PyReturn: the code's name, file and its file's current role ("<code N>" for an id no
    // PyCode record named).
    const DescriptionRef& describePython(std::uint32_t codeId);
    void announceRoleChanges();
    Description describeNative(std::uint64_t address, const std::string& preferredSymbol, bool calledFromInterpreter);
    const DescriptionRef& described(const DescriptionKey& key);
    Description describeClosure(std::uint64_t closure, std::uint64_t userFunc, std::uint64_t caller);
    const CodeRef& codeRef(std::uint64_t address, bool returnAddress);
    // Classification inputs changed (an object mapped or unmapped, a new ml_meth, a new hook).
    void forgetDescriptions();
    bool inInterpreter(std::uint64_t address) const;
    void attachStack(ThreadState& t, const std::byte* data, std::size_t size);
    ThreadState& thread(std::uint32_t tid);
    TraceEvent& startEvent(ThreadState& t, EventKind kind, std::uint64_t tsNs);
    static void clearUndescribed(TraceEvent& ev);
    static void apply(TraceEvent& ev, const Description& d);
    // The pending event names the code `d` describes (its fields copied only if it named other code).
    void describePending(ThreadState& t, const DescriptionRef& d);
    enum class PendingRef : std::uint8_t { Caller, Target };
    void setPendingRef(ThreadState& t, PendingRef which, const CodeRef& ref);
    void revalidateRefs(ThreadState& t) const;
    // The code refs the event being made did not set are emptied (before it is delivered).
    static void clearUnsetRefs(ThreadState& t);
    // The pending event enters a call described by `description`, or exits the innermost open call
    // of `enterKind` and `key` (0: any).
    void enter(std::uint32_t tid, ThreadState& t, std::uint64_t key, bool python, DescriptionRef description);
    void exit(std::uint32_t tid, ThreadState& t, std::uint64_t key, EventKind enterKind);
    // Closes the innermost open call with a lost exit at `tsNs`: its own exit was dropped by the
    // probe, skipped by a longjmp, or never came before the trace ended.
    void closeLost(std::uint32_t tid, ThreadState& t, std::uint64_t tsNs);
    void innermostPython(const ThreadState& t, TraceEvent& ev) const;
    void flush(ThreadState& t);
    void deliver(TraceEvent& ev);
    // A Dropped event: `count` events of thread `tid` are missing here.
    void deliverDropped(std::uint32_t tid, ThreadState& t, std::uint64_t count);
    void markSkimmedGaps();
    ModuleInfo& mapModule(std::uint32_t id, std::string path, std::uint64_t base);

    Symbolizer& m_symbolizer;
    Classifier& m_classifier;
    EventSink& m_sink;
    std::uint32_t m_pid = 0;
    std::unordered_map<std::uint32_t, std::string> m_strings;
    std::unordered_map<std::uint32_t, Code> m_codes;
    std::unordered_map<std::uint32_t, Hook> m_hooks;
    std::map<std::uint32_t, ThreadState> m_threads;
    std::uint32_t m_lastTid = 0;
    ThreadState* m_lastThread = nullptr; // records come in batches of one thread
    std::unordered_map<DescriptionKey, DescriptionRef, DescriptionKeyHash> m_descriptions;
    std::uint64_t m_pythonGeneration = 1; // bumped when a Python file's role may have changed
    std::unordered_map<std::uint64_t, CodeRef> m_codeRefs; // address * 2 + (is a return address)
    std::uint64_t m_codeRefGeneration = 1;                  // bumped whenever m_codeRefs is cleared
    std::unordered_set<std::string> m_directCallsNoted;    // "file\0what" already told to the classifier
    std::string m_scratchKey;
    std::uint64_t m_seq = 0;
    std::uint64_t m_dropped = 0;
    bool m_skimming = false;
    std::uint64_t m_skimmed = 0;
    bool m_goodbye = false;
    std::int32_t m_goodbyeStatus = -1;
    int m_goodbyeFatalSignal = 0;
    std::uint64_t m_goodbyeDropped = 0;
    std::uint64_t m_orphanExits = 0; // exits whose enter was dropped or predates tracing
    std::uint64_t m_lostExits = 0;   // exits made for calls whose own exit never came
};

} // namespace layertrace::tracer
