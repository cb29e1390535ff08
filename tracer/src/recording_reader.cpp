// RecordingReader: checks the file header, then walks blocks (header CRC, payload CRC, zstd
// frame) and records in order, rebuilding interned strings and stack frames, and delivers them to
// an EventSink (replay) or prints them (dump). Any damage becomes a RecordingError naming the
// file offset, raised only after everything before it was delivered.
#include <layertrace/recording.h>

#include "recording_format.h"
#include "recording_stream.h"

#include <unistd.h>

#include <zstd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <functional>
#include <ostream>

namespace layertrace::tracer {

using namespace recording;

namespace {

struct BlockHeader {
    std::uint64_t offset = 0; // of the block header in the file
    std::uint32_t payloadSize = 0;
    std::uint32_t rawSize = 0;
    std::uint32_t records = 0;
    std::uint32_t payloadCrc = 0;
};

std::string hex32(std::uint32_t v) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%08" PRIx32, v);
    return buf;
}

std::string hex64(std::uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "0x%" PRIx64, v);
    return buf;
}

// Where the reader's bytes come from: a file, or a socket (layertrace view, recording_stream.h).
class Input {
public:
    virtual ~Input() = default;
    // Reads up to `n` bytes; fewer only at the end of the input. Returns how many were read.
    virtual std::size_t read(void* out, std::size_t n) = 0;
    std::uint64_t pos() const { return m_pos; }

protected:
    std::uint64_t m_pos = 0;
};

class File : public Input {
public:
    explicit File(const std::string& path) : m_path(path) {
        m_file = std::fopen(path.c_str(), "rb");
        if (m_file == nullptr) {
            throw IoError(path, std::string("cannot open the recording: ") + std::strerror(errno));
        }
        std::fseek(m_file, 0, SEEK_END);
        const long size = std::ftell(m_file);
        m_size = size < 0 ? 0 : static_cast<std::uint64_t>(size);
        std::fseek(m_file, 0, SEEK_SET);
    }
    ~File() { std::fclose(m_file); }
    File(const File&) = delete;
    File& operator=(const File&) = delete;

    std::size_t read(void* out, std::size_t n) override {
        const std::size_t got = std::fread(out, 1, n, m_file);
        if (got < n && std::ferror(m_file)) {
            throw IoError(m_path, "read failed at offset " + std::to_string(m_pos + got) + ": " + std::strerror(errno));
        }
        m_pos += got;
        return got;
    }
    void seek(std::uint64_t pos) {
        std::fseek(m_file, static_cast<long>(pos), SEEK_SET);
        m_pos = pos;
    }
    std::uint64_t size() const { return m_size; }

private:
    std::string m_path;
    std::FILE* m_file = nullptr;
    std::uint64_t m_size = 0;
};

