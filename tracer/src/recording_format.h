// Private to the recording implementation: the byte-level pieces of the .ltr format shared by
// writer, reader and dump (magic numbers, record types, CRC-32, little-endian and varint coding).
// docs/recording-format.md is the specification; keep the two in step.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace layertrace::tracer::recording {

// "\x89LTR\r\n\x1a\n": a non-ASCII first byte so text tools do not take it for text, and CR LF,
// ^Z, LF so a text-mode transfer that rewrites line ends is detected (the PNG trick).
inline constexpr std::array<unsigned char, 8> kFileMagic = {0x89, 'L', 'T', 'R', '\r', '\n', 0x1a, '\n'};
inline constexpr std::array<unsigned char, 4> kBlockMagic = {'L', 'T', 'B', '1'};
inline constexpr std::uint8_t kLittleEndian = 1;
// Sanity limits a reader enforces before allocating: a corrupted size must not exhaust memory.
inline constexpr std::uint32_t kMaxBlockRaw = 256u << 20;
inline constexpr std::uint32_t kMaxStringBytes = 16u << 20;
inline constexpr std::uint32_t kMaxListItems = 1u << 20;

enum class RecordType : std::uint8_t {
    SessionInfo = 1, // RecordingInfo (inline strings)
    String = 2,      // one interned string: id, bytes
    Frame = 3,       // one interned stack frame: id, fields
    Started = 4,     // onStarted(pid)
    Module = 5,      // onModule
    Event = 6,       // onEvent
    Report = 7,      // onReport
    Dropped = 8,     // onDropped(tid, count)
    Finished = 9,    // onFinished(SessionResult): the last record of a complete recording
    Interpreter = 10 // interpreter path and Python version, once known
};
inline constexpr std::uint8_t kMaxRecordType = 10;

inline const char* recordTypeName(std::uint64_t type) {
    switch (type) {
    case 1: return "session_info";
    case 2: return "string";
    case 3: return "frame";
    case 4: return "started";
    case 5: return "module";
    case 6: return "event";
    case 7: return "report";
    case 8: return "dropped";
    case 9: return "finished";
    case 10: return "interpreter";
    default: return "unknown";
    }
}

// Bits of a Finished record's flags byte.
inline constexpr std::uint8_t kFinishedConnected = 1u << 0;
inline constexpr std::uint8_t kFinishedHandshakeFailed = 1u << 1;
inline constexpr std::uint8_t kFinishedGoodbyeMissing = 1u << 2; // format 2

// Presence bits of an Event record's optional fields (the first varint of its payload).
inline constexpr std::uint32_t kEvPy = 1u << 0;
inline constexpr std::uint32_t kEvArgs = 1u << 1;
inline constexpr std::uint32_t kEvRet = 1u << 2;
inline constexpr std::uint32_t kEvStack = 1u << 3;
inline constexpr std::uint32_t kEvDuration = 1u << 4;
inline constexpr std::uint32_t kEvRaised = 1u << 5;
inline constexpr std::uint32_t kEvUnwound = 1u << 6;
inline constexpr std::uint32_t kEvMerged = 1u << 7;
inline constexpr std::uint32_t kEvUnmerged = 1u << 8;
inline constexpr std::uint32_t kEvDropped = 1u << 9;
inline constexpr std::uint32_t kEvReason = 1u << 10;
inline constexpr std::uint32_t kEvAddress = 1u << 11;
inline constexpr std::uint32_t kEvPyName = 1u << 12;
inline constexpr std::uint32_t kEvCaller = 1u << 13;
inline constexpr std::uint32_t kEvTarget = 1u << 14;
inline constexpr std::uint32_t kEvSource = 1u << 15; // sourceFile, sourceLine (DWARF of `address`)
inline constexpr std::uint32_t kEvLost = 1u << 16;   // format 3: an exit the tracer made (TraceEvent::lost)

// CRC-32 (IEEE 802.3, reflected, as zlib and gzip compute it).
inline std::uint32_t crc32(const void* data, std::size_t size, std::uint32_t crc = 0) {
    static const auto table = [] {
        std::array<std::uint32_t, 256> t{};
        for (std::uint32_t i = 0; i < 256; ++i) {
            std::uint32_t c = i;
            for (int k = 0; k < 8; ++k) {
                c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            }
            t[i] = c;
        }
        return t;
    }();
    const auto* p = static_cast<const unsigned char*>(data);
    crc = ~crc;
    for (std::size_t i = 0; i < size; ++i) {
        crc = table[(crc ^ p[i]) & 0xffu] ^ (crc >> 8);
    }
    return ~crc;
}

