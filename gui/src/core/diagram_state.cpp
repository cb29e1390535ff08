// DiagramState: per-thread call paths mapped onto the boxes of both views.
#include "core/diagram_state.h"

#include <algorithm>
#include <optional>

namespace layertrace::gui {

namespace {
std::string key(int band, const std::string& module) {
    std::string k = std::to_string(band);
    k.push_back('\0');
    k += module;
    return k;
}
} // namespace

int BoxRegistry::find(Role role, const std::string& module) const {
    auto it = m_index.find(key(bandOf(role, m_mode), module));
    return it == m_index.end() ? -1 : it->second;
}

int BoxRegistry::add(const TraceEvent& event) {
    const int band = bandOf(event.role, m_mode);
    auto [it, inserted] = m_index.try_emplace(key(band, event.module), int(m_boxes.size()));
    if (inserted) {
        if (m_named.size() <= std::size_t(band)) {
            m_named.resize(std::size_t(band) + 1, 0);
            m_folded.resize(std::size_t(band) + 1, 0);
        }
        DiagramBox box;
        box.id = it->second;
        box.band = band;
        box.role = event.role;
        box.module = event.module;
        box.modulePath = event.modulePath;
        box.reason = event.reason;
        ++m_folded[std::size_t(band)];
        m_boxes.push_back(std::move(box));
        if (!startsFolded(event.role))
            promote(it->second);
    }
    DiagramBox& box = m_boxes[std::size_t(it->second)];
    ++box.calls;
    if (box.reason.empty() && !event.reason.empty())
        box.reason = event.reason;
    if (box.modulePath.empty() && !event.modulePath.empty())
        box.modulePath = event.modulePath;
    return it->second;
}

void BoxRegistry::promote(int id) {
    DiagramBox& box = m_boxes[std::size_t(id)];
    const auto band = std::size_t(box.band);
    if (box.slot >= 0 || m_named[band] >= kMaxNamedPerBand)
        return;
    box.slot = m_named[band]++;
    --m_folded[band];
}

int BoxRegistry::namedInBand(int band) const {
    return std::size_t(band) < m_named.size() ? m_named[std::size_t(band)] : 0;
}

int BoxRegistry::foldedInBand(int band) const {
    return std::size_t(band) < m_folded.size() ? m_folded[std::size_t(band)] : 0;
}

int BoxRegistry::maxSlots() const {
    int best = 0;
    for (std::size_t b = 0; b < m_named.size(); ++b)
        best = std::max(best, slotsInBand(int(b)));
    return best;
}

void BoxRegistry::clear() {
    m_boxes.clear();
    m_index.clear();
    m_named.clear();
    m_folded.clear();
}

std::string RouteHop::label() const {
    // Long chains inside one box keep their first two calls and the last: "a › b › … 7 › z".
    const std::size_t n = functions.size();
    std::vector<std::string> parts;
    if (n > 4) {
        parts = {functions[0], functions[1], "\u2026 " + std::to_string(skipped + n - 3), functions[n - 1]};
    } else {
        parts = functions;
        if (skipped)
            parts.insert(n >= 2 ? parts.end() - 1 : parts.end(), "\u2026 " + std::to_string(skipped));
    }
    std::string out;
    for (const auto& p : parts) {
        if (!out.empty())
            out += " \u203A ";
        out += p;
    }
    return out;
}

DiagramState::DiagramState() : m_registry{BoxRegistry(ViewMode::Detailed), BoxRegistry(ViewMode::Summary)} {}

bool DiagramState::changesPath(EventKind kind) { return isEnter(kind) || isExit(kind); }

namespace {

// A frame the stream implies but sends no event for, as an event of its own so it gets a box and
// a hop. ctypes and cffi calls raise no c_call, so their extension is known only from libffi's
// side: an FfiCall's caller (app -> wrapper -> _ctypes -> libffi -> target) and the dispatcher a
// closure runs before the Python callback (native -> libffi closure -> _ctypes -> Python).
TraceEvent impliedFrom(const TraceEvent& event, const CodeRef& ref, EventKind kind) {
    TraceEvent implied;
    implied.seq = event.seq;
    implied.tsNs = event.tsNs;
    implied.tid = event.tid;
    implied.kind = kind;
    implied.role = ref.role;
    implied.module = ref.module;
    implied.modulePath = ref.modulePath;
    implied.symbol = ref.symbol.empty() ? ref.module : ref.symbol;
    implied.reason = ref.reason;
    return implied;
}

std::optional<TraceEvent> impliedEvent(const TraceEvent& event, const CodeRef& ref) {
    if (ref.module.empty() || (ref.role != Role::Ext && ref.role != Role::Glue))
        return std::nullopt;
    return impliedFrom(event, ref, EventKind::CCall);
}

std::optional<TraceEvent> impliedCaller(const TraceEvent& event) {
    return event.kind == EventKind::FfiCall ? impliedEvent(event, event.caller) : std::nullopt;
}

// The foreign function libffi calls. Its own NativeEnter comes only when the probe hooks it (a
// function too short for a jump is left to the FfiCall unless --probe asks), so the route reaches
// it from the FfiCall's target either way; a NativeEnter that follows lands in the same box.
std::optional<TraceEvent> impliedFfiTarget(const TraceEvent& event) {
    if (event.target.module.empty() || event.target.role == Role::Unknown)
        return std::nullopt;
    return impliedFrom(event, event.target, EventKind::NativeEnter);
}

std::optional<TraceEvent> impliedCallee(const TraceEvent& event) {
    if (event.kind == EventKind::ClosureEnter)
        return impliedEvent(event, event.target);
    if (event.kind == EventKind::FfiCall)
        return impliedFfiTarget(event);
    return std::nullopt;
}

// Anchored mode (and the first moments after an attach) sends no Python call events: a call that
// arrives on an empty thread stack carries the Python frames that led to it in its mixed stack.
// They become implied frames below it, outermost first, so the route starts at the script as in
// full mode; they leave with the call that implied them.
std::vector<TraceEvent> impliedPythonFrames(const TraceEvent& event) {
    std::vector<TraceEvent> frames;
    if (event.kind == EventKind::PyCall)
        return frames;
    for (auto it = event.stack.rbegin(); it != event.stack.rend(); ++it) {
        if (!it->python || it->module.empty())
            continue;
        TraceEvent implied;
        implied.seq = event.seq;
        implied.tsNs = event.tsNs;
        implied.tid = event.tid;
        implied.kind = EventKind::PyCall;
        implied.role = it->role;
        implied.module = it->module;
        implied.modulePath = it->file;
        implied.symbol = it->function;
        frames.push_back(std::move(implied));
    }
    return frames;
}

} // namespace

void DiagramState::learnPythonRoles(const TraceEvent& event) {
    auto learn = [this](const std::string& module, const std::string& path, Role role) {
        if (module.empty() || role == Role::Unknown)
            return;
        auto [it, inserted] = m_pythonRoles.try_emplace(module, role);
        if (inserted || it->second == role)
            return;
        it->second = role;
        // The file's box in the band of its new role, placed now so that nothing moves later.
        TraceEvent file;
        file.kind = EventKind::PyCall;
        file.role = role;
        file.module = module;
        file.modulePath = path;
        m_registry[0].add(file);
        m_registry[1].add(file);
    };
    if (event.kind == EventKind::PyCall)
        return learn(event.module, event.modulePath, event.role);
    // Stacks matter where no Python call events come (anchored mode, right after an attach);
    // Python returns are skipped, which keeps this off the hot path of a full-mode trace.
    if (event.kind == EventKind::PyReturn)
        return;
    for (const auto& frame : event.stack)
        if (frame.python)
            learn(frame.module, frame.file, frame.role);
}

Role DiagramState::settledRole(const TraceEvent& event) const {
    if (event.kind != EventKind::PyCall)
        return event.role;
    auto it = m_pythonRoles.find(event.module);
    return it == m_pythonRoles.end() ? event.role : it->second;
}

std::array<int, 2> DiagramState::addBoxes(const TraceEvent& event) {
    const Role role = settledRole(event);
    if (role == event.role)
        return {m_registry[0].add(event), m_registry[1].add(event)};
    TraceEvent settled = event;
    settled.role = role;
    return {m_registry[0].add(settled), m_registry[1].add(settled)};
}

void DiagramState::registerEvent(const TraceEvent& event) {
    learnPythonRoles(event);
    if (isExit(event.kind)) {
        auto it = m_ingestStacks.find(event.tid);
        if (it != m_ingestStacks.end() && !it->second.empty()) {
            while (it->second.size() > 1 && it->second.back().implied)
                it->second.pop_back();
            it->second.pop_back();
            while (!it->second.empty() && it->second.back().implied)
                it->second.pop_back();
        }
        return;
    }
    if (!isEnter(event.kind))
        return;
    auto& stack = m_ingestStacks[event.tid];
    if (stack.empty())
        for (const auto& frame : impliedPythonFrames(event))
            stack.push_back({addBoxes(frame), true});
    if (auto caller = impliedCaller(event)) {
        const std::array<int, 2> callerIds{m_registry[0].add(*caller), m_registry[1].add(*caller)};
        if (stack.empty() || stack.back().ids[0] != callerIds[0]) {
            if (!stack.empty())
                for (std::size_t m = 0; m < 2; ++m)
                    m_registry[m].promote(stack.back().ids[m]);
            stack.push_back({callerIds, true});
        }
    }
    const std::array<int, 2> ids = addBoxes(event);
    // A call into native-side code unfolds the Python modules it was called through. PyInit_*
    // does not: it runs under the import machinery, which is not what a learner came to see.
    const bool crossing = event.kind != EventKind::InitEnter &&
                          (event.role == Role::Ext || event.role == Role::Glue || event.role == Role::Ffi ||
                           event.role == Role::Native);
    // Only the module that made the call unfolds (ctypes/__init__.py calling into _ctypes), not
    // the import machinery that happened to be running it further up the stack.
    if (crossing && !stack.empty())
        for (std::size_t m = 0; m < 2; ++m)
            m_registry[m].promote(stack.back().ids[m]);
    stack.push_back({ids, false});
    if (auto callee = impliedCallee(event))
        stack.push_back({{m_registry[0].add(*callee), m_registry[1].add(*callee)}, true});
}

StepMark DiagramState::markFor(const TraceEvent& event) const {
    StepMark mark;
    const Role role = settledRole(event);
    mark.box = {m_registry[0].find(role, event.module), m_registry[1].find(role, event.module)};
    mark.enter = isEnter(event.kind);
    mark.function = event.symbol;
    mark.kind = event.kind;
    return mark;
}

void DiagramState::apply(const TraceEvent& event, std::uint64_t index) {
    m_activity.cursor = std::int64_t(index);
    if (!changesPath(event.kind)) {
        m_activity.justHappened.reset();
        return;
    }
    m_activity.focusTid = event.tid;
    auto& stack = m_activity.stacks[event.tid];
    if (isEnter(event.kind)) {
        auto push = [&](const TraceEvent& e, bool implied) {
            ActiveFrame frame;
            const Role role = settledRole(e);
            frame.box = {m_registry[0].find(role, e.module), m_registry[1].find(role, e.module)};
            frame.kind = e.kind;
            frame.role = role;
            frame.function = e.symbol;
            frame.index = index;
            frame.implied = implied;
            for (std::size_t m = 0; m < 2; ++m) {
                const int b = frame.box[m];
                if (b < 0)
                    continue;
                auto& visited = m_activity.visitedBoxes[m];
                if (visited.size() <= std::size_t(b))
                    visited.resize(m_registry[m].boxes().size(), 0);
                visited[std::size_t(b)] = 1;
            }
            stack.push_back(std::move(frame));
        };
        if (stack.empty())
            for (const auto& frame : impliedPythonFrames(event))
                push(frame, true);
        // The caller is drawn only when the route is not already in its box.
        if (auto caller = impliedCaller(event);
            caller && (stack.empty() || stack.back().box[0] != m_registry[0].find(caller->role, caller->module)))
            push(*caller, true);
        push(event, false);
        if (auto callee = impliedCallee(event))
            push(*callee, true);
    } else if (!stack.empty()) {
        // An exit closes the innermost frame. The tracer pairs exits with enters per thread, so a
        // mismatch means events were dropped: unwind to the nearest frame of the same function
        // when there is one rather than leave a stale path lit.
        auto it = std::find_if(stack.rbegin(), stack.rend(),
                               [&](const ActiveFrame& f) { return f.function == event.symbol; });
        if (it != stack.rend())
            stack.erase(std::next(it).base(), stack.end());
        else
            stack.pop_back();
        while (!stack.empty() && stack.back().implied)
            stack.pop_back();
    }
    if (stack.empty())
        m_activity.stacks.erase(event.tid);
    m_activity.justHappened = markFor(event);
}

void DiagramState::resetActivity() {
    m_activity = DiagramActivity{};
    m_next.reset();
}

void DiagramState::clear() {
    resetActivity();
    m_ingestStacks.clear();
    m_pythonRoles.clear();
    m_registry[0].clear();
    m_registry[1].clear();
}

const std::vector<ActiveFrame>* DiagramState::focusStack() const {
    auto it = m_activity.stacks.find(m_activity.focusTid);
    return it == m_activity.stacks.end() ? nullptr : &it->second;
}

std::vector<RouteHop> DiagramState::route(ViewMode mode) const {
    std::vector<RouteHop> hops;
    const auto* stack = focusStack();
    if (!stack)
        return hops;
    const std::size_t m = idx(mode);
    const BoxRegistry& reg = m_registry[m];
    // Boxes folded into one band's "+N more" box are one place on the diagram: one hop.
    auto place = [&reg](int box) {
        const DiagramBox& b = reg.box(box);
        return b.slot >= 0 ? box : -2 - b.band;
    };
    for (const auto& frame : *stack) {
        if (frame.box[m] < 0)
            continue;
        if (!hops.empty() && place(hops.back().box) == place(frame.box[m])) {
            if (hops.back().functions.back() != frame.function) {
                hops.back().functions.push_back(frame.function);
                hops.back().roles.push_back(frame.role);
            }
            continue;
        }
        // Re-entering a box already on the route through Python and interpreter code only (an
        // import chain: importlib → module → importlib → ...) is one visit that went on longer:
        // fold the loop into the earlier hop. Loops through native code (callbacks: native →
        // libffi closure → _ctypes → Python) stay drawn, they are the point.
        auto again = std::find_if(hops.begin(), hops.end(), [&](const RouteHop& h) { return place(h.box) == place(frame.box[m]); });
        if (again != hops.end()) {
            const bool pythonOnly = std::all_of(again, hops.end(), [&reg](const RouteHop& h) {
                const Role r = reg.box(h.box).role;
                return r == Role::App || r == Role::Wrapper || r == Role::Pylib || r == Role::Capi || r == Role::Unknown;
            });
            if (pythonOnly) {
                std::size_t folded = 0;
                for (auto it = std::next(again); it != hops.end(); ++it)
                    folded += it->functions.size();
                hops.erase(std::next(again), hops.end());
                again->skipped += folded;
                again->functions.push_back(frame.function);
                again->roles.push_back(frame.role);
                continue;
            }
        }
        RouteHop hop;
        hop.box = frame.box[m];
        hop.functions.push_back(frame.function);
        hop.roles.push_back(frame.role);
        hop.index = frame.index;
        hops.push_back(std::move(hop));
    }
    return hops;
}

int DiagramState::topBox(ViewMode mode) const {
    const auto* stack = focusStack();
    if (!stack || stack->empty())
        return -1;
    return stack->back().box[idx(mode)];
}

Activity DiagramState::boxActivity(ViewMode mode, int box) const {
    const std::size_t m = idx(mode);
    if (const auto* stack = focusStack()) {
        for (const auto& frame : *stack)
            if (frame.box[m] == box)
                return Activity::Active;
    }
    const auto& visited = m_activity.visitedBoxes[m];
    if (box >= 0 && std::size_t(box) < visited.size() && visited[std::size_t(box)])
        return Activity::Visited;
    return Activity::Idle;
}

Activity DiagramState::bandActivity(ViewMode mode, int band) const {
    Activity best = Activity::Idle;
    for (const auto& box : registry(mode).boxes()) {
        if (box.band != band)
            continue;
        const Activity a = boxActivity(mode, box.id);
        if (a == Activity::Active)
            return a;
        if (a == Activity::Visited)
            best = a;
    }
    return best;
}

std::vector<int> DiagramState::litBands(ViewMode mode) const {
    std::vector<int> out;
    for (int b = 0; b < bandCount(mode); ++b)
        if (bandActivity(mode, b) == Activity::Active)
            out.push_back(b);
    return out;
}

std::vector<int> DiagramState::litBoxes(ViewMode mode) const {
    std::vector<int> out;
    for (const auto& box : registry(mode).boxes())
        if (boxActivity(mode, box.id) == Activity::Active)
            out.push_back(box.id);
    return out;
}

} // namespace layertrace::gui
