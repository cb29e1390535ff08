// What the event list shows: role, module, thread and free-text criteria, evaluated on a worker
// thread over a snapshot of the store.
#pragma once

#include "core/event_store.h"

#include <QString>

#include <cstdint>
#include <optional>
#include <vector>

namespace layertrace::gui {

struct EventFilter {
    std::optional<Role> role;
    QString module; // exact short module name; empty: any
    std::uint32_t tid = 0; // 0: any thread
    QString text;   // case-insensitive substring of function, module or Python file
    bool pathEventsOnly = false; // calls and returns only (no module loads, thread events)

    bool active() const { return role || !module.isEmpty() || tid != 0 || !text.isEmpty() || pathEventsOnly; }
    bool matches(const TraceEvent& event) const;
    bool operator==(const EventFilter&) const = default;
};

// The absolute indices in [snapshot.begin(), snapshot.end()) that pass the filter.
std::vector<std::uint64_t> filterEvents(const EventSnapshot& snapshot, const EventFilter& filter);

} // namespace layertrace::gui
