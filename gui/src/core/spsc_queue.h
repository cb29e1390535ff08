// A bounded single-producer / single-consumer ring: the ingest worker pushes batches, the UI tick
// pops them. No locks; a full ring refuses the push so the producer can count the loss.
#pragma once

#include <atomic>
#include <cstddef>
#include <new>
#include <vector>

namespace layertrace::gui {

template <typename T>
class SpscQueue {
public:
    explicit SpscQueue(std::size_t capacity) {
        std::size_t n = 2;
        while (n < capacity)
            n <<= 1;
        m_slots.resize(n);
        m_mask = n - 1;
    }

    std::size_t capacity() const { return m_slots.size(); }

    bool push(T&& value) {
        const std::size_t head = m_head.load(std::memory_order_relaxed);
        if (head - m_tail.load(std::memory_order_acquire) == m_slots.size())
            return false;
        m_slots[head & m_mask] = std::move(value);
        m_head.store(head + 1, std::memory_order_release);
        return true;
    }

    bool pop(T& out) {
        const std::size_t tail = m_tail.load(std::memory_order_relaxed);
        if (tail == m_head.load(std::memory_order_acquire))
            return false;
        out = std::move(m_slots[tail & m_mask]);
        m_tail.store(tail + 1, std::memory_order_release);
        return true;
    }

    std::size_t sizeApprox() const {
        return m_head.load(std::memory_order_acquire) - m_tail.load(std::memory_order_acquire);
    }

private:
    std::vector<T> m_slots;
    std::size_t m_mask = 0;
    alignas(64) std::atomic<std::size_t> m_head{0};
    alignas(64) std::atomic<std::size_t> m_tail{0};
};

} // namespace layertrace::gui