RecordingHeader readHeader(Input& f, const std::string& path) {
    unsigned char h[kFileHeaderSize] = {};
    const std::size_t got = f.read(h, sizeof h);
    if (got < kFileMagic.size() || std::memcmp(h, kFileMagic.data(), kFileMagic.size()) != 0) {
        if (got >= 4 && std::memcmp(h + 1, "LTR", 3) == 0) {
            throw RecordingError(path, 0, "damaged file magic (was the file transferred in text mode?)");
        }
        throw RecordingError(path, 0, "not a layertrace recording (no .ltr magic at the start)");
    }
    if (got < 16) {
        throw RecordingError(path, got, "truncated file header (" + std::to_string(got) + " bytes)");
    }
    RecordingHeader r;
    r.formatVersion = static_cast<std::uint16_t>(getLe(h + 8, 2));
    r.minReaderVersion = static_cast<std::uint16_t>(getLe(h + 10, 2));
    r.headerSize = static_cast<std::uint32_t>(getLe(h + 12, 4));
    if (r.minReaderVersion > kFormatVersion) {
        throw RecordingError(path, 10,
                             "written in format version " + std::to_string(r.formatVersion) +
                                 ", which needs a reader of version " + std::to_string(r.minReaderVersion) +
                                 " or newer; this layertrace reads versions " + std::to_string(kMinReadableVersion) +
                                 " to " + std::to_string(kFormatVersion) + " (upgrade layertrace)");
    }
    if (r.formatVersion < kMinReadableVersion) {
        throw RecordingError(path, 8, "format version " + std::to_string(r.formatVersion) +
                                          " is too old for this layertrace (reads " +
                                          std::to_string(kMinReadableVersion) + " and newer)");
    }
    if (r.headerSize < kFileHeaderSize || r.headerSize > (1u << 20)) {
        throw RecordingError(path, 12, "implausible header size " + std::to_string(r.headerSize));
    }
    if (got < kFileHeaderSize) {
        throw RecordingError(path, got, "truncated file header (" + std::to_string(got) + " of " +
                                            std::to_string(r.headerSize) + " bytes)");
    }
    // A newer minor revision may have a longer header; its CRC is always the last 4 bytes.
    std::string whole(reinterpret_cast<const char*>(h), kFileHeaderSize);
    if (r.headerSize > kFileHeaderSize) {
        std::string rest(r.headerSize - kFileHeaderSize, '\0');
        const std::size_t more = f.read(rest.data(), rest.size());
        if (more < rest.size()) {
            throw RecordingError(path, kFileHeaderSize + more, "truncated file header");
        }
        whole += rest;
    }
    const auto* w = reinterpret_cast<const unsigned char*>(whole.data());
    const auto stored = static_cast<std::uint32_t>(getLe(w + r.headerSize - 4, 4));
    const std::uint32_t computed = crc32(w, r.headerSize - 4);
    if (stored != computed) {
        throw RecordingError(path, r.headerSize - 4,
                             "file header checksum mismatch (stored " + hex32(stored) + ", computed " +
                                 hex32(computed) + "): the header is corrupted");
    }
    r.byteOrder = h[16];
    r.wordSize = h[17];
    r.compatFeatures = static_cast<std::uint32_t>(getLe(h + 20, 4));
    r.incompatFeatures = static_cast<std::uint32_t>(getLe(h + 24, 4));
    r.createdUnixNs = getLe(h + 32, 8);
    if (r.byteOrder != kLittleEndian) {
        throw RecordingError(path, 16, "byte order " + std::to_string(r.byteOrder) + " is not supported (1 = little endian)");
    }
    if ((r.incompatFeatures & ~kIncompatZstd) != 0) {
        throw RecordingError(path, 24, "uses features this layertrace does not know (" +
                                           hex32(r.incompatFeatures & ~kIncompatZstd) + "); upgrade layertrace");
    }
    if ((r.incompatFeatures & kIncompatZstd) == 0) {
        throw RecordingError(path, 24, "blocks are not marked zstd-compressed; format version 1 requires it");
    }
    return r;
}

// Everything needed to turn record payloads back into objects: the interned tables and the
// running deltas. One per pass over the file.
struct DecodeState {
    std::vector<std::string> strings{std::string()}; // id 0 = ""
    std::vector<StackFrame> frames{StackFrame{}};     // id 0 unused
    std::uint64_t lastSeq = 0;
    std::uint64_t lastTs = 0;

    const std::string& str(ByteSource& s, const char* what) {
        const std::uint64_t id = s.varint(what);
        if (id >= strings.size()) {
            throw ByteSource::Truncated{"string id not defined before use"};
        }
        return strings[id];
    }
};

struct BadRecord {
    std::string why;
};

template <typename E>
E checkedEnum(std::uint8_t v, std::uint8_t max, const char* what) {
    if (v > max) {
        throw BadRecord{std::string("invalid ") + what + " " + std::to_string(v)};
    }
    return static_cast<E>(v);
}

void decodeString(ByteSource& s, DecodeState& st) {
    const std::uint64_t id = s.varint("string id");
    std::string text = s.str("string bytes");
    if (id != st.strings.size()) {
        throw BadRecord{"string id " + std::to_string(id) + " out of sequence (expected " +
                        std::to_string(st.strings.size()) + ")"};
    }
    st.strings.push_back(std::move(text));
}

