// Single-producer single-consumer byte ring holding whole wire records of one thread.
// The producer is the traced thread (hot path: no lock, no allocation, no system call); the
// consumer is the probe's sender thread.
#pragma once

#include <layertrace/wire/records.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <utility>

namespace layertrace::probe {

class RecordRing {
public:
    // `storage` must hold `capacity` bytes; capacity is a power of two.
    void init(std::byte* storage, std::size_t capacity) noexcept {
        m_data = storage;
        m_capacity = capacity;
        m_mask = capacity - 1;
        m_head.store(0, std::memory_order_relaxed);
        m_tail.store(0, std::memory_order_relaxed);
        m_cachedTail = 0;
    }

    std::size_t capacity() const noexcept { return m_capacity; }

    // Producer: copies `size` bytes in (they may wrap around the end of storage). False when
    // there is not enough free space: nothing is written.
    bool push(const std::byte* bytes, std::size_t size) noexcept {
        const std::uint64_t head = m_head.load(std::memory_order_relaxed);
        if (!hasRoom(head, size)) {
            return false;
        }
        copyIn(head, bytes, size);
        m_head.store(head + size, std::memory_order_release);
        return true;
    }

    // Producer: the same for a record whose size is known at compile time (the Python events):
    // copied with a few moves instead of a call to libc's memcpy when it does not wrap.
    template <std::size_t Size>
    bool pushFixed(const void* bytes) noexcept {
        if (std::byte* at = reserve(Size)) {
            std::memcpy(at, bytes, Size);
            commit(Size);
            return true;
        }
        const std::uint64_t head = m_head.load(std::memory_order_relaxed);
        if (!hasRoom(head, Size)) {
            return false;
        }
        copyIn(head, static_cast<const std::byte*>(bytes), Size);
        m_head.store(head + Size, std::memory_order_release);
        return true;
    }

    // Producer: `size` contiguous bytes at the head for a record to be written in place (no copy
    // through a buffer on the stack), or nullptr when there is not that much free space or the
    // record would wrap around the end of storage (push() then). The consumer sees nothing of
    // it until commit(size).
    std::byte* reserve(std::size_t size) noexcept {
        const std::uint64_t head = m_head.load(std::memory_order_relaxed);
        const std::size_t at = static_cast<std::size_t>(head & m_mask);
        if (at + size > m_capacity || !hasRoom(head, size)) {
            return nullptr;
        }
        return m_data + at;
    }

    // Producer: publishes the `size` bytes written at reserve()'s pointer.
    void commit(std::size_t size) noexcept {
        m_head.store(m_head.load(std::memory_order_relaxed) + size, std::memory_order_release);
    }

    // Producer: whether `size` more bytes fit now (the consumer may free more meanwhile).
    bool fits(std::size_t size) noexcept { return hasRoom(m_head.load(std::memory_order_relaxed), size); }

    // Producer: free bytes right now (a lower bound for the consumer may free more).
    std::size_t freeSpace() noexcept {
        m_cachedTail = m_tail.load(std::memory_order_acquire);
        return m_capacity - (m_head.load(std::memory_order_relaxed) - m_cachedTail);
    }

    // Producer: whether at least half the ring is in use (the sender is woken when it is). Reads
    // the consumer's tail only when the producer's copy of it says so.
    bool producerHalfFull() noexcept {
        const std::uint64_t head = m_head.load(std::memory_order_relaxed);
        if (head - m_cachedTail < m_capacity / 2) {
            return false;
        }
        m_cachedTail = m_tail.load(std::memory_order_acquire);
        return head - m_cachedTail >= m_capacity / 2;
    }

    // Consumer: whether at least half the ring is in use.
    bool halfFull() const noexcept {
        return m_head.load(std::memory_order_relaxed) - m_tail.load(std::memory_order_relaxed) >= m_capacity / 2;
    }

    // Consumer: the producer's position; everything in [tail, head) is complete records.
    std::uint64_t head() const noexcept { return m_head.load(std::memory_order_acquire); }
    std::uint64_t tail() const noexcept { return m_tail.load(std::memory_order_relaxed); }

    // Consumer: the size field of the record header at `at` (a record boundary). Records are
    // multiples of 8 bytes and the capacity a power of two, so a header never wraps.
    std::size_t recordSizeAt(std::uint64_t at) const noexcept {
        std::uint16_t size;
        std::memcpy(&size, m_data + static_cast<std::size_t>(at & m_mask) + offsetof(wire::RecordHeader, size), sizeof size);
        return size;
    }

    // Consumer: [from, from + size) as at most two contiguous pieces of the ring's memory.
    std::pair<std::span<const std::byte>, std::span<const std::byte>> segments(std::uint64_t from,
                                                                             std::size_t size) const noexcept {
        const std::size_t at = static_cast<std::size_t>(from & m_mask);
        const std::size_t first = size < m_capacity - at ? size : m_capacity - at;
        return {{m_data + at, first}, {m_data, size - first}};
    }

    // Consumer: copies [from, from + size) out (caller ensures it lies in [tail, head)).
    void copyOut(std::uint64_t from, std::byte* out, std::size_t size) const noexcept {
        const std::size_t at = static_cast<std::size_t>(from & m_mask);
        const std::size_t first = size < m_capacity - at ? size : m_capacity - at;
        std::memcpy(out, m_data + at, first);
        std::memcpy(out + first, m_data, size - first);
    }

    // Consumer: releases everything before `newTail` to the producer.
    void release(std::uint64_t newTail) noexcept { m_tail.store(newTail, std::memory_order_release); }

private:
    // Producer: whether `size` bytes fit after `head`. Reads the consumer's tail (a line the
    // sender writes) only when the tail seen last time does not leave room: the common push
    // touches no line the consumer writes.
    bool hasRoom(std::uint64_t head, std::size_t size) noexcept {
        if (m_capacity - (head - m_cachedTail) >= size) {
            return true;
        }
        m_cachedTail = m_tail.load(std::memory_order_acquire);
        return m_capacity - (head - m_cachedTail) >= size;
    }

    void copyIn(std::uint64_t head, const std::byte* bytes, std::size_t size) noexcept {
        const std::size_t at = static_cast<std::size_t>(head & m_mask);
        const std::size_t first = size < m_capacity - at ? size : m_capacity - at;
        std::memcpy(m_data + at, bytes, first);
        std::memcpy(m_data, bytes + first, size - first);
    }

    // head and tail on separate cache lines: the producer writes one, the consumer the other.
    // The producer's copy of the tail is its own (the tail only grows, so an old copy only
    // understates the free space).
    alignas(64) std::atomic<std::uint64_t> m_head{0};
    std::uint64_t m_cachedTail = 0;
    alignas(64) std::atomic<std::uint64_t> m_tail{0};
    alignas(64) std::byte* m_data = nullptr;
    std::size_t m_capacity = 0;
    std::size_t m_mask = 0;
};

} // namespace layertrace::probe
