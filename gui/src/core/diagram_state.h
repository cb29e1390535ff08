// What the layer diagram shows at one playback position, as plain data: which boxes exist and
// where (stable slots), which bands and boxes are lit, the current route with a label per hop,
// and the "just happened" / "next" marks. Tests assert on this class; the widget only paints it.
#pragma once

#include "core/bands.h"

#include <layertrace/trace_event.h>

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace layertrace::gui {

// One participating module in one band. Created the first time a call enters it and never moved:
// its slot is its order of appearance in the band, so boxes keep their place between steps.
struct DiagramBox {
    int id = -1;
    int band = 0;
    int slot = -1; // -1: folded into the band's "more modules" box (see BoxRegistry)
    Role role = Role::Unknown;
    std::string module;     // as the tracer names it
    std::string modulePath; // full path where known
    std::string reason;     // why the classifier chose the role (shown on hover)
    std::uint64_t calls = 0;
};

// A real program's full-mode trace calls into dozens of standard-library modules (import
// machinery, argparse, enum...). Drawing each as a box would bury the route, so standard-library
// boxes stay folded into one "+N more" box per band until a call that crosses into native code
// (extension, libffi, native library) happens with them on the stack; every other role gets its
// own box at once. Each band shows at most kMaxNamedPerBand named boxes.
class BoxRegistry {
public:
    static constexpr int kMaxNamedPerBand = 5;

    explicit BoxRegistry(ViewMode mode) : m_mode(mode) {}
    ViewMode mode() const { return m_mode; }
    int find(Role role, const std::string& module) const;
    int add(const TraceEvent& event); // finds or creates; counts the call
    void promote(int id);             // give a folded box its own slot (if the band has room)
    const std::vector<DiagramBox>& boxes() const { return m_boxes; }
    const DiagramBox& box(int id) const { return m_boxes[std::size_t(id)]; }
    int namedInBand(int band) const;  // boxes with their own slot
    int foldedInBand(int band) const; // boxes in the band's "+N more" box
    int slotsInBand(int band) const { return namedInBand(band) + (foldedInBand(band) > 0 ? 1 : 0); }
    int maxSlots() const;
    bool bandUsed(int band) const { return slotsInBand(band) > 0; }
    void clear();

private:
    static bool startsFolded(Role role) { return role == Role::Pylib; }
    ViewMode m_mode;
    std::vector<DiagramBox> m_boxes;
    std::unordered_map<std::string, int> m_index; // band + '\0' + module
    std::vector<int> m_named;                     // per band
    std::vector<int> m_folded;                    // per band
};

enum class Activity : std::uint8_t { Idle, Visited, Active };

// One frame of a thread's call path as the diagram sees it.
struct ActiveFrame {
    std::array<int, 2> box{-1, -1}; // [Detailed, Summary]
    EventKind kind = EventKind::PyCall;
    Role role = Role::Unknown;
    std::string function;
    std::uint64_t index = 0; // absolute store index of the entering event
    // A frame the stream implies but sends no event for: the extension that called libffi
    // (ctypes and cffi calls raise no c_call, so _ctypes is known only as FfiCall's caller).
    bool implied = false;
};

// One hop of the route: consecutive frames in the same box form one hop, labelled with the
// function that entered the box and any nested calls inside it ("transform_record › helper").
struct RouteHop {
    int box = -1;
    std::vector<std::string> functions;
    std::vector<Role> roles; // role of each function's frame (a summary box can hold several)
    std::size_t skipped = 0; // calls of a Python-only loop folded into this hop
    std::uint64_t index = 0;
    std::string label() const;
};

// A mark on one box: what the step at the cursor did, or what the next step will do.
struct StepMark {
    std::array<int, 2> box{-1, -1};
    bool enter = true;
    std::string function;
    EventKind kind = EventKind::PyCall;
};

// The part of the state that depends on the playback position; copied for step-back checkpoints.
struct DiagramActivity {
    std::map<std::uint32_t, std::vector<ActiveFrame>> stacks;
    std::array<std::vector<std::uint8_t>, 2> visitedBoxes; // by box id
    std::uint32_t focusTid = 0;
    std::int64_t cursor = -1; // absolute index of the last applied event; -1 before the first
    std::optional<StepMark> justHappened;
};

class DiagramState {
public:
    DiagramState();

    // Ingest: makes the boxes of every call in the trace known, so the layout is complete before
    // playback reaches them.
    void registerEvent(const TraceEvent& event);
    // Playback: applies one event at absolute index `index` (the next one after the cursor).
    void apply(const TraceEvent& event, std::uint64_t index);
    void setNext(std::optional<StepMark> next) { m_next = std::move(next); }
    StepMark markFor(const TraceEvent& event) const;
    void resetActivity();
    void clear();

    const DiagramActivity& activity() const { return m_activity; }
    void restoreActivity(const DiagramActivity& activity) { m_activity = activity; }

    const BoxRegistry& registry(ViewMode mode) const { return m_registry[idx(mode)]; }
    std::int64_t cursor() const { return m_activity.cursor; }
    std::uint32_t focusThread() const { return m_activity.focusTid; }
    const std::optional<StepMark>& justHappened() const { return m_activity.justHappened; }
    const std::optional<StepMark>& next() const { return m_next; }

    std::vector<RouteHop> route(ViewMode mode) const;      // focused thread, outermost first
    int topBox(ViewMode mode) const;                        // innermost box of the route, or -1
    Activity bandActivity(ViewMode mode, int band) const;
    Activity boxActivity(ViewMode mode, int box) const;
    std::vector<int> litBands(ViewMode mode) const;
    std::vector<int> litBoxes(ViewMode mode) const;

    static bool changesPath(EventKind kind);

private:
    // Ingest-time call stacks (box ids per view), to know which boxes a crossing passes through.
    struct IngestFrame {
        std::array<int, 2> ids{-1, -1};
        bool implied = false;
    };
    std::map<std::uint32_t, std::vector<IngestFrame>> m_ingestStacks;
    // Python files can change role mid-trace: the tracer promotes a package module from app to
    // wrapper when it first calls native code, possibly during that very call. Frames of Python
    // code take the latest role seen for their file (from call events and stack frames), as the
    // tracer's path builder does when it prints a path.
    std::unordered_map<std::string, Role> m_pythonRoles;
    void learnPythonRoles(const TraceEvent& event);
    Role settledRole(const TraceEvent& event) const;
    std::array<int, 2> addBoxes(const TraceEvent& event);

    static std::size_t idx(ViewMode mode) { return mode == ViewMode::Detailed ? 0 : 1; }
    const std::vector<ActiveFrame>* focusStack() const;

    std::array<BoxRegistry, 2> m_registry;
    DiagramActivity m_activity;
    std::optional<StepMark> m_next;
};

} // namespace layertrace::gui
