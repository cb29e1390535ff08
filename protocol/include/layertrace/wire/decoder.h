// Bounds-checked decoding of wire records and incremental decoding of a socket stream.
// Every malformed input yields a DecodeError naming the stream offset and what is wrong; the
// decoder never reads outside the bytes it was given (it is fuzzed).
#pragma once

#include <layertrace/wire/records.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace layertrace::wire {

struct DecodeError {
    std::uint64_t offset = 0; // byte offset in the stream where the bad item starts
    std::string what;
    std::string message() const { return "offset " + std::to_string(offset) + ": " + what; }
};

// Checks one complete record (exactly `record.size()` bytes, starting with its header): size
// rules, enum values, and that every tail is exactly as long as its counts say. On failure
// *why says what is wrong. Unknown record types are accepted when their size is well-formed.
bool validateRecord(std::span<const std::byte> record, std::string* why);

// A view of one validated record. Accessors copy out (the bytes need not be aligned) and only
// read what validateRecord() proved present; calling the accessor of another type is a
// programming error and returns empty values.
class RecordView {
public:
    RecordView() = default;
    RecordView(std::span<const std::byte> bytes, std::uint64_t offset) : m_bytes(bytes), m_offset(offset) {}

    RecordType type() const;
    std::size_t size() const { return m_bytes.size(); }
    std::uint64_t offset() const { return m_offset; } // stream offset of the header
    std::span<const std::byte> bytes() const { return m_bytes; }

    template <class T>
    T as() const {
        T value{};
        if (m_bytes.size() >= sizeof(T)) {
            std::memcpy(&value, m_bytes.data(), sizeof(T));
        }
        return value;
    }

    // String: its bytes; ModuleMap, Exec (path), ThreadInfo (name), Report (message): the text.
    std::string_view text() const;
    // FfiCall arguments.
    std::size_t ffiArgCount() const;
    FfiValue ffiArg(std::size_t i) const;
    // Stack frames, innermost first.
    std::size_t nativeFrameCount() const;
    std::uint64_t nativeFrame(std::size_t i) const;
    std::size_t pythonFrameCount() const;
    PyFrameRef pythonFrame(std::size_t i) const;

private:
    std::span<const std::byte> m_bytes;
    std::uint64_t m_offset = 0;
};

// Which side of the socket the bytes come from; the grammar differs:
//   ProbeToTracer: Hello, then BatchHeader + records, repeated. Records inside a batch may be any
//                  metadata or event type (not Hello/Welcome/Detach).
//   TracerToProbe: Welcome, then bare control records (only Detach is defined in v1).
enum class StreamDirection { ProbeToTracer, TracerToProbe };

struct BatchInfo {
    std::uint32_t tid = 0;
    std::uint32_t bytes = 0;
    std::uint32_t count = 0;
    std::uint64_t offset = 0; // stream offset of the BatchHeader
};

// Incremental decoder: feed() bytes as they arrive (any split), then call next() until it
// returns NeedMore. Views returned by record() stay valid until the next feed().
class StreamDecoder {
public:
    enum class Status {
        NeedMore,   // feed more bytes
        Handshake,  // record() is the validated Hello / Welcome (exact magic + version)
        BatchBegin, // batch() describes the batch whose records follow
        Record,     // record() is the next record (inside batch() for ProbeToTracer)
        BatchEnd,   // the last record of batch() was yielded and the count matched
        Error,      // error() says where and what; the decoder stays in this state
    };

    explicit StreamDecoder(StreamDirection direction) : m_direction(direction) {}

    // For readers that consumed the handshake themselves (or read a recording, which has no
    // Hello): the stream continues with batches (ProbeToTracer) or control records.
    void assumeHandshakeDone() { m_handshakeDone = true; }

    void feed(std::span<const std::byte> bytes);
    Status next();

    const RecordView& record() const { return m_record; }
    const BatchInfo& batch() const { return m_batch; }
    const DecodeError& error() const { return m_error; }
    bool failed() const { return m_failed; }
    bool handshakeDone() const { return m_handshakeDone; }
    std::uint64_t consumed() const { return m_consumedBase + m_pos; } // bytes fully decoded
    std::uint64_t skippedUnknown() const { return m_skippedUnknown; }

    // The peer closed the stream: true when it ended on a boundary (after the handshake and
    // not inside a batch or a record); false with error() otherwise.
    bool finish();

private:
    Status fail(std::uint64_t offset, std::string what);
    // Tries to take one complete record at m_pos; NeedMore, Record, or Error.
    Status takeRecord();

    StreamDirection m_direction;
    std::vector<std::byte> m_buffer;
    std::size_t m_pos = 0;
    std::uint64_t m_consumedBase = 0; // stream offset of m_buffer[0]
    bool m_handshakeDone = false;
    bool m_inBatch = false;
    std::uint32_t m_batchLeftBytes = 0;
    std::uint32_t m_batchSeen = 0;
    bool m_batchEndPending = false;
    bool m_failed = false;
    std::uint64_t m_skippedUnknown = 0;
    BatchInfo m_batch;
    RecordView m_record;
    DecodeError m_error;
};

const char* recordTypeName(RecordType type); // "FfiCall", or "unknown"

} // namespace layertrace::wire