void decodeFrame(ByteSource& s, DecodeState& st) {
    const std::uint64_t id = s.varint("frame id");
    if (id != st.frames.size()) {
        throw BadRecord{"frame id " + std::to_string(id) + " out of sequence"};
    }
    StackFrame f;
    f.python = s.byte("frame kind") != 0;
    f.role = checkedEnum<Role>(s.byte("frame role"), static_cast<std::uint8_t>(Role::Unknown), "role");
    f.function = st.str(s, "frame function");
    f.module = st.str(s, "frame module");
    f.file = st.str(s, "frame file");
    f.line = static_cast<int>(s.svarint("frame line"));
    f.ip = s.varint("frame ip");
    f.offset = s.varint("frame offset");
    st.frames.push_back(std::move(f));
}

CodeRef decodeRef(ByteSource& s, DecodeState& st) {
    CodeRef r;
    r.role = checkedEnum<Role>(s.byte("ref role"), static_cast<std::uint8_t>(Role::Unknown), "role");
    r.module = st.str(s, "ref module");
    r.modulePath = st.str(s, "ref module path");
    r.symbol = st.str(s, "ref symbol");
    r.address = s.varint("ref address");
    r.reason = st.str(s, "ref reason");
    return r;
}

TraceEvent decodeEvent(ByteSource& s, DecodeState& st) {
    TraceEvent ev;
    const std::uint64_t flags = s.varint("event flags");
    ev.seq = st.lastSeq + static_cast<std::uint64_t>(s.svarint("event seq"));
    ev.tsNs = st.lastTs + static_cast<std::uint64_t>(s.svarint("event ts"));
    st.lastSeq = ev.seq;
    st.lastTs = ev.tsNs;
    ev.tid = static_cast<std::uint32_t>(s.varint("event tid"));
    ev.kind = checkedEnum<EventKind>(s.byte("event kind"), static_cast<std::uint8_t>(EventKind::Dropped), "event kind");
    ev.role = checkedEnum<Role>(s.byte("event role"), static_cast<std::uint8_t>(Role::Unknown), "role");
    ev.module = st.str(s, "event module");
    ev.modulePath = st.str(s, "event module path");
    ev.symbol = st.str(s, "event symbol");
    ev.depth = static_cast<std::uint32_t>(s.varint("event depth"));
    if (flags & kEvPy) {
        ev.pyFile = st.str(s, "event py_file");
        ev.pyLine = static_cast<int>(s.svarint("event py_line"));
    }
    if (flags & kEvArgs) {
        const std::uint64_t n = s.varint("arg count");
        if (n > kMaxListItems) {
            throw BadRecord{"implausible argument count " + std::to_string(n)};
        }
        for (std::uint64_t i = 0; i < n; ++i) {
            FfiValue v;
            v.type = st.str(s, "arg type");
            v.value = st.str(s, "arg value");
            ev.args.push_back(std::move(v));
        }
    }
    if (flags & kEvRet) {
        FfiValue v;
        v.type = st.str(s, "ret type");
        v.value = st.str(s, "ret value");
        ev.ret = std::move(v);
    }
    if (flags & kEvStack) {
        const std::uint64_t n = s.varint("stack depth");
        if (n > kMaxListItems) {
            throw BadRecord{"implausible stack depth " + std::to_string(n)};
        }
        ev.stack.reserve(static_cast<std::size_t>(n));
        for (std::uint64_t i = 0; i < n; ++i) {
            const std::uint64_t id = s.varint("stack frame id");
            if (id == 0 || id >= st.frames.size()) {
                throw BadRecord{"stack frame id " + std::to_string(id) + " not defined before use"};
            }
            ev.stack.push_back(st.frames[id]);
        }
    }
    if (flags & kEvDuration) {
        ev.durationNs = s.varint("duration");
    }
    if (flags & kEvDropped) {
        ev.dropped = s.varint("dropped");
    }
    if (flags & kEvReason) {
        ev.reason = st.str(s, "reason");
    }
    if (flags & kEvAddress) {
        ev.address = s.varint("address");
    }
    if (flags & kEvPyName) {
        ev.pyName = st.str(s, "py_name");
    }
    if (flags & kEvCaller) {
        ev.caller = decodeRef(s, st);
    }
    if (flags & kEvTarget) {
        ev.target = decodeRef(s, st);
    }
    if (flags & kEvSource) {
        ev.sourceFile = st.str(s, "source file");
        ev.sourceLine = static_cast<int>(s.svarint("source line"));
    }
    ev.raised = (flags & kEvRaised) != 0;
    ev.unwound = (flags & kEvUnwound) != 0;
    ev.lost = (flags & kEvLost) != 0;
    ev.stackMerged = (flags & kEvMerged) != 0;
    ev.stackUnmerged = (flags & kEvUnmerged) != 0;
    return ev;
}

