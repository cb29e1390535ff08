// EventStore: chunks of 4096 events; eviction advances the first index and frees whole chunks.
#include "core/event_store.h"

#include <algorithm>
#include <stdexcept>

namespace layertrace::gui {

const TraceEvent& EventSnapshot::at(std::uint64_t index) const {
    const std::uint64_t firstBase = m_chunks.front()->base;
    const auto& chunk = m_chunks[std::size_t((index - firstBase) / EventChunk::kCapacity)];
    return chunk->events[std::size_t(index - chunk->base)];
}

EventStore::EventStore(std::size_t budget) : m_budget(std::max<std::size_t>(budget, 1)) {}

void EventStore::append(TraceEvent&& event) {
    if (m_chunks.empty() || m_chunks.back()->count.load(std::memory_order_relaxed) == EventChunk::kCapacity)
        m_chunks.push_back(std::make_shared<EventChunk>(m_end));
    EventChunk& chunk = *m_chunks.back();
    const std::size_t slot = chunk.count.load(std::memory_order_relaxed);
    chunk.events[slot] = std::move(event);
    chunk.count.store(slot + 1, std::memory_order_release);
    ++m_end;
    if (size() > m_budget)
        evictToBudget();
}

void EventStore::clear() {
    m_chunks.clear();
    m_first = m_end;
}

const TraceEvent& EventStore::at(std::uint64_t index) const {
    if (!contains(index))
        throw std::out_of_range("layertrace-gui: event " + std::to_string(index) + " is not retained (first " +
                                std::to_string(m_first) + ", end " + std::to_string(m_end) + ")");
    const std::uint64_t firstBase = m_chunks.front()->base;
    const auto& chunk = m_chunks[std::size_t((index - firstBase) / EventChunk::kCapacity)];
    return chunk->events[std::size_t(index - chunk->base)];
}

void EventStore::setBudget(std::size_t budget) {
    m_budget = std::max<std::size_t>(budget, 1);
    evictToBudget();
}

void EventStore::evictToBudget() {
    if (size() <= m_budget)
        return;
    m_first = m_end - m_budget;
    // Whole chunks below the first retained event go; a partly evicted chunk stays until it is
    // fully behind, so memory is bounded by the budget plus one chunk.
    while (!m_chunks.empty() && m_chunks.front()->base + EventChunk::kCapacity <= m_first)
        m_chunks.pop_front();
}

EventSnapshot EventStore::snapshot(std::uint64_t begin, std::uint64_t end) const {
    EventSnapshot snap;
    begin = std::max(begin, m_first);
    end = std::min(end, m_end);
    if (begin >= end)
        return snap;
    snap.m_begin = begin;
    snap.m_end = end;
    const std::uint64_t firstBase = m_chunks.front()->base;
    const std::size_t from = std::size_t((begin - firstBase) / EventChunk::kCapacity);
    const std::size_t to = std::size_t((end - 1 - firstBase) / EventChunk::kCapacity);
    for (std::size_t i = from; i <= to; ++i)
        snap.m_chunks.push_back(m_chunks[i]);
    return snap;
}

} // namespace layertrace::gui
