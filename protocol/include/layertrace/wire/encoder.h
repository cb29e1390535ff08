// Allocation-free writer of wire records into a caller-provided buffer (the probe's hot path).
#pragma once

#include <layertrace/wire/records.h>

#include <cstddef>
#include <cstdint>
#include <algorithm>
#include <cstring>
#include <initializer_list>
#include <span>
#include <string_view>
#include <type_traits>

namespace layertrace::wire {

// Appends whole records (header filled in, variable tails copied, zero padding to kRecordAlign)
// to a fixed buffer. A record that does not fit is not written at all and the writer stays
// usable: callers on the hot path count it as dropped. Never allocates, never throws.
class RecordWriter {
public:
    RecordWriter(std::byte* buffer, std::size_t capacity) noexcept : m_buffer(buffer), m_capacity(capacity) {}

    std::size_t size() const noexcept { return m_size; }
    std::size_t capacity() const noexcept { return m_capacity; }
    std::uint32_t count() const noexcept { return m_count; }
    const std::byte* data() const noexcept { return m_buffer; }
    std::span<const std::byte> bytes() const noexcept { return {m_buffer, m_size}; }
    void reset() noexcept { m_size = 0; m_count = 0; }

    // Appends `fixed` as a record of `type` (its header's type and size are overwritten),
    // followed by `tails` in order. Returns false, writing nothing, when the record would exceed
    // kMaxRecordSize or the remaining capacity.
    template <class T>
    bool append(RecordType type, const T& fixed, std::initializer_list<std::span<const std::byte>> tails = {}) noexcept {
        static_assert(std::is_trivially_copyable_v<T> && sizeof(T) >= sizeof(RecordHeader));
        std::size_t tailBytes = 0;
        for (const auto& t : tails) {
            tailBytes += t.size();
        }
        const std::size_t total = paddedSize(sizeof(T) + tailBytes);
        if (total > kMaxRecordSize || total > m_capacity - m_size) {
            return false;
        }
        std::byte* out = m_buffer + m_size;
        std::memcpy(out, &fixed, sizeof(T));
        RecordHeader header{type, static_cast<std::uint16_t>(total), 0};
        std::memcpy(out, &header, sizeof header);
        std::size_t at = sizeof(T);
        for (const auto& t : tails) {
            if (!t.empty()) {
                std::memcpy(out + at, t.data(), t.size());
            }
            at += t.size();
        }
        std::memset(out + at, 0, total - at);
        m_size += total;
        ++m_count;
        return true;
    }

private:
    std::byte* m_buffer;
    std::size_t m_capacity;
    std::size_t m_size = 0;
    std::uint32_t m_count = 0;
};

template <class T>
std::span<const std::byte> asBytes(std::span<const T> values) noexcept {
    return std::as_bytes(values);
}
inline std::span<const std::byte> asBytes(std::string_view text) noexcept {
    return {reinterpret_cast<const std::byte*>(text.data()), text.size()};
}

// Longest text that still fits in one record after a fixed part of `fixedBytes` and a NUL.
constexpr std::size_t maxTextFor(std::size_t fixedBytes) { return kMaxRecordSize - fixedBytes - 1; }

// Cuts `text` at its first NUL and to what fits in a record (texts on the wire are NUL-free).
inline std::string_view clampText(std::string_view text, std::size_t fixedBytes) noexcept {
    if (const auto nul = text.find('\0'); nul != std::string_view::npos) {
        text = text.substr(0, nul);
    }
    return text.substr(0, std::min(text.size(), maxTextFor(fixedBytes)));
}

// ---- typed helpers for the records with variable tails --------------------------------------

inline constexpr std::byte kNul[1] = {std::byte{0}};

bool appendString(RecordWriter& w, std::uint32_t stringId, std::string_view text) noexcept;
bool appendModuleMap(RecordWriter& w, std::uint32_t moduleId, std::uint64_t base, std::uint64_t tsNs,
                     std::string_view path) noexcept;
bool appendThreadInfo(RecordWriter& w, std::uint32_t tid, std::string_view name) noexcept;
bool appendReport(RecordWriter& w, ReportLevel level, std::string_view message) noexcept;
bool appendExec(RecordWriter& w, std::uint64_t tsNs, std::string_view path) noexcept;
// args.size() must be <= kMaxFfiArgs (more are cut; the count says how many were sent).
bool appendFfiCall(RecordWriter& w, const FfiCall& call, std::span<const FfiValue> args) noexcept;
// Both spans are cut to kMaxStackFrames.
bool appendStack(RecordWriter& w, std::span<const std::uint64_t> nativeIps,
                 std::span<const PyFrameRef> pythonFrames) noexcept;

// Writes a BatchHeader for `bytes` of records (count of them) from thread `tid` to `out`.
inline void encodeBatchHeader(std::byte* out, std::uint32_t tid, std::uint32_t bytes, std::uint32_t count) noexcept {
    const BatchHeader h{kMagic, tid, bytes, count};
    std::memcpy(out, &h, sizeof h);
}

} // namespace layertrace::wire
