// Chunked, append-only storage of the trace's events with a memory budget: the oldest events are
// evicted (and counted) when the budget is exceeded, so a long live session never exhausts RAM.
#pragma once

#include <layertrace/trace_event.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

namespace layertrace::gui {

// One fixed-capacity block. Slots below `count` never change once written, so a worker thread
// holding the chunk may read them while the UI thread appends behind them.
struct EventChunk {
    static constexpr std::size_t kCapacity = 4096;
    explicit EventChunk(std::uint64_t firstIndex) : base(firstIndex), events(new TraceEvent[kCapacity]) {}
    std::uint64_t base;
    std::unique_ptr<TraceEvent[]> events;
    std::atomic<std::size_t> count{0};
};

// A read-only view of a range of the store that stays valid after eviction (it shares chunks).
class EventSnapshot {
public:
    EventSnapshot() = default;
    std::uint64_t begin() const { return m_begin; }
    std::uint64_t end() const { return m_end; }
    const TraceEvent& at(std::uint64_t index) const;

private:
    friend class EventStore;
    std::vector<std::shared_ptr<const EventChunk>> m_chunks;
    std::uint64_t m_begin = 0;
    std::uint64_t m_end = 0;
};

class EventStore {
public:
    static constexpr std::size_t kDefaultBudget = 500'000;

    explicit EventStore(std::size_t budget = kDefaultBudget);

    // Events are addressed by absolute index: 0 is the first event ever appended.
    void append(TraceEvent&& event);
    void clear();

    std::uint64_t firstIndex() const { return m_first; }
    std::uint64_t endIndex() const { return m_end; }
    std::size_t size() const { return std::size_t(m_end - m_first); }
    bool contains(std::uint64_t index) const { return index >= m_first && index < m_end; }
    const TraceEvent& at(std::uint64_t index) const;

    std::size_t budget() const { return m_budget; }
    void setBudget(std::size_t budget); // evicts at once if the store is above it
    std::uint64_t evicted() const { return m_first; }

    EventSnapshot snapshot(std::uint64_t begin, std::uint64_t end) const;

private:
    void evictToBudget();

    std::deque<std::shared_ptr<EventChunk>> m_chunks;
    std::uint64_t m_first = 0; // absolute index of the oldest retained event
    std::uint64_t m_end = 0;
    std::size_t m_budget;
};

} // namespace layertrace::gui