ModuleInfo decodeModule(ByteSource& s, DecodeState& st) {
    ModuleInfo m;
    m.id = static_cast<std::uint32_t>(s.varint("module id"));
    m.base = s.varint("module base");
    m.path = st.str(s, "module path");
    m.name = st.str(s, "module name");
    m.python = s.byte("module python") != 0;
    m.role = checkedEnum<Role>(s.byte("module role"), static_cast<std::uint8_t>(Role::Unknown), "role");
    m.reason = st.str(s, "module reason");
    const std::uint64_t facts = s.varint("module ELF facts");
    ElfFacts& e = m.elf;
    e.readable = facts & 1;
    e.exportsPyInit = facts & 2;
    e.importsPython = facts & 4;
    e.isInterpreter = facts & 8;
    e.isLibffi = facts & 16;
    e.bundlesFfi = facts & 32;
    e.pybind11 = facts & 64;
    e.cffiGenerated = facts & 128;
    e.hasSymtab = facts & 256;
    e.hasDebugInfo = facts & 512;
    e.soname = st.str(s, "module soname");
    e.pyInitName = st.str(s, "module PyInit name");
    return m;
}

RecordingInfo decodeInfo(ByteSource& s) {
    RecordingInfo info;
    const std::uint64_t argc = s.varint("argc");
    if (argc > kMaxListItems) {
        throw BadRecord{"implausible argument count " + std::to_string(argc)};
    }
    for (std::uint64_t i = 0; i < argc; ++i) {
        info.argv.push_back(s.str("argv"));
    }
    info.cwd = s.str("cwd");
    info.interpreter = s.str("interpreter");
    info.pythonVersion = s.str("python version");
    info.pid = static_cast<std::uint32_t>(s.varint("pid"));
    info.startUnixNs = s.varint("start time");
    info.layertraceVersion = s.str("layertrace version");
    info.hostname = s.str("hostname");
    info.system = s.str("system");
    const std::uint64_t n = s.varint("option count");
    if (n > kMaxListItems) {
        throw BadRecord{"implausible option count " + std::to_string(n)};
    }
    for (std::uint64_t i = 0; i < n; ++i) {
        std::string k = s.str("option key");
        info.options.emplace_back(std::move(k), s.str("option value"));
    }
    return info;
}

SessionResult decodeFinished(ByteSource& s) {
    SessionResult r;
    r.exitStatus = static_cast<int>(s.svarint("exit status"));
    const std::uint8_t flags = s.byte("result flags");
    r.connected = (flags & kFinishedConnected) != 0;
    r.handshakeFailed = (flags & kFinishedHandshakeFailed) != 0;
    r.goodbyeMissing = (flags & kFinishedGoodbyeMissing) != 0;
    r.events = s.varint("event count");
    r.dropped = s.varint("dropped count");
    r.streamError = s.str("stream error");
    r.termSignal = static_cast<int>(s.varint("signal"));
    if (s.remaining() != 0) { // trailing fields of format 2; a format 1 record ends here
        r.discardedExits = s.varint("discarded exit count");
        r.possiblyMissing = s.varint("possibly missing count");
    }
    if (s.remaining() != 0) { // trailing field of format 3
        r.lostExits = s.varint("lost exit count");
    }
    return r;
}

// One record as the walker hands it out: where it is and its payload.
struct RawRecord {
    const BlockHeader* block;
    std::uint64_t blockIndex;
    std::uint32_t index;     // within the block
    std::size_t rawOffset;   // within the block's decompressed bytes
    std::uint64_t type;
    ByteSource payload;
};

