// Per-thread slices for the timeline / flame chart: one slice per call, nested by depth, with the
// navigation the trace viewers share (next / previous slice on the same thread).
#pragma once

#include <layertrace/trace_event.h>

#include <cstdint>
#include <map>
#include <unordered_map>
#include <string>
#include <vector>

namespace layertrace::gui {

struct Slice {
    std::uint64_t startNs = 0;
    std::uint64_t endNs = 0; // 0 while the call is running
    std::uint64_t enter = 0; // absolute index of the enter event
    std::uint32_t depth = 0;
    Role role = Role::Unknown;
    std::string function;
};

struct ThreadTrack {
    std::uint32_t tid = 0;
    std::vector<Slice> slices; // in start order
    std::vector<std::size_t> open;
    std::uint32_t maxDepth = 0;
};

class TimelineData {
public:
    explicit TimelineData(std::size_t sliceBudget) : m_budget(sliceBudget) { reserve(); }
    void ingest(const TraceEvent& event, std::uint64_t absolute);
    void clear();

    const std::map<std::uint32_t, ThreadTrack>& tracks() const { return m_tracks; }
    std::uint64_t startNs() const { return m_start; }
    std::uint64_t endNs() const { return m_end; }
    bool empty() const { return m_tracks.empty(); }
    std::uint64_t slicesOverBudget() const { return m_overBudget; }

    const Slice* sliceForEvent(std::uint64_t absolute, std::uint32_t* tid = nullptr) const;
    // The slice after / before the one entered at `enterIndex` on the same thread (by start).
    const Slice* neighbour(std::uint64_t enterIndex, int direction, std::uint32_t* tid = nullptr) const;

private:
    void reserve(); // sized for the budget: no rehash stalls during a live session
    std::size_t m_budget;
    std::size_t m_count = 0;
    std::map<std::uint32_t, ThreadTrack> m_tracks;
    std::unordered_map<std::uint64_t, std::pair<std::uint32_t, std::size_t>> m_byEnter; // enter -> (tid, slice)
    std::unordered_map<std::uint64_t, std::uint64_t> m_exitToEnter;
    std::uint64_t m_start = 0;
    std::uint64_t m_end = 0;
    std::uint64_t m_overBudget = 0;
};

} // namespace layertrace::gui
