// TimelineData: slices built from enter/exit pairs per thread.
#include "core/timeline_data.h"

#include <algorithm>

namespace layertrace::gui {

void TimelineData::ingest(const TraceEvent& event, std::uint64_t absolute) {
    if (event.tsNs) {
        if (m_start == 0 || event.tsNs < m_start)
            m_start = event.tsNs;
        if (event.tsNs > m_end)
            m_end = event.tsNs;
    }
    if (isEnter(event.kind)) {
        ThreadTrack& track = m_tracks[event.tid];
        track.tid = event.tid;
        if (m_count >= m_budget) {
            ++m_overBudget;
            track.open.push_back(SIZE_MAX);
            return;
        }
        Slice s;
        s.startNs = event.tsNs;
        s.enter = absolute;
        s.depth = std::uint32_t(track.open.size());
        s.role = event.role;
        s.function = event.symbol;
        track.maxDepth = std::max(track.maxDepth, s.depth);
        track.open.push_back(track.slices.size());
        m_byEnter.emplace(absolute, std::make_pair(event.tid, track.slices.size()));
        track.slices.push_back(std::move(s));
        ++m_count;
    } else if (isExit(event.kind)) {
        auto it = m_tracks.find(event.tid);
        if (it == m_tracks.end() || it->second.open.empty())
            return;
        const std::size_t idx = it->second.open.back();
        it->second.open.pop_back();
        if (idx == SIZE_MAX)
            return;
        Slice& s = it->second.slices[idx];
        s.endNs = std::max(event.tsNs, s.startNs + 1);
        m_exitToEnter.emplace(absolute, s.enter);
    }
}

void TimelineData::reserve() {
    m_byEnter.reserve(std::min<std::size_t>(m_budget, 4'000'000));
    m_exitToEnter.reserve(std::min<std::size_t>(m_budget, 4'000'000));
}

void TimelineData::clear() {
    m_tracks.clear();
    m_byEnter.clear();
    m_exitToEnter.clear();
    reserve();
    m_count = 0;
    m_start = m_end = 0;
    m_overBudget = 0;
}

const Slice* TimelineData::sliceForEvent(std::uint64_t absolute, std::uint32_t* tid) const {
    auto ex = m_exitToEnter.find(absolute);
    if (ex != m_exitToEnter.end())
        absolute = ex->second;
    auto it = m_byEnter.find(absolute);
    if (it == m_byEnter.end())
        return nullptr;
    if (tid)
        *tid = it->second.first;
    return &m_tracks.at(it->second.first).slices[it->second.second];
}

const Slice* TimelineData::neighbour(std::uint64_t enterIndex, int direction, std::uint32_t* tid) const {
    auto it = m_byEnter.find(enterIndex);
    if (it == m_byEnter.end())
        return nullptr;
    const ThreadTrack& track = m_tracks.at(it->second.first);
    const std::size_t i = it->second.second;
    if (direction > 0 ? i + 1 >= track.slices.size() : i == 0)
        return nullptr;
    if (tid)
        *tid = track.tid;
    return &track.slices[direction > 0 ? i + 1 : i - 1];
}

} // namespace layertrace::gui