// Walks blocks and records from the current file position. `onBlock` sees each verified block
// header, `onRecord` each record; exceptions they throw as BadRecord become RecordingErrors at the
// block's offset. Returns the offset just past the last complete block.
std::uint64_t walk(Input& f, const std::string& path, const std::function<void(const BlockHeader&, std::uint64_t)>& onBlock,
                   const std::function<void(RawRecord&)>& onRecord) {
    std::string compressed, raw;
    std::uint64_t index = 0;
    for (;; ++index) {
        BlockHeader b;
        b.offset = f.pos();
        unsigned char h[kBlockHeaderSize];
        const std::size_t got = f.read(h, sizeof h);
        if (got == 0) {
            return b.offset;
        }
        const std::string where = "block " + std::to_string(index) + " at offset " + std::to_string(b.offset);
        if (got < sizeof h) {
            throw RecordingError(path, b.offset,
                                 "truncated " + where + ": only " + std::to_string(got) + " of its " +
                                     std::to_string(kBlockHeaderSize) + " header bytes are present");
        }
        if (std::memcmp(h, kBlockMagic.data(), kBlockMagic.size()) != 0) {
            throw RecordingError(path, b.offset, "corrupted " + where + ": no block magic");
        }
        const auto storedHeaderCrc = static_cast<std::uint32_t>(getLe(h + 20, 4));
        if (crc32(h, 20) != storedHeaderCrc) {
            throw RecordingError(path, b.offset, "corrupted " + where + ": block header checksum mismatch");
        }
        b.payloadSize = static_cast<std::uint32_t>(getLe(h + 4, 4));
        b.rawSize = static_cast<std::uint32_t>(getLe(h + 8, 4));
        b.records = static_cast<std::uint32_t>(getLe(h + 12, 4));
        b.payloadCrc = static_cast<std::uint32_t>(getLe(h + 16, 4));
        if (b.rawSize > kMaxBlockRaw || b.payloadSize > ZSTD_compressBound(b.rawSize)) {
            throw RecordingError(path, b.offset, "corrupted " + where + ": implausible sizes");
        }
        compressed.resize(b.payloadSize);
        const std::size_t body = f.read(compressed.data(), compressed.size());
        if (body < b.payloadSize) {
            throw RecordingError(path, b.offset,
                                 "truncated " + where + ": its payload needs " + std::to_string(b.payloadSize) +
                                     " bytes, the file ends after " + std::to_string(body) +
                                     " (the writer stopped mid-block)");
        }
        const std::uint32_t crc = crc32(compressed.data(), compressed.size());
        if (crc != b.payloadCrc) {
            throw RecordingError(path, b.offset + kBlockHeaderSize,
                                 "corrupted " + where + ": payload checksum mismatch (stored " + hex32(b.payloadCrc) +
                                     ", computed " + hex32(crc) + ")");
        }
        raw.resize(b.rawSize);
        const std::size_t n = ZSTD_decompress(raw.data(), raw.size(), compressed.data(), compressed.size());
        if (ZSTD_isError(n) || n != b.rawSize) {
            throw RecordingError(path, b.offset + kBlockHeaderSize,
                                 "corrupted " + where + ": zstd frame does not decode to " +
                                     std::to_string(b.rawSize) + " bytes" +
                                     (ZSTD_isError(n) ? std::string(" (") + ZSTD_getErrorName(n) + ")" : ""));
        }
        onBlock(b, index);
        ByteSource src(reinterpret_cast<const unsigned char*>(raw.data()), raw.size());
        std::uint32_t count = 0;
        while (src.remaining() > 0) {
            const std::size_t at = src.offset();
            try {
                const std::uint64_t type = src.varint("record type");
                const std::uint64_t size = src.varint("record size");
                if (size > src.remaining()) {
                    throw ByteSource::Truncated{"record longer than its block"};
                }
                RawRecord r{&b, index, count, at, type, ByteSource(src.here(), static_cast<std::size_t>(size))};
                src.skip(static_cast<std::size_t>(size));
                onRecord(r);
            } catch (const ByteSource::Truncated& t) {
                throw RecordingError(path, b.offset,
                                     "bad record " + std::to_string(count) + " (byte " + std::to_string(at) +
                                         " of the decompressed data) in " + where + ": " + t.what);
            } catch (const BadRecord& e) {
                throw RecordingError(path, b.offset,
                                     "bad record " + std::to_string(count) + " (byte " + std::to_string(at) +
                                         " of the decompressed data) in " + where + ": " + e.why);
            }
            ++count;
        }
        if (count != b.records) {
            throw RecordingError(path, b.offset,
                                 "corrupted " + where + ": holds " + std::to_string(count) + " records, its header says " +
                                     std::to_string(b.records));
        }
    }
}

