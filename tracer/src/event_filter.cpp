// Event filters for run, attach and replay (see event_filter.h).
#include <layertrace/event_filter.h>

#include <layertrace/formatters.h>

#include <fnmatch.h>

#include <algorithm>

namespace layertrace::tracer {

namespace {

bool globMatches(const std::string& glob, const std::string& text) {
    return !text.empty() && ::fnmatch(glob.c_str(), text.c_str(), 0) == 0;
}

std::string baseName(const std::string& path) {
    const auto slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

// Anchored mode has no Python call events: a thread's outermost native-side call was still made
// by Python code when the event carries a Python caller.
bool hasPythonCaller(const TraceEvent& ev) {
    return !ev.pyFile.empty() ||
           std::any_of(ev.stack.begin(), ev.stack.end(), [](const StackFrame& f) { return f.python; });
}

} // namespace

std::optional<std::vector<Role>> rolesOfLayer(std::string_view name) {
    if (name == "python" || name == "1") {
        return std::vector<Role>{Role::App, Role::Wrapper, Role::Pylib};
    }
    if (name == "extension" || name == "2") {
        return std::vector<Role>{Role::Ext, Role::Glue, Role::Capi};
    }
    if (name == "ffi") {
        return std::vector<Role>{Role::Ffi};
    }
    if (name == "native") {
        return std::vector<Role>{Role::Native, Role::Unknown};
    }
    if (name == "3") {
        return std::vector<Role>{Role::Ffi, Role::Native, Role::Unknown};
    }
    return std::nullopt;
}

int crossingBand(Role role) {
    switch (role) {
    case Role::App:
    case Role::Wrapper:
    case Role::Pylib:
    case Role::Capi: return 0;
    case Role::Ext:
    case Role::Glue: return 1;
    case Role::Ffi: return 2;
    case Role::Native:
    case Role::Unknown: break;
    }
    return 3;
}

EventFilter::EventFilter(EventFilterOptions options, EventSink& next) : m_options(std::move(options)), m_next(next) {}

void EventFilter::onStarted(std::uint32_t pid) { m_next.onStarted(pid); }
void EventFilter::onConnected(std::uint32_t pid, const std::string& pythonVersion) {
    m_next.onConnected(pid, pythonVersion);
}
void EventFilter::onModule(const ModuleInfo& module) { m_next.onModule(module); }
void EventFilter::onReport(const ProbeReport& report) { m_next.onReport(report); }
void EventFilter::onDropped(std::uint32_t tid, std::uint64_t count) {
    if (threadWanted(tid)) {
        m_next.onDropped(tid, count);
    }
}
void EventFilter::onIdle() { m_next.onIdle(); }

void EventFilter::onFinished(const SessionResult& result) { m_next.onFinished(result); }

bool EventFilter::threadWanted(std::uint32_t tid) const {
    return m_options.tids.empty() || std::find(m_options.tids.begin(), m_options.tids.end(), tid) != m_options.tids.end();
}

bool EventFilter::roleWanted(Role role) const {
    return m_options.roles.empty() ||
           std::find(m_options.roles.begin(), m_options.roles.end(), role) != m_options.roles.end();
}

bool EventFilter::moduleWanted(const TraceEvent& ev) const {
    if (m_options.moduleGlobs.empty()) {
        return true;
    }
    const std::string base = baseName(ev.modulePath);
    return std::any_of(m_options.moduleGlobs.begin(), m_options.moduleGlobs.end(), [&](const std::string& glob) {
        return globMatches(glob, ev.module) || globMatches(glob, ev.modulePath) || globMatches(glob, base);
    });
}

bool EventFilter::functionMatches(const std::vector<std::string>& globs, const TraceEvent& ev) {
    return std::any_of(globs.begin(), globs.end(), [&](const std::string& glob) {
        // "module:symbol" globs ("libstruct_demo.so:sd_*", "user.py:*") name the code's owner too.
        if (glob.find(':') != std::string::npos && globMatches(glob, codeText(ev.module, ev.symbol))) {
            return true;
        }
        return globMatches(glob, ev.symbol) || globMatches(glob, ev.pyName);
    });
}

void EventFilter::ThreadState::close(const OpenCall& call) {
    if (call.opensScope) {
        inScope = false;
    }
    if (call.opensHidden) {
        hidden = false;
    }
}

bool EventFilter::judgeEnter(ThreadState& thread, const TraceEvent& ev) {
    OpenCall call;
    call.depth = ev.depth;
    call.band = crossingBand(ev.role);
    if (!m_options.functionGlobs.empty() && !thread.inScope && functionMatches(m_options.functionGlobs, ev)) {
        call.opensScope = true;
        thread.inScope = true;
    }
    if (!m_options.hideGlobs.empty() && !thread.hidden && functionMatches(m_options.hideGlobs, ev)) {
        call.opensHidden = true;
        thread.hidden = true;
    }
    bool crossing = ev.kind == EventKind::ClosureEnter; // native code calling back into Python
    if (!thread.open.empty()) {
        crossing = crossing || thread.open.back().band != call.band;
    } else {
        crossing = crossing || (call.band != 0 && hasPythonCaller(ev));
    }
    call.kept = (m_options.functionGlobs.empty() || thread.inScope) && !thread.hidden && roleWanted(ev.role) &&
                moduleWanted(ev) && (!m_options.onlyCrossings || crossing);
    thread.open.push_back(call);
    return call.kept;
}

bool EventFilter::judgeExit(ThreadState& thread, const TraceEvent& ev) {
    // Enters whose exit never came (the thread ended inside them) are closed by an outer exit.
    while (!thread.open.empty() && thread.open.back().depth > ev.depth) {
        thread.close(thread.open.back());
        thread.open.pop_back();
    }
    if (thread.open.empty() || thread.open.back().depth != ev.depth) {
        return false; // its enter was never seen: printing it alone would break the nesting
    }
    const OpenCall call = thread.open.back();
    thread.open.pop_back();
    thread.close(call);
    return call.kept;
}

void EventFilter::onEvent(const TraceEvent& ev) {
    ++m_seen;
    if (!threadWanted(ev.tid)) {
        return;
    }
    bool keep = true; // thread starts, dropped markers: kept with their thread
    if (isEnter(ev.kind)) {
        keep = judgeEnter(m_threads[ev.tid], ev);
    } else if (isExit(ev.kind)) {
        keep = judgeExit(m_threads[ev.tid], ev);
    }
    if (keep) {
        ++m_kept;
        m_next.onEvent(ev);
    }
}

} // namespace layertrace::tracer
