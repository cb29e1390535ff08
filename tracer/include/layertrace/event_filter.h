// Event filters shared by `layertrace run`, `attach` and `replay` (docs/cli/run.md#filters): an
// EventSink placed in front of a formatter that passes on only the events the user asked for,
// keeping the output well formed (an exit is passed exactly when its enter was).
#pragma once

#include <layertrace/session.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace layertrace::tracer {

// What to keep. Values of one option are alternatives (--tid 1 --tid 2: either thread); different
// options must all hold. Empty: no filtering.
struct EventFilterOptions {
    std::vector<std::uint32_t> tids;         // --tid: only these threads
    std::vector<Role> roles;                 // --layer/--role: only calls of code with these roles
    std::vector<std::string> moduleGlobs;    // --module: only calls of code in matching objects/files
    std::vector<std::string> functionGlobs;  // --function: matching calls and everything below them
    std::vector<std::string> hideGlobs;      // --hide: not matching calls nor anything below them
    bool onlyCrossings = false;              // --only-crossings: only calls that cross into another band

    bool empty() const {
        return tids.empty() && roles.empty() && moduleGlobs.empty() && functionGlobs.empty() && hideGlobs.empty() &&
               !onlyCrossings;
    }
};

// The roles of a --layer name: python (app, wrapper, pylib), extension (ext, glue, capi), ffi,
// native (native, unknown), or a layer number 1, 2, 3 (3 = ffi and native); nullopt if unknown.
std::optional<std::vector<Role>> rolesOfLayer(std::string_view name);

// The band a call crossing is measured between: Python (capi counts as Python here, as for the
// path format: len() is not a crossing), extension, libffi, native. 0..3.
int crossingBand(Role role);

// Passes to `next` every onStarted/onModule/onReport/onDropped/onFinished, and the events that
// pass the filters:
// - enters are judged on their own (thread, role, module, crossing), on whether a --function call
//   is open on their thread and on whether a --hide call is (the matching calls themselves
//   included); their exit follows the
//   enter's verdict, so nesting holds; an exit whose enter never came is dropped;
// - thread starts and dropped-event markers pass when their thread does.
// Events are passed unchanged (depth included): jsonl lines are exactly the unfiltered ones.
class EventFilter : public EventSink {
public:
    EventFilter(EventFilterOptions options, EventSink& next);

    void onStarted(std::uint32_t pid) override;
    void onConnected(std::uint32_t pid, const std::string& pythonVersion) override;
    void onModule(const ModuleInfo& module) override;
    void onEvent(const TraceEvent& event) override;
    void onReport(const ProbeReport& report) override;
    void onDropped(std::uint32_t tid, std::uint64_t count) override;
    void onIdle() override;
    void onFinished(const SessionResult& result) override;

    std::uint64_t seen() const { return m_seen; }
    std::uint64_t kept() const { return m_kept; }

private:
    struct OpenCall {
        std::uint32_t depth = 0;
        int band = 0;
        bool kept = false;
        bool opensScope = false; // a --function match: its subtree is in scope until it returns
        bool opensHidden = false; // a --hide match: its subtree is hidden until it returns
    };
    struct ThreadState {
        std::vector<OpenCall> open;
        bool inScope = false;
        bool hidden = false;
        void close(const OpenCall& call);
    };

    bool threadWanted(std::uint32_t tid) const;
    bool judgeEnter(ThreadState& thread, const TraceEvent& event);
    bool judgeExit(ThreadState& thread, const TraceEvent& event);
    bool roleWanted(Role role) const;
    bool moduleWanted(const TraceEvent& event) const;
    static bool functionMatches(const std::vector<std::string>& globs, const TraceEvent& event);

    EventFilterOptions m_options;
    EventSink& m_next;
    std::map<std::uint32_t, ThreadState> m_threads;
    std::uint64_t m_seen = 0;
    std::uint64_t m_kept = 0;
};

} // namespace layertrace::tracer