std::string shortText(const std::string& s, std::size_t max = 80) {
    std::string out;
    for (char c : s.size() > max ? s.substr(0, max) : s) {
        out += (c == '\n' ? ' ' : c);
    }
    return s.size() > max ? out + "..." : out;
}

} // namespace

RecordingReader::RecordingReader(std::string path) : m_path(std::move(path)) {
    File f(m_path);
    m_header = readHeader(f, m_path);
}

RecordingReader::~RecordingReader() = default;

const RecordingInfo& RecordingReader::info() {
    if (m_info) {
        return *m_info;
    }
    File f(m_path);
    readHeader(f, m_path);
    auto info = std::make_unique<RecordingInfo>();
    bool found = false;
    struct Stop {};
    try {
        walk(
            f, m_path, [](const BlockHeader&, std::uint64_t) {},
            [&](RawRecord& r) {
                if (r.type == static_cast<std::uint64_t>(RecordType::SessionInfo)) {
                    *info = decodeInfo(r.payload);
                    found = true;
                } else if (r.type == static_cast<std::uint64_t>(RecordType::Interpreter)) {
                    info->interpreter = r.payload.str("interpreter");
                    info->pythonVersion = r.payload.str("python version");
                } else if (r.type == static_cast<std::uint64_t>(RecordType::Started)) {
                    info->pid = static_cast<std::uint32_t>(r.payload.varint("pid"));
                }
                // The interpreter is known once its module arrives (its record, with the probe's
                // exact version, comes before the first event); stop there.
                const bool settled = r.type == static_cast<std::uint64_t>(RecordType::Interpreter) ||
                                     r.type == static_cast<std::uint64_t>(RecordType::Event);
                if (found && !info->interpreter.empty() && info->pid != 0 && settled) {
                    throw Stop{};
                }
            });
    } catch (const Stop&) {
    } catch (const RecordingError&) {
        if (!found) {
            throw;
        }
    }
    if (!found) {
        throw RecordingError(m_path, m_header.headerSize, "the recording has no session info record");
    }
    m_info = std::move(info);
    return *m_info;
}

