// Multi-producer append-only arena for metadata records (String, PyCode, HookInfo, ModuleMap,
// Report, ThreadInfo). Lock-free: a producer reserves space with one fetch_add, writes its
// record and then publishes it by storing a commit mark into the record header's reserved word.
// The sender sends everything up to a cursor it read *after* snapshotting the thread rings, so
// a definition is always on the wire before any event that could refer to it (see
// docs/probe.md, "ordering").
#pragma once

#include <layertrace/wire/records.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace layertrace::probe {

class MetadataArena {
public:
    static constexpr std::uint32_t kCommitted = 0x4d4d4f43u; // "COMM"

    void init(std::byte* storage, std::size_t capacity) noexcept {
        m_data = storage;
        m_capacity = capacity;
    }

    // Appends one complete record (header size already set). False when the arena is full:
    // metadata is then lost and the caller reports it once.
    bool append(const std::byte* record, std::size_t size) noexcept {
        if (m_data == nullptr) {
            return false;
        }
        const std::uint64_t at = m_reserved.fetch_add(size, std::memory_order_relaxed);
        if (at + size > m_capacity) {
            // Leave a committed filler so the consumer can still walk past the reservation;
            // only when at least a header fits.
            if (at + sizeof(wire::RecordHeader) <= m_capacity) {
                wire::RecordHeader filler{static_cast<wire::RecordType>(0), 0, 0};
                std::memcpy(m_data + at, &filler, sizeof(std::uint32_t));
                commitWord(at).store(kFull, std::memory_order_release);
            }
            return false;
        }
        // The reserved word (bytes 4..8) is only ever written atomically: it is the commit mark.
        std::memcpy(m_data + at + sizeof(wire::RecordHeader), record + sizeof(wire::RecordHeader),
                    size - sizeof(wire::RecordHeader));
        // First word (type + size) last, then the commit mark: the consumer reads none of the
        // record until the mark is set.
        std::memcpy(m_data + at, record, sizeof(std::uint32_t));
        commitWord(at).store(kCommitted, std::memory_order_release);
        return true;
    }

    // Consumer: current end of reservations (read after snapshotting the rings).
    std::uint64_t reservedEnd() const noexcept {
        const std::uint64_t r = m_reserved.load(std::memory_order_acquire);
        return r < m_capacity ? r : m_capacity;
    }
    std::uint64_t consumed() const noexcept { return m_consumed; }

    // Consumer: the record at `at` once committed: its size, or 0 if not yet committed; -1 if
    // the arena is exhausted from here on.
    std::int64_t committedSize(std::uint64_t at) const noexcept {
        const std::uint32_t mark = commitWord(at).load(std::memory_order_acquire);
        if (mark == kFull) {
            return -1;
        }
        if (mark != kCommitted) {
            return 0;
        }
        wire::RecordHeader h;
        std::memcpy(&h, m_data + at, sizeof h);
        return h.size;
    }
    const std::byte* at(std::uint64_t offset) const noexcept { return m_data + offset; }
    void setConsumed(std::uint64_t offset) noexcept { m_consumed = offset; }

private:
    static constexpr std::uint32_t kFull = 0x4c4c5546u; // "FULL"
    std::atomic_ref<std::uint32_t> commitWord(std::uint64_t at) const noexcept {
        static_assert(offsetof(wire::RecordHeader, reserved) == 4);
        // Records are 8-aligned in an 8-aligned mapping, so the word is 4-aligned.
        return std::atomic_ref<std::uint32_t>(
            *reinterpret_cast<std::uint32_t*>(m_data + at + offsetof(wire::RecordHeader, reserved)));
    }

    std::byte* m_data = nullptr;
    std::size_t m_capacity = 0;
    alignas(64) std::atomic<std::uint64_t> m_reserved{0};
    alignas(64) std::uint64_t m_consumed = 0; // sender only
};

} // namespace layertrace::probe