inline void putLe(unsigned char* p, std::uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) {
        p[i] = static_cast<unsigned char>(v >> (8 * i));
    }
}

inline std::uint64_t getLe(const unsigned char* p, int bytes) {
    std::uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) {
        v |= static_cast<std::uint64_t>(p[i]) << (8 * i);
    }
    return v;
}

inline std::uint64_t zigzag(std::int64_t v) {
    return (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63);
}
inline std::int64_t unzigzag(std::uint64_t v) {
    return static_cast<std::int64_t>(v >> 1) ^ -static_cast<std::int64_t>(v & 1);
}

// Appends LEB128 varints, bytes and length-prefixed strings to a std::string used as a byte buffer.
class ByteSink {
public:
    explicit ByteSink(std::string& out) : m_out(out) {}
    void varint(std::uint64_t v) {
        // Encoded on the stack and appended at once: one append per field, not one per byte
        // (the recording writer encodes every event of a live session on the tracer's thread).
        char buf[10];
        std::size_t n = 0;
        while (v >= 0x80) {
            buf[n++] = static_cast<char>((v & 0x7f) | 0x80);
            v >>= 7;
        }
        buf[n++] = static_cast<char>(v);
        m_out.append(buf, n);
    }
    void svarint(std::int64_t v) { varint(zigzag(v)); }
    void byte(std::uint8_t b) { m_out.push_back(static_cast<char>(b)); }
    void str(std::string_view s) {
        varint(s.size());
        m_out.append(s.data(), s.size());
    }

private:
    std::string& m_out;
};

// The same encoding into memory the caller sized beforehand (at most kMaxVarintSize bytes per
// varint): no capacity check per byte, for records written once per event.
inline constexpr std::size_t kMaxVarintSize = 10;
class RawByteWriter {
public:
    explicit RawByteWriter(char* out) : m_begin(out), m_p(out) {}
    // Inlined: an event record is a few dozen of these, most of them one byte.
    [[gnu::always_inline]] void varint(std::uint64_t v) {
        if (v < 0x80) {
            *m_p++ = static_cast<char>(v);
            return;
        }
        while (v >= 0x80) {
            *m_p++ = static_cast<char>((v & 0x7f) | 0x80);
            v >>= 7;
        }
        *m_p++ = static_cast<char>(v);
    }
    [[gnu::always_inline]] void svarint(std::int64_t v) { varint(zigzag(v)); }
    [[gnu::always_inline]] void byte(std::uint8_t b) { *m_p++ = static_cast<char>(b); }
    void bytes(std::string_view s) {
        std::memcpy(m_p, s.data(), s.size());
        m_p += s.size();
    }
    std::string_view written() const { return {m_begin, static_cast<std::size_t>(m_p - m_begin)}; }

private:
    char* m_begin;
    char* m_p;
};

// Bounds-checked reading of the same; failures throw Truncated with what was being read.
class ByteSource {
public:
    struct Truncated {
        const char* what;
    };
    ByteSource(const unsigned char* data, std::size_t size) : m_p(data), m_end(data + size), m_begin(data) {}

    std::uint64_t varint(const char* what = "varint") {
        std::uint64_t v = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (m_p == m_end) {
                throw Truncated{what};
            }
            const unsigned char b = *m_p++;
            v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
            if ((b & 0x80) == 0) {
                return v;
            }
        }
        throw Truncated{"overlong varint"};
    }
    std::int64_t svarint(const char* what = "varint") { return unzigzag(varint(what)); }
    std::uint8_t byte(const char* what = "byte") {
        if (m_p == m_end) {
            throw Truncated{what};
        }
        return *m_p++;
    }
    std::string str(const char* what = "string") {
        const std::uint64_t n = varint(what);
        if (n > kMaxStringBytes || n > static_cast<std::uint64_t>(m_end - m_p)) {
            throw Truncated{what};
        }
        std::string s(reinterpret_cast<const char*>(m_p), static_cast<std::size_t>(n));
        m_p += n;
        return s;
    }
    std::size_t remaining() const { return static_cast<std::size_t>(m_end - m_p); }
    std::size_t offset() const { return static_cast<std::size_t>(m_p - m_begin); }
    const unsigned char* here() const { return m_p; }
    void skip(std::size_t n) {
        if (n > remaining()) {
            throw Truncated{"record payload"};
        }
        m_p += n;
    }

private:
    const unsigned char* m_p;
    const unsigned char* m_end;
    const unsigned char* m_begin;
};

} // namespace layertrace::tracer::recording