namespace {

// replay() over any input: a file, or a stream that ends after its final record.
ReplayStats replayFrom(Input& f, const std::string& name, EventSink& sink, std::unique_ptr<RecordingInfo>& info) {
    readHeader(f, name);
    DecodeState st;
    ReplayStats stats;
    SessionResult result;
    std::uint64_t events = 0;
    std::uint64_t dropped = 0;
    try {
        const std::uint64_t end = walk(
            f, name, [&](const BlockHeader&, std::uint64_t) { ++stats.blocks; },
            [&](RawRecord& r) {
                ++stats.records;
                if (stats.finished) {
                    return; // nothing follows the final record in a file we wrote; ignore extras
                }
                switch (r.type) {
                case static_cast<std::uint64_t>(RecordType::String): decodeString(r.payload, st); break;
                case static_cast<std::uint64_t>(RecordType::Frame): decodeFrame(r.payload, st); break;
                case static_cast<std::uint64_t>(RecordType::SessionInfo):
                    if (!info) {
                        info = std::make_unique<RecordingInfo>(decodeInfo(r.payload));
                    }
                    break;
                case static_cast<std::uint64_t>(RecordType::Interpreter):
                    if (info) {
                        info->interpreter = r.payload.str("interpreter");
                        info->pythonVersion = r.payload.str("python version");
                    }
                    break;
                case static_cast<std::uint64_t>(RecordType::Started): {
                    const auto pid = static_cast<std::uint32_t>(r.payload.varint("pid"));
                    sink.onStarted(pid);
                    break;
                }
                case static_cast<std::uint64_t>(RecordType::Module):
                    ++stats.modules;
                    sink.onModule(decodeModule(r.payload, st));
                    break;
                case static_cast<std::uint64_t>(RecordType::Event): {
                    const TraceEvent ev = decodeEvent(r.payload, st);
                    ++stats.events;
                    ++events;
                    sink.onEvent(ev);
                    break;
                }
                case static_cast<std::uint64_t>(RecordType::Report): {
                    ProbeReport rep;
                    rep.level = checkedEnum<ProbeReport::Level>(r.payload.byte("report level"), 2, "report level");
                    rep.message = r.payload.str("report message");
                    if (r.payload.remaining() > 0) { // format 3 writers before the origin byte left it out
                        rep.origin = checkedEnum<ProbeReport::Origin>(r.payload.byte("report origin"), 1, "report origin");
                    }
                    ++stats.reports;
                    sink.onReport(rep);
                    break;
                }
                case static_cast<std::uint64_t>(RecordType::Dropped): {
                    const auto tid = static_cast<std::uint32_t>(r.payload.varint("dropped tid"));
                    const std::uint64_t count = r.payload.varint("dropped count");
                    dropped += count;
                    sink.onDropped(tid, count);
                    break;
                }
                case static_cast<std::uint64_t>(RecordType::Finished):
                    result = decodeFinished(r.payload);
                    stats.finished = true;
                    break;
                default:
                    // A later writer's informational record: its length lets us step over it.
                    break;
                }
            });
        if (!stats.finished) {
            throw RecordingError(name, end,
                                 "the recording ends without its final record after " + std::to_string(stats.blocks) +
                                     " complete blocks: the session was cut short (the tracer or the machine "
                                     "stopped); everything up to here was replayed");
        }
    } catch (const RecordingError& e) {
        SessionResult partial;
        partial.connected = true;
        partial.events = events;
        partial.dropped = dropped;
        partial.exitStatus = -1;
        partial.streamError = e.what();
        sink.onFinished(partial);
        throw;
    }
    sink.onFinished(result);
    return stats;
}

// A socket: reads block until the bytes arrive; the peer closing (or resetting) the connection
// is the end of the input.
class StreamInput : public Input {
public:
    StreamInput(int fd, std::string name) : m_fd(fd), m_name(std::move(name)) {}
    std::size_t read(void* out, std::size_t n) override {
        auto* p = static_cast<char*>(out);
        std::size_t got = 0;
        while (got < n) {
            const ssize_t r = ::read(m_fd, p + got, n - got);
            if (r < 0 && errno == EINTR) {
                continue;
            }
            if (r < 0 && errno != ECONNRESET) {
                throw IoError(m_name, "read failed at stream offset " + std::to_string(m_pos + got) + ": " +
                                          std::strerror(errno));
            }
            if (r <= 0) {
                break;
            }
            got += static_cast<std::size_t>(r);
        }
        m_pos += got;
        return got;
    }

private:
    int m_fd;
    std::string m_name;
};

} // namespace

ReplayStats RecordingReader::replay(EventSink& sink) {
    File f(m_path);
    return replayFrom(f, m_path, sink, m_info);
}

ReplayStats replayRecordingStream(int fd, const std::string& name, EventSink& sink) {
    StreamInput in(fd, name);
    std::unique_ptr<RecordingInfo> info;
    return replayFrom(in, name, sink, info);
}

