// Record validation and the incremental stream decoder (see decoder.h and docs/wire-format.md).
#include <layertrace/wire/decoder.h>
#include <layertrace/wire/handshake.h>

#include <algorithm>
#include <cstdio>

namespace layertrace::wire {
namespace {

template <class T>
T load(std::span<const std::byte> bytes, std::size_t at = 0) {
    T value{};
    std::memcpy(&value, bytes.data() + at, sizeof(T));
    return value;
}

std::string num(std::uint64_t v) { return std::to_string(v); }

// A NUL-terminated text tail: the NUL must exist and the record must end with the padding
// right after it (no hidden bytes after the text).
bool checkTextTail(std::span<const std::byte> rec, std::size_t fixed, std::string* why) {
    const auto tail = rec.subspan(fixed);
    const auto nul = std::find(tail.begin(), tail.end(), std::byte{0});
    if (nul == tail.end()) {
        *why = "text is not NUL-terminated inside the record";
        return false;
    }
    const std::size_t used = fixed + static_cast<std::size_t>(nul - tail.begin()) + 1;
    if (paddedSize(used) != rec.size()) {
        *why = "record size " + num(rec.size()) + " does not match its text (expected " + num(paddedSize(used)) + ")";
        return false;
    }
    return true;
}

bool checkExact(std::span<const std::byte> rec, std::size_t expected, std::string* why) {
    if (rec.size() != paddedSize(expected)) {
        *why = "record size " + num(rec.size()) + " does not match its contents (expected " +
               num(paddedSize(expected)) + ")";
        return false;
    }
    return true;
}

bool checkFfiValue(const FfiValue& v, std::string* why) {
    if (static_cast<unsigned>(v.type) > static_cast<unsigned>(FfiType::Complex)) {
        *why = "FFI value type " + num(static_cast<unsigned>(v.type)) + " is not a libffi type code";
        return false;
    }
    return true;
}

} // namespace

const char* recordTypeName(RecordType type) {
    switch (type) {
    case RecordType::Hello: return "Hello";
    case RecordType::Welcome: return "Welcome";
    case RecordType::Detach: return "Detach";
    case RecordType::Goodbye: return "Goodbye";
    case RecordType::Exec: return "Exec";
    case RecordType::ModuleMap: return "ModuleMap";
    case RecordType::ModuleUnmap: return "ModuleUnmap";
    case RecordType::ThreadInfo: return "ThreadInfo";
    case RecordType::String: return "String";
    case RecordType::PyCode: return "PyCode";
    case RecordType::HookInfo: return "HookInfo";
    case RecordType::Report: return "Report";
    case RecordType::Dropped: return "Dropped";
    case RecordType::PyCall: return "PyCall";
    case RecordType::PyReturn: return "PyReturn";
    case RecordType::CCall: return "CCall";
    case RecordType::CReturn: return "CReturn";
    case RecordType::CRaise: return "CRaise";
    case RecordType::InitEnter: return "InitEnter";
    case RecordType::InitExit: return "InitExit";
    case RecordType::FfiCall: return "FfiCall";
    case RecordType::FfiReturn: return "FfiReturn";
    case RecordType::ClosureEnter: return "ClosureEnter";
    case RecordType::ClosureExit: return "ClosureExit";
    case RecordType::NativeEnter: return "NativeEnter";
    case RecordType::NativeExit: return "NativeExit";
    case RecordType::Stack: return "Stack";
    }
    return "unknown";
}

bool validateRecord(std::span<const std::byte> rec, std::string* why) {
    std::string scratch;
    if (why == nullptr) {
        why = &scratch;
    }
    if (rec.size() < sizeof(RecordHeader)) {
        *why = "record shorter than its header";
        return false;
    }
    const auto h = load<RecordHeader>(rec);
    if (h.size != rec.size()) {
        *why = "record header size " + num(h.size) + " does not match the " + num(rec.size()) + " bytes given";
        return false;
    }
    if (h.size < sizeof(RecordHeader) || h.size % kRecordAlign != 0) {
        *why = "record size " + num(h.size) + " is not a multiple of 8 of at least 8";
        return false;
    }
    const std::size_t fixed = fixedSize(h.type);
    if (fixed == 0) {
        return true; // unknown type: skipped by size
    }
    const std::string name = recordTypeName(h.type);
    if (h.size < fixed) {
        *why = name + " record of " + num(h.size) + " bytes is shorter than its fixed part (" + num(fixed) + ")";
        return false;
    }
    std::string inner;
    bool ok = true;
    switch (h.type) {
    case RecordType::Welcome: {
        WelcomeOptions options;
        ok = parseWelcome(rec, &options, &inner);
        break;
    }
    case RecordType::ModuleMap:
    case RecordType::Exec:
    case RecordType::ThreadInfo: ok = checkTextTail(rec, fixed, &inner); break;
    case RecordType::Report: {
        const auto r = load<Report>(rec);
        if (static_cast<unsigned>(r.level) > static_cast<unsigned>(ReportLevel::Error)) {
            inner = "report level " + num(static_cast<unsigned>(r.level)) + " is undefined";
            ok = false;
        } else {
            ok = checkTextTail(rec, fixed, &inner);
        }
        break;
    }
    case RecordType::String: {
        const auto r = load<String>(rec);
        ok = checkExact(rec, fixed + static_cast<std::uint64_t>(r.length), &inner);
        if (!ok) {
            inner = "string length " + num(r.length) + " does not match record size " + num(h.size);
        }
        break;
    }
    case RecordType::HookInfo: {
        const auto r = load<HookInfo>(rec);
        if (static_cast<unsigned>(r.kind) > static_cast<unsigned>(HookKind::Init)) {
            inner = "hook kind " + num(static_cast<unsigned>(r.kind)) + " is undefined";
            ok = false;
        } else {
            ok = checkExact(rec, fixed, &inner);
        }
        break;
    }
    case RecordType::FfiCall: {
        const auto r = load<FfiCall>(rec);
        if (r.argCount > kMaxFfiArgs) {
            inner = "FFI argument count " + num(r.argCount) + " exceeds " + num(kMaxFfiArgs);
            ok = false;
            break;
        }
        ok = checkExact(rec, fixed + r.argCount * sizeof(FfiValue), &inner);
        for (std::size_t i = 0; ok && i < r.argCount; ++i) {
            ok = checkFfiValue(load<FfiValue>(rec, fixed + i * sizeof(FfiValue)), &inner);
        }
        break;
    }
    case RecordType::FfiReturn:
        ok = checkExact(rec, fixed, &inner) && checkFfiValue(load<FfiReturn>(rec).value, &inner);
        break;
    case RecordType::Stack: {
        const auto r = load<Stack>(rec);
        if (r.nativeCount > kMaxStackFrames || r.pythonCount > kMaxStackFrames) {
            inner = "stack of " + num(r.nativeCount) + " native and " + num(r.pythonCount) +
                    " Python frames exceeds " + num(kMaxStackFrames);
            ok = false;
            break;
        }
        ok = checkExact(rec, fixed + r.nativeCount * sizeof(std::uint64_t) + r.pythonCount * sizeof(PyFrameRef),
                        &inner);
        break;
    }
    case RecordType::Goodbye: {
        const auto r = load<Goodbye>(rec);
        ok = checkExact(rec, fixed, &inner);
        if (ok && (r.flags & ~static_cast<std::uint32_t>(kGoodbyeExitStatusKnown | kGoodbyeDetached |
                                                          kGoodbyeTransportLost | kGoodbyeFatalSignal)) != 0) {
            inner = "undefined flags " + num(r.flags);
            ok = false;
        }
        break;
    }
    case RecordType::PyReturn: {
        const auto r = load<PyReturn>(rec);
        ok = checkExact(rec, fixed, &inner);
        if (ok && r.raised > 1) {
            inner = "raised flag " + num(r.raised) + " is not 0 or 1";
            ok = false;
        }
        break;
    }
    case RecordType::NativeExit: {
        const auto r = load<NativeExit>(rec);
        ok = checkExact(rec, fixed, &inner);
        if (ok && r.unwound > 1) {
            inner = "unwound flag " + num(r.unwound) + " is not 0 or 1";
            ok = false;
        }
        break;
    }
    default: ok = checkExact(rec, fixed, &inner); break;
    }
    if (!ok) {
        *why = name + ": " + inner;
    }
    return ok;
}

RecordType RecordView::type() const {
    return m_bytes.size() >= sizeof(RecordHeader) ? load<RecordHeader>(m_bytes).type : RecordType{};
}

std::string_view RecordView::text() const {
    const auto t = type();
    const auto chars = [this](std::size_t at, std::size_t n) {
        return std::string_view(reinterpret_cast<const char*>(m_bytes.data()) + at, n);
    };
    if (t == RecordType::String && m_bytes.size() >= sizeof(String)) {
        const auto r = load<String>(m_bytes);
        return chars(sizeof(String), std::min<std::size_t>(r.length, m_bytes.size() - sizeof(String)));
    }
    std::size_t fixed = 0;
    if (t == RecordType::ModuleMap || t == RecordType::ThreadInfo || t == RecordType::Report || t == RecordType::Exec) {
        fixed = fixedSize(t);
    }
    if (fixed == 0 || m_bytes.size() < fixed) {
        return {};
    }
    const std::string_view all = chars(fixed, m_bytes.size() - fixed);
    return all.substr(0, all.find('\0'));
}

std::size_t RecordView::ffiArgCount() const {
    if (type() != RecordType::FfiCall || m_bytes.size() < sizeof(FfiCall)) {
        return 0;
    }
    return std::min<std::size_t>(load<FfiCall>(m_bytes).argCount, (m_bytes.size() - sizeof(FfiCall)) / sizeof(FfiValue));
}

FfiValue RecordView::ffiArg(std::size_t i) const {
    return i < ffiArgCount() ? load<FfiValue>(m_bytes, sizeof(FfiCall) + i * sizeof(FfiValue)) : FfiValue{};
}

std::size_t RecordView::nativeFrameCount() const {
    if (type() != RecordType::Stack || m_bytes.size() < sizeof(Stack)) {
        return 0;
    }
    return std::min<std::size_t>(load<Stack>(m_bytes).nativeCount, (m_bytes.size() - sizeof(Stack)) / 8);
}

std::uint64_t RecordView::nativeFrame(std::size_t i) const {
    return i < nativeFrameCount() ? load<std::uint64_t>(m_bytes, sizeof(Stack) + i * 8) : 0;
}

std::size_t RecordView::pythonFrameCount() const {
    if (type() != RecordType::Stack || m_bytes.size() < sizeof(Stack)) {
        return 0;
    }
    const std::size_t at = sizeof(Stack) + nativeFrameCount() * 8;
    return std::min<std::size_t>(load<Stack>(m_bytes).pythonCount, (m_bytes.size() - at) / sizeof(PyFrameRef));
}

PyFrameRef RecordView::pythonFrame(std::size_t i) const {
    if (i >= pythonFrameCount()) {
        return {};
    }
    return load<PyFrameRef>(m_bytes, sizeof(Stack) + nativeFrameCount() * 8 + i * sizeof(PyFrameRef));
}

// ---- StreamDecoder ------------------------------------------------------------------------

void StreamDecoder::feed(std::span<const std::byte> bytes) {
    if (m_failed) {
        return;
    }
    // Drop what was decoded; views into the old buffer are invalidated (documented).
    if (m_pos > 0) {
        m_buffer.erase(m_buffer.begin(), m_buffer.begin() + static_cast<std::ptrdiff_t>(m_pos));
        m_consumedBase += m_pos;
        m_pos = 0;
    }
    m_buffer.insert(m_buffer.end(), bytes.begin(), bytes.end());
}

StreamDecoder::Status StreamDecoder::fail(std::uint64_t offset, std::string what) {
    m_failed = true;
    m_error = DecodeError{offset, std::move(what)};
    return Status::Error;
}

StreamDecoder::Status StreamDecoder::takeRecord() {
    const std::size_t avail = m_buffer.size() - m_pos;
    const std::uint64_t offset = m_consumedBase + m_pos;
    if (avail < sizeof(RecordHeader)) {
        return Status::NeedMore;
    }
    const auto h = load<RecordHeader>(std::span<const std::byte>(m_buffer).subspan(m_pos));
    if (h.size < sizeof(RecordHeader) || h.size % kRecordAlign != 0) {
        return fail(offset, std::string(recordTypeName(h.type)) + " record (type " +
                                num(static_cast<unsigned>(h.type)) + ") has bad size " + num(h.size) +
                                " (must be a multiple of 8, at least 8)");
    }
    if (m_inBatch && h.size > m_batchLeftBytes) {
        return fail(offset, std::string(recordTypeName(h.type)) + " record of " + num(h.size) +
                                " bytes crosses the end of its batch (" + num(m_batchLeftBytes) + " bytes left)");
    }
    if (avail < h.size) {
        return Status::NeedMore;
    }
    const auto rec = std::span<const std::byte>(m_buffer).subspan(m_pos, h.size);
    std::string why;
    if (!validateRecord(rec, &why)) {
        return fail(offset, why);
    }
    m_record = RecordView(rec, offset);
    m_pos += h.size;
    return Status::Record;
}

StreamDecoder::Status StreamDecoder::next() {
    if (m_failed) {
        return Status::Error;
    }
    if (m_batchEndPending) {
        m_batchEndPending = false;
        return Status::BatchEnd;
    }
    const bool probeSide = m_direction == StreamDirection::ProbeToTracer;
    if (!m_handshakeDone) {
        const std::uint64_t offset = m_consumedBase + m_pos;
        if (m_buffer.size() - m_pos >= sizeof(RecordHeader)) {
            const auto h = load<RecordHeader>(std::span<const std::byte>(m_buffer).subspan(m_pos));
            const RecordType want = probeSide ? RecordType::Hello : RecordType::Welcome;
            if (h.type != want) {
                return fail(offset, std::string("stream must start with ") + recordTypeName(want) + ", got " +
                                        recordTypeName(h.type) + " (type " + num(static_cast<unsigned>(h.type)) +
                                        "): the peer does not speak the layertrace protocol");
            }
        }
        const Status s = takeRecord();
        if (s != Status::Record) {
            return s;
        }
        if (probeSide) {
            std::string why;
            if (!checkHello(m_record.as<Hello>(), &why)) {
                return fail(offset, why);
            }
        } // Welcome was fully checked by validateRecord (parseWelcome).
        m_handshakeDone = true;
        return Status::Handshake;
    }
    if (!probeSide) {
        const std::uint64_t offset = m_consumedBase + m_pos;
        const Status s = takeRecord();
        if (s == Status::Record && m_record.type() != RecordType::Detach) {
            return fail(offset, std::string("control record ") + recordTypeName(m_record.type()) + " (type " +
                                    num(static_cast<unsigned>(m_record.type())) +
                                    ") is not accepted from the tracer (only Detach)");
        }
        return s;
    }
    for (;;) {
        if (!m_inBatch) {
            const std::uint64_t offset = m_consumedBase + m_pos;
            if (m_buffer.size() - m_pos < sizeof(BatchHeader)) {
                return Status::NeedMore;
            }
            const auto b = load<BatchHeader>(std::span<const std::byte>(m_buffer).subspan(m_pos));
            if (b.magic != kMagic) {
                return fail(offset, "batch header has bad magic 0x" + [&] {
                    char hex[16];
                    std::snprintf(hex, sizeof hex, "%08x", b.magic);
                    return std::string(hex);
                }() + " (stream out of sync)");
            }
            if (b.bytes % kRecordAlign != 0 || b.bytes > kMaxBatchBytes) {
                return fail(offset, "batch of " + num(b.bytes) + " bytes: must be a multiple of 8 and at most " +
                                        num(kMaxBatchBytes));
            }
            if ((b.bytes == 0) != (b.count == 0) || b.count > b.bytes / sizeof(RecordHeader)) {
                return fail(offset, "batch count " + num(b.count) + " cannot fit in " + num(b.bytes) + " bytes");
            }
            m_pos += sizeof(BatchHeader);
            m_batch = BatchInfo{b.tid, b.bytes, b.count, offset};
            m_inBatch = b.bytes > 0;
            m_batchLeftBytes = b.bytes;
            m_batchSeen = 0;
            if (!m_inBatch) {
                m_batchEndPending = true;
            }
            return Status::BatchBegin;
        }
        const std::uint64_t offset = m_consumedBase + m_pos;
        const Status s = takeRecord();
        if (s != Status::Record) {
            return s;
        }
        m_batchLeftBytes -= static_cast<std::uint32_t>(m_record.size());
        ++m_batchSeen;
        if (m_batchSeen > m_batch.count || (m_batchLeftBytes == 0 && m_batchSeen != m_batch.count)) {
            return fail(offset, "batch at offset " + num(m_batch.offset) + " announced " + num(m_batch.count) +
                                    " records but holds " + (m_batchSeen > m_batch.count ? "more" : num(m_batchSeen)));
        }
        if (m_batchLeftBytes == 0) {
            m_inBatch = false;
            m_batchEndPending = true;
        }
        const RecordType t = m_record.type();
        if (t == RecordType::Hello || t == RecordType::Welcome || t == RecordType::Detach) {
            return fail(offset, std::string(recordTypeName(t)) + " is not allowed inside a batch");
        }
        if (fixedSize(t) == 0) {
            ++m_skippedUnknown;
            if (m_batchEndPending) {
                m_batchEndPending = false;
                return Status::BatchEnd;
            }
            continue;
        }
        return Status::Record;
    }
}

bool StreamDecoder::finish() {
    if (m_failed) {
        return false;
    }
    const std::uint64_t offset = m_consumedBase + m_pos;
    if (!m_handshakeDone) {
        fail(offset, "stream ended before the handshake completed");
        return false;
    }
    if (m_inBatch) {
        fail(offset, "stream ended inside the batch at offset " + num(m_batch.offset) + " (" +
                         num(m_batchLeftBytes) + " bytes missing)");
        return false;
    }
    if (m_pos != m_buffer.size()) {
        fail(offset, "stream ended inside a " + std::string(m_direction == StreamDirection::ProbeToTracer ?
                                                                "batch header" : "record") +
                         " (" + num(m_buffer.size() - m_pos) + " bytes left over)");
        return false;
    }
    return true;
}

} // namespace layertrace::wire
