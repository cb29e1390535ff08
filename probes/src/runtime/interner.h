// Lock-free insert-only hash table from a 64-bit key (a pointer or a content hash) to a wire id,
// used to send each string / code object definition once. Fixed capacity, allocated up front.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace layertrace::probe {

class IdTable {
public:
    // `slots` must point at `capacity` zeroed Slot entries; capacity a power of two.
    struct Slot {
        std::atomic<std::uint64_t> key;
        std::atomic<std::uint32_t> id;
        std::uint32_t aux; // a value stored with the id (a code object's first line); set before publish
    };

    void init(Slot* slots, std::size_t capacity) noexcept {
        m_slots = slots;
        m_mask = capacity - 1;
    }

    enum class Result { Found, Inserted, Full };

    // Finds `key` (nonzero) or claims a slot for it. On Inserted the caller must send the
    // definition and then publish(slot, id); concurrent finders of the same key wait (briefly:
    // the claimer is between two instructions of the same function) for the publication.
    Result findOrClaim(std::uint64_t key, std::uint32_t* id, Slot** claimed, std::uint32_t* aux = nullptr) noexcept {
        if (m_slots == nullptr) {
            return Result::Full;
        }
        std::size_t i = static_cast<std::size_t>(mix(key)) & m_mask;
        for (std::size_t probes = 0; probes <= m_mask; ++probes, i = (i + 1) & m_mask) {
            Slot& s = m_slots[i];
            std::uint64_t k = s.key.load(std::memory_order_acquire);
            if (k == 0) {
                std::uint64_t expected = 0;
                if (s.key.compare_exchange_strong(expected, key, std::memory_order_acq_rel)) {
                    *claimed = &s;
                    return Result::Inserted;
                }
                k = expected;
            }
            if (k == key) {
                std::uint32_t v;
                while ((v = s.id.load(std::memory_order_acquire)) == 0) {
                    // The claimer publishes right after writing the definition.
                }
                *id = v;
                if (aux != nullptr) {
                    *aux = s.aux;
                }
                return Result::Found;
            }
        }
        return Result::Full;
    }

    // Read-only lookup: the id, or 0 when absent or not yet published.
    std::uint32_t find(std::uint64_t key) const noexcept {
        if (m_slots == nullptr) {
            return 0;
        }
        std::size_t i = static_cast<std::size_t>(mix(key)) & m_mask;
        for (std::size_t probes = 0; probes <= m_mask; ++probes, i = (i + 1) & m_mask) {
            const std::uint64_t k = m_slots[i].key.load(std::memory_order_acquire);
            if (k == key) {
                return m_slots[i].id.load(std::memory_order_acquire);
            }
            if (k == 0) {
                return 0;
            }
        }
        return 0;
    }

    static void publish(Slot* slot, std::uint32_t id) noexcept { slot->id.store(id, std::memory_order_release); }

    static std::uint64_t mix(std::uint64_t x) noexcept {
        x ^= x >> 33;
        x *= 0xff51afd7ed558ccdull;
        x ^= x >> 33;
        return x;
    }

    // FNV-1a over the bytes, never 0 (0 marks an empty slot).
    static std::uint64_t hashText(std::string_view text) noexcept {
        std::uint64_t h = 0xcbf29ce484222325ull;
        for (char c : text) {
            h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ull;
        }
        h ^= text.size();
        return h == 0 ? 1 : h;
    }

private:
    Slot* m_slots = nullptr;
    std::size_t m_mask = 0;
};

} // namespace layertrace::probe