void RecordingReader::dump(std::ostream& out) {
    File f(m_path);
    const RecordingHeader h = readHeader(f, m_path);
    out << "file " << m_path << " (" << f.size() << " bytes)\n";
    out << "header @0: format " << h.formatVersion << ", min reader " << h.minReaderVersion << ", header size "
        << h.headerSize << ", byte order " << (h.byteOrder == kLittleEndian ? "little" : "big") << ", word size "
        << int(h.wordSize) << ", compat " << hex32(h.compatFeatures) << ", incompat " << hex32(h.incompatFeatures)
        << ", created " << h.createdUnixNs << " ns since epoch\n";
    DecodeState st;
    walk(
        f, m_path,
        [&](const BlockHeader& b, std::uint64_t index) {
            out << "block " << index << " @" << b.offset << ": " << b.payloadSize << " bytes zstd -> " << b.rawSize
                << " bytes, " << b.records << " records, crc " << hex32(b.payloadCrc) << " ok\n";
        },
        [&](RawRecord& r) {
            out << "  +" << r.rawOffset << ' ' << recordTypeName(r.type) << " (" << r.payload.remaining() << " bytes)";
            switch (r.type) {
            case static_cast<std::uint64_t>(RecordType::String):
                decodeString(r.payload, st);
                out << " #" << (st.strings.size() - 1) << " \"" << shortText(st.strings.back()) << '"';
                break;
            case static_cast<std::uint64_t>(RecordType::Frame): {
                decodeFrame(r.payload, st);
                const StackFrame& fr = st.frames.back();
                out << " #" << (st.frames.size() - 1) << (fr.python ? " py " : " native ") << fr.module << ':'
                    << fr.function;
                if (!fr.file.empty()) {
                    out << " (" << fr.file << ':' << fr.line << ')';
                }
                if (!fr.python) {
                    out << " ip " << hex64(fr.ip);
                }
                break;
            }
            case static_cast<std::uint64_t>(RecordType::SessionInfo): {
                const RecordingInfo info = decodeInfo(r.payload);
                out << " argv [";
                for (std::size_t i = 0; i < info.argv.size(); ++i) {
                    out << (i ? " " : "") << info.argv[i];
                }
                out << "] cwd " << info.cwd << " layertrace " << info.layertraceVersion << " host " << info.hostname;
                break;
            }
            case static_cast<std::uint64_t>(RecordType::Interpreter): {
                const std::string p = r.payload.str("interpreter");
                out << ' ' << p << " python " << r.payload.str("python version");
                break;
            }
            case static_cast<std::uint64_t>(RecordType::Started): out << " pid " << r.payload.varint("pid"); break;
            case static_cast<std::uint64_t>(RecordType::Module): {
                const ModuleInfo m = decodeModule(r.payload, st);
                out << " id " << m.id << ' ' << roleName(m.role) << ' ' << m.name << " base " << hex64(m.base);
                break;
            }
            case static_cast<std::uint64_t>(RecordType::Event): {
                const TraceEvent ev = decodeEvent(r.payload, st);
                out << " seq " << ev.seq << " ts " << ev.tsNs << " tid " << ev.tid << ' ' << kindName(ev.kind) << ' '
                    << roleName(ev.role) << ' ' << ev.module << ':' << ev.symbol << " depth " << ev.depth;
                if (!ev.stack.empty()) {
                    out << " stack " << ev.stack.size();
                }
                break;
            }
            case static_cast<std::uint64_t>(RecordType::Report): {
                const int level = r.payload.byte("report level");
                out << " level " << level << " \"" << shortText(r.payload.str("report message")) << '"';
                break;
            }
            case static_cast<std::uint64_t>(RecordType::Dropped): {
                const std::uint64_t tid = r.payload.varint("dropped tid");
                out << " tid " << tid << " count " << r.payload.varint("dropped count");
                break;
            }
            case static_cast<std::uint64_t>(RecordType::Finished): {
                const SessionResult res = decodeFinished(r.payload);
                out << " exit " << res.exitStatus << " events " << res.events << " dropped " << res.dropped
                    << " discarded_exits " << res.discardedExits << " lost_exits " << res.lostExits
                    << (res.connected ? " connected" : " not-connected");
                if (res.goodbyeMissing) {
                    out << " no-goodbye possibly_missing " << res.possiblyMissing;
                }
                if (!res.streamError.empty()) {
                    out << " error \"" << shortText(res.streamError) << '"';
                }
                break;
            }
            default: out << " (type " << r.type << ", skipped)"; break;
            }
            out << '\n';
        });
    out << "end @" << f.pos() << '\n';
}

} // namespace layertrace::tracer
