// RecordingWriter: encodes a session's callbacks as records (strings and stack frames interned),
// groups them into zstd-compressed, checksummed blocks and appends each block to the file as soon
// as it is full or 100 ms old, so a crash loses at most the block being filled.
#include <layertrace/recording.h>

#include "recording_format.h"

#include <fcntl.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <zstd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <regex>
#include <thread>
#include <unordered_map>

namespace layertrace::tracer {

using namespace recording;

std::vector<std::string> RecordingInfo::option(const std::string& key) const {
    std::vector<std::string> out;
    for (const auto& [k, v] : options) {
        if (k == key) {
            out.push_back(v);
        }
    }
    return out;
}

RecordingInfo recordingInfoFor(const RunOptions& options, const std::string& layertraceVersion) {
    RecordingInfo info;
    info.argv = options.argv;
    info.cwd = options.cwd;
    if (info.cwd.empty()) {
        char buf[PATH_MAX];
        if (::getcwd(buf, sizeof buf) != nullptr) {
            info.cwd = buf;
        }
    }
    info.startUnixNs = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count());
    info.layertraceVersion = layertraceVersion;
    utsname u{};
    if (::uname(&u) == 0) {
        info.hostname = u.nodename;
        info.system = std::string(u.sysname) + " " + u.release + " " + u.machine;
    }
    info.options.emplace_back("mode", options.mode == TraceMode::Full ? "full" : "anchored");
    info.options.emplace_back("stacks", options.stacks ? "1" : "0");
    info.options.emplace_back("lossless", options.lossless ? "1" : "0");
    info.options.emplace_back("c_calls", options.allCCalls ? "all" : "extensions");
    for (const auto& p : options.probeSpecs) {
        info.options.emplace_back("probe", p);
    }
    for (const auto& p : options.appPaths) {
        info.options.emplace_back("app", p);
    }
    for (const auto& p : options.wrapperGlobs) {
        info.options.emplace_back("wrapper", p);
    }
    return info;
}

namespace {

// A field added to these structs must be stored in recordings too (encode here, decode in
// recording_reader.cpp, document in docs/recording-format.md, test in tests/recording/), or a
// replay silently loses it. These sizes make such an addition fail to compile until then.
static_assert(sizeof(TraceEvent) == 720, "TraceEvent changed: record the new field (see comment above)");
static_assert(sizeof(StackFrame) == 136, "StackFrame changed: record the new field");
static_assert(sizeof(CodeRef) == 144, "CodeRef changed: record the new field");
static_assert(sizeof(ModuleInfo) == 200, "ModuleInfo changed: record the new field");
static_assert(sizeof(ElfFacts) == 80, "ElfFacts changed: record the new field");
static_assert(sizeof(SessionResult) == 96, "SessionResult changed: record the new field");

bool sameFrame(const StackFrame& a, const StackFrame& b) {
    return a.ip == b.ip && a.line == b.line && a.python == b.python && a.role == b.role && a.offset == b.offset &&
           a.function == b.function && a.module == b.module && a.file == b.file;
}

// "3.11" from ".../python3.11", ".../libpython3.11.so.1.0"; empty when the name does not say.
std::string versionFromPath(const std::string& path) {
    static const std::regex re(R"(python(\d+\.\d+))");
    std::smatch m;
    const std::string base = path.substr(path.rfind('/') + 1);
    return std::regex_search(base, m, re) ? m[1].str() : std::string();
}

} // namespace

struct RecordingWriter::Impl {
    std::string path;
    RecordingInfo info;
    RecordingWriterOptions options;
    int fd = -1;
    RecordingByteOutput output; // set: bytes go here instead of fd

    std::mutex mutex;
    std::condition_variable wake;
    std::thread flusher;
    bool stopping = false;

    std::string block;           // records not yet written
    std::uint32_t blockRecords = 0;
    std::uint32_t blockEvents = 0;
    std::chrono::steady_clock::time_point blockStart;
    std::string record;          // scratch: one record's payload
    std::string compressed;      // scratch: one block's zstd frame
    ZSTD_CCtx* zstd = nullptr;

    std::unordered_map<std::string, std::uint32_t> strings; // id 0 is the empty string, implicit
    std::uint32_t lastStringId = 0;                          // ids of String records, in sequence
    // The last string an event field was interned as: consecutive events name the same code, and
    // comparing with the previous value is much cheaper than hashing it. An id never changes once
    // given (the intern tables are cumulative over the file), so a remembered one stays right.
    struct LastString {
        std::string text;
        std::uint32_t id = 0;
    };
    struct LastCodeRef {
        LastString module, modulePath, symbol, reason;
    };
    struct LastEventStrings {
        LastString module, modulePath, symbol, pyFile, reason, pyName, sourceFile, retType;
        std::array<LastString, 8> argTypes; // by argument position
        LastCodeRef caller, target;
    } previousEvent;
    // FFI values ("2", "0x7f...") are mostly distinct (a loop counter): interning each one for
    // good would grow the table with the trace. They go through a small direct-mapped cache
    // instead; a value pushed out of it gets a new String record when it comes again.
    static constexpr std::size_t kValueSlots = 4096;
    std::vector<LastString> values = std::vector<LastString>(kValueSlots);
    // Scratch, reused for every event: its argument and return ids, its code refs' bytes.
    std::vector<std::pair<std::uint32_t, std::uint32_t>> argIds;
    std::string callerBytes, targetBytes;
    std::string stringPayload;
    static constexpr std::size_t kShortString = 64;
    std::string eventBytes; // one event record's payload; only grows
    std::unordered_map<std::string, std::uint32_t> frames;  // encoded frame -> id (from 1)
    std::vector<StackFrame> frameList{StackFrame{}};         // id -> frame
    std::unordered_map<std::uint64_t, std::uint32_t> framesByIp;
    std::uint64_t lastSeq = 0;
    std::uint64_t lastTs = 0;
    // Per thread, the previous event's stack and its frame ids: consecutive events share their
    // outer frames, and comparing a frame is much cheaper than hashing it (see stackIds).
    struct LastStack {
        std::vector<StackFrame> frames;
        std::vector<std::uint32_t> ids;
    };
    std::unordered_map<std::uint32_t, LastStack> lastStacks;
    std::vector<std::uint32_t> stackScratch;
    bool interpreterSeen = false;

    std::uint64_t bytes = 0;
    std::uint64_t blocks = 0;
    std::string error;
    bool closed = false;

    // ---- encoding (caller holds the mutex) ----
    std::uint32_t sid(const std::string& s) {
        if (s.empty()) {
            return 0;
        }
        const auto it = strings.find(s);
        if (it != strings.end()) {
            return it->second;
        }
        const std::uint32_t id = newString(s);
        strings.emplace(s, id);
        return id;
    }

    // A String record for `s` with the next id.
    std::uint32_t newString(std::string_view s) {
        const std::uint32_t id = ++lastStringId;
        if (s.size() <= kShortString) {
            // Most new strings are FFI values ("41", "0x7f..."), about one per event: encoded on the stack.
            char payload[2 * kMaxVarintSize + kShortString];
            RawByteWriter w(payload);
            w.varint(id);
            w.varint(s.size());
            w.bytes(s);
            append(RecordType::String, w.written());
            return id;
        }
        stringPayload.clear();
        ByteSink b(stringPayload);
        b.varint(id);
        b.str(s);
        append(RecordType::String, stringPayload);
        return id;
    }

    std::uint32_t sid(LastString& last, const std::string& s) {
        if (s.size() == last.text.size() && s == last.text) {
            return last.id;
        }
        last.id = sid(s);
        last.text = s;
        return last.id;
    }

    std::uint32_t valueId(const std::string& s) {
        if (s.empty()) {
            return 0;
        }
        LastString& slot = values[std::hash<std::string>{}(s) & (kValueSlots - 1)];
        if (slot.id != 0 && slot.text == s) {
            return slot.id;
        }
        slot.id = newString(s);
        slot.text = s;
        return slot.id;
    }

    void append(RecordType type, std::string_view payload) {
        if (block.empty()) {
            blockStart = std::chrono::steady_clock::now();
        }
        char header[1 + kMaxVarintSize];
        RawByteWriter h(header);
        h.varint(static_cast<std::uint8_t>(type));
        h.varint(payload.size());
        block.append(h.written());
        block.append(payload);
        ++blockRecords;
    }

    // Appends the record whose payload is in `record` (built after any String records it needs).
    void appendRecord(RecordType type) {
        append(type, record);
        record.clear(); // keeps its capacity for the next record
        maybeFlush();
    }

    void codeRef(std::string& out, const CodeRef& r, LastCodeRef& seen) {
        // Interning first: sid() may append String records, never into `out`.
        const std::uint32_t m = sid(seen.module, r.module), mp = sid(seen.modulePath, r.modulePath),
                            s = sid(seen.symbol, r.symbol), why = sid(seen.reason, r.reason);
        out.clear();
        ByteSink b(out);
        b.byte(static_cast<std::uint8_t>(r.role));
        b.varint(m);
        b.varint(mp);
        b.varint(s);
        b.varint(r.address);
        b.varint(why);
    }

    std::uint32_t frameId(const StackFrame& f) {
        // Native frames: by instruction pointer first, confirmed by comparing the frame (an address
        // reused by another object after dlclose gets its own id through the full key below).
        if (f.ip != 0) {
            const auto hit = framesByIp.find(f.ip);
            if (hit != framesByIp.end() && sameFrame(frameList[hit->second], f)) {
                return hit->second;
            }
        }
        const std::uint32_t fn = sid(f.function), mod = sid(f.module), file = sid(f.file);
        std::string key;
        ByteSink b(key);
        b.byte(static_cast<std::uint8_t>((f.python ? 1 : 0)));
        b.byte(static_cast<std::uint8_t>(f.role));
        b.varint(fn);
        b.varint(mod);
        b.varint(file);
        b.svarint(f.line);
        b.varint(f.ip);
        b.varint(f.offset);
        const auto it = frames.find(key);
        if (it != frames.end()) {
            if (f.ip != 0) {
                framesByIp[f.ip] = it->second;
            }
            return it->second;
        }
        const auto id = static_cast<std::uint32_t>(frames.size() + 1);
        frames.emplace(key, id);
        frameList.push_back(f);
        if (f.ip != 0) {
            framesByIp[f.ip] = id;
        }
        std::string payload;
        ByteSink p(payload);
        p.varint(id);
        payload += key;
        append(RecordType::Frame, payload);
        return id;
    }

    // Frame ids of `stack` (innermost first). The outermost frames equal to the thread's previous
    // stack reuse its ids; only the rest are looked up (and interned if new).
    const std::vector<std::uint32_t>& stackIds(std::uint32_t tid, const std::vector<StackFrame>& stack) {
        stackScratch.assign(stack.size(), 0);
        if (stack.empty()) {
            return stackScratch;
        }
        LastStack& last = lastStacks[tid];
        std::size_t shared = 0;
        while (shared < stack.size() && shared < last.frames.size() &&
               sameFrame(stack[stack.size() - 1 - shared], last.frames[last.frames.size() - 1 - shared])) {
            stackScratch[stack.size() - 1 - shared] = last.ids[last.ids.size() - 1 - shared];
            ++shared;
        }
        for (std::size_t i = 0; i + shared < stack.size(); ++i) {
            stackScratch[i] = frameId(stack[i]);
        }
        last.frames = stack;
        last.ids = stackScratch;
        return stackScratch;
    }

    void encodeEvent(const TraceEvent& ev) {
        // Intern everything the event names before building its payload.
        const std::uint32_t module = sid(previousEvent.module, ev.module), modulePath = sid(previousEvent.modulePath, ev.modulePath),
                            symbol = sid(previousEvent.symbol, ev.symbol);
        const std::uint32_t pyFile = sid(previousEvent.pyFile, ev.pyFile), reason = sid(previousEvent.reason, ev.reason),
                            pyName = sid(previousEvent.pyName, ev.pyName);
        const std::uint32_t sourceFile = sid(previousEvent.sourceFile, ev.sourceFile);
        std::vector<std::pair<std::uint32_t, std::uint32_t>>& args = argIds;
        args.clear();
        for (std::size_t i = 0; i < ev.args.size(); ++i) {
            const FfiValue& a = ev.args[i];
            const std::uint32_t t = i < previousEvent.argTypes.size() ? sid(previousEvent.argTypes[i], a.type) : sid(a.type);
            args.emplace_back(t, valueId(a.value));
        }
        std::pair<std::uint32_t, std::uint32_t> ret{0, 0};
        if (ev.ret) {
            ret.first = sid(previousEvent.retType, ev.ret->type);
            ret.second = valueId(ev.ret->value);
        }
        const std::vector<std::uint32_t>& stack = stackIds(ev.tid, ev.stack);
        std::string& caller = callerBytes;
        std::string& target = targetBytes;
        caller.clear();
        target.clear();
        if (!ev.caller.empty() || !ev.caller.reason.empty()) {
            codeRef(caller, ev.caller, previousEvent.caller);
        }
        if (!ev.target.empty() || !ev.target.reason.empty()) {
            codeRef(target, ev.target, previousEvent.target);
        }

        std::uint32_t flags = 0;
        flags |= (!ev.pyFile.empty() || ev.pyLine != 0) ? kEvPy : 0;
        flags |= !ev.args.empty() ? kEvArgs : 0;
        flags |= ev.ret ? kEvRet : 0;
        flags |= !ev.stack.empty() ? kEvStack : 0;
        flags |= ev.durationNs != 0 ? kEvDuration : 0;
        flags |= ev.raised ? kEvRaised : 0;
        flags |= ev.unwound ? kEvUnwound : 0;
        flags |= ev.lost ? kEvLost : 0;
        flags |= ev.stackMerged ? kEvMerged : 0;
        flags |= ev.stackUnmerged ? kEvUnmerged : 0;
        flags |= ev.dropped != 0 ? kEvDropped : 0;
        flags |= !ev.reason.empty() ? kEvReason : 0;
        flags |= ev.address != 0 ? kEvAddress : 0;
        flags |= !ev.pyName.empty() ? kEvPyName : 0;
        flags |= !caller.empty() ? kEvCaller : 0;
        flags |= !target.empty() ? kEvTarget : 0;
        flags |= (!ev.sourceFile.empty() || ev.sourceLine != 0) ? kEvSource : 0;

        // Fixed fields and flags: at most 40 varints or bytes, besides the lists and the code refs.
        const std::size_t bound =
            (40 + 2 * args.size() + stack.size()) * kMaxVarintSize + caller.size() + target.size();
        if (eventBytes.size() < bound) {
            eventBytes.resize(bound);
        }
        RawByteWriter b(eventBytes.data());
        b.varint(flags);
        // Deltas keep the common case (next seq, a few microseconds later) to one or two bytes.
        b.svarint(static_cast<std::int64_t>(ev.seq - lastSeq));
        b.svarint(static_cast<std::int64_t>(ev.tsNs - lastTs));
        lastSeq = ev.seq;
        lastTs = ev.tsNs;
        b.varint(ev.tid);
        b.byte(static_cast<std::uint8_t>(ev.kind));
        b.byte(static_cast<std::uint8_t>(ev.role));
        b.varint(module);
        b.varint(modulePath);
        b.varint(symbol);
        b.varint(ev.depth);
        if (flags & kEvPy) {
            b.varint(pyFile);
            b.svarint(ev.pyLine);
        }
        if (flags & kEvArgs) {
            b.varint(args.size());
            for (const auto& [t, v] : args) {
                b.varint(t);
                b.varint(v);
            }
        }
        if (flags & kEvRet) {
            b.varint(ret.first);
            b.varint(ret.second);
        }
        if (flags & kEvStack) {
            b.varint(stack.size());
            for (const auto id : stack) {
                b.varint(id);
            }
        }
        if (flags & kEvDuration) {
            b.varint(ev.durationNs);
        }
        if (flags & kEvDropped) {
            b.varint(ev.dropped);
        }
        if (flags & kEvReason) {
            b.varint(reason);
        }
        if (flags & kEvAddress) {
            b.varint(ev.address);
        }
        if (flags & kEvPyName) {
            b.varint(pyName);
        }
        b.bytes(caller);
        b.bytes(target);
        if (flags & kEvSource) {
            b.varint(sourceFile);
            b.svarint(ev.sourceLine);
        }
        ++blockEvents;
        append(RecordType::Event, b.written());
        maybeFlush();
    }

    void encodeModule(const ModuleInfo& m) {
        const std::uint32_t pathId = sid(m.path), name = sid(m.name), reason = sid(m.reason);
        const std::uint32_t soname = sid(m.elf.soname), pyInit = sid(m.elf.pyInitName);
        const ElfFacts& e = m.elf;
        const std::uint32_t facts = (e.readable ? 1u : 0u) | (e.exportsPyInit ? 2u : 0u) | (e.importsPython ? 4u : 0u) |
                                    (e.isInterpreter ? 8u : 0u) | (e.isLibffi ? 16u : 0u) | (e.bundlesFfi ? 32u : 0u) |
                                    (e.pybind11 ? 64u : 0u) | (e.cffiGenerated ? 128u : 0u) |
                                    (e.hasSymtab ? 256u : 0u) | (e.hasDebugInfo ? 512u : 0u);
        record.clear();
        ByteSink b(record);
        b.varint(m.id);
        b.varint(m.base);
        b.varint(pathId);
        b.varint(name);
        b.byte(m.python ? 1 : 0);
        b.byte(static_cast<std::uint8_t>(m.role));
        b.varint(reason);
        b.varint(facts);
        b.varint(soname);
        b.varint(pyInit);
        appendRecord(RecordType::Module);
    }

    // The interpreter's path and version (exact when the probe's Hello gave it, else from its name).
    void encodeInterpreter(const std::string& objectPath) {
        record.clear();
        ByteSink b(record);
        b.str(objectPath);
        b.str(info.pythonVersion.empty() ? versionFromPath(objectPath) : info.pythonVersion);
        appendRecord(RecordType::Interpreter);
    }

    void encodeInfo() {
        record.clear();
        ByteSink b(record);
        b.varint(info.argv.size());
        for (const auto& a : info.argv) {
            b.str(a);
        }
        b.str(info.cwd);
        b.str(info.interpreter);
        b.str(info.pythonVersion);
        b.varint(info.pid);
        b.varint(info.startUnixNs);
        b.str(info.layertraceVersion);
        b.str(info.hostname);
        b.str(info.system);
        b.varint(info.options.size());
        for (const auto& [k, v] : info.options) {
            b.str(k);
            b.str(v);
        }
        appendRecord(RecordType::SessionInfo);
    }

    void writeHeader() {
        unsigned char h[kFileHeaderSize] = {};
        std::memcpy(h, kFileMagic.data(), kFileMagic.size());
        putLe(h + 8, kFormatVersion, 2);
        putLe(h + 10, kMinReadableVersion, 2);
        putLe(h + 12, kFileHeaderSize, 4);
        h[16] = kLittleEndian;
        h[17] = static_cast<unsigned char>(sizeof(void*));
        std::uint32_t compat = 0;
        for (const auto& v : info.option("stacks")) {
            compat |= v == "1" ? kCompatStacks : 0;
        }
        for (const auto& v : info.option("mode")) {
            compat |= v == "full" ? kCompatFullMode : 0;
        }
        putLe(h + 20, compat, 4);
        putLe(h + 24, kIncompatZstd, 4);
        putLe(h + 32, info.startUnixNs, 8);
        putLe(h + kFileHeaderSize - 4, crc32(h, kFileHeaderSize - 4), 4);
        writeAll(h, sizeof h);
    }

    // ---- output ----
    void writeAll(const void* data, std::size_t size) {
        if (!error.empty()) {
            return;
        }
        if (output) {
            error = output(static_cast<const char*>(data), size);
            bytes += error.empty() ? size : 0;
            return;
        }
        if (fd < 0) {
            return;
        }
        const auto* p = static_cast<const char*>(data);
        while (size > 0) {
            const ssize_t n = ::write(fd, p, size);
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n <= 0) {
                error = "write failed at offset " + std::to_string(bytes) + ": " + std::strerror(errno);
                return;
            }
            p += n;
            size -= static_cast<std::size_t>(n);
            bytes += static_cast<std::uint64_t>(n);
        }
    }

    void maybeFlush() {
        if (blockEvents >= options.blockEvents || block.size() >= options.blockBytes) {
            flushBlock();
        }
    }

    void flushBlock() {
        if (block.empty()) {
            return;
        }
        compressed.resize(ZSTD_compressBound(block.size()));
        const std::size_t n =
            ZSTD_compressCCtx(zstd, compressed.data(), compressed.size(), block.data(), block.size(), options.zstdLevel);
        if (ZSTD_isError(n)) {
            if (error.empty()) {
                error = std::string("zstd compression failed: ") + ZSTD_getErrorName(n);
            }
            return;
        }
        unsigned char h[kBlockHeaderSize];
        std::memcpy(h, kBlockMagic.data(), kBlockMagic.size());
        putLe(h + 4, n, 4);
        putLe(h + 8, block.size(), 4);
        putLe(h + 12, blockRecords, 4);
        putLe(h + 16, crc32(compressed.data(), n), 4);
        putLe(h + 20, crc32(h, 20), 4);
        // One write per block where possible, so a crash tends to leave whole blocks.
        std::string out(reinterpret_cast<const char*>(h), sizeof h);
        out.append(compressed.data(), n);
        writeAll(out.data(), out.size());
        ++blocks;
        block.clear();
        blockRecords = 0;
        blockEvents = 0;
    }

    void flusherLoop() {
        std::unique_lock<std::mutex> lock(mutex);
        const auto interval = std::chrono::milliseconds(options.flushIntervalMs);
        while (!stopping) {
            if (block.empty()) {
                wake.wait_for(lock, interval);
                continue;
            }
            // Sleep exactly until the oldest pending record is `interval` old, then write it out.
            const auto due = blockStart + interval;
            if (std::chrono::steady_clock::now() >= due) {
                flushBlock();
            } else {
                wake.wait_until(lock, due);
            }
        }
    }

    // Writes the header and the session info block, then starts the flusher; the output (fd or
    // callback) is set. Throws IoError when even that cannot be written.
    void start(const std::string& name, RecordingInfo sessionInfo, RecordingWriterOptions writerOptions) {
        path = name;
        info = std::move(sessionInfo);
        options = writerOptions;
        if (options.blockEvents == 0) {
            options.blockEvents = 1;
        }
        zstd = ZSTD_createCCtx();
        if (interpreterSeen = !info.interpreter.empty(); interpreterSeen && info.pythonVersion.empty()) {
            info.pythonVersion = versionFromPath(info.interpreter);
        }
        {
            std::lock_guard<std::mutex> lock(mutex);
            writeHeader();
            encodeInfo();
            flushBlock(); // the session info is on disk before anything runs
        }
        if (!error.empty()) {
            const std::string why = error;
            if (fd >= 0) {
                ::close(fd);
            }
            fd = -1;
            ZSTD_freeCCtx(zstd);
            zstd = nullptr;
            closed = true;
            throw IoError(path, why);
        }
        flusher = std::thread([this] { flusherLoop(); });
    }

    void shutdown() {
        {
            std::lock_guard<std::mutex> lock(mutex);
            if (closed) {
                return;
            }
            closed = true;
            flushBlock();
            stopping = true;
        }
        wake.notify_all();
        if (flusher.joinable()) {
            flusher.join();
        }
        if (fd >= 0 && ::close(fd) != 0 && error.empty()) {
            error = std::string("close failed: ") + std::strerror(errno);
        }
        fd = -1;
        ZSTD_freeCCtx(zstd);
        zstd = nullptr;
    }
};

RecordingWriter::RecordingWriter(const std::string& path, RecordingInfo info, RecordingWriterOptions options)
    : m_impl(std::make_unique<Impl>()) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        throw IoError(path, std::string("cannot create the recording: ") + std::strerror(errno));
    }
    m_impl->fd = fd;
    m_impl->start(path, std::move(info), options);
}

RecordingWriter::RecordingWriter(const std::string& name, RecordingByteOutput output, RecordingInfo info,
                                 RecordingWriterOptions options)
    : m_impl(std::make_unique<Impl>()) {
    m_impl->output = std::move(output);
    m_impl->start(name, std::move(info), options);
}

RecordingWriter::~RecordingWriter() { m_impl->shutdown(); }

void RecordingWriter::onStarted(std::uint32_t pid) {
    std::lock_guard<std::mutex> lock(m_impl->mutex);
    m_impl->info.pid = pid;
    m_impl->record.clear();
    ByteSink(m_impl->record).varint(pid);
    m_impl->appendRecord(RecordType::Started);
}

void RecordingWriter::onConnected(std::uint32_t, const std::string& pythonVersion) {
    std::lock_guard<std::mutex> lock(m_impl->mutex);
    Impl& d = *m_impl;
    if (pythonVersion.empty()) {
        return;
    }
    d.info.pythonVersion = pythonVersion;
    if (d.interpreterSeen && !d.info.interpreter.empty()) {
        d.encodeInterpreter(d.info.interpreter); // the session info had only the version from its name
    }
}

void RecordingWriter::onModule(const ModuleInfo& module) {
    std::lock_guard<std::mutex> lock(m_impl->mutex);
    Impl& d = *m_impl;
    d.encodeModule(module);
    if (!d.interpreterSeen && !module.python && module.elf.isInterpreter) {
        // The interpreter object is known only once the probe maps it: record it for the header view.
        d.interpreterSeen = true;
        d.encodeInterpreter(module.path);
    }
}

void RecordingWriter::onEvent(const TraceEvent& event) {
    std::lock_guard<std::mutex> lock(m_impl->mutex);
    m_impl->encodeEvent(event);
}

void RecordingWriter::onReport(const ProbeReport& report) {
    std::lock_guard<std::mutex> lock(m_impl->mutex);
    m_impl->record.clear();
    ByteSink b(m_impl->record);
    b.byte(static_cast<std::uint8_t>(report.level));
    b.str(report.message);
    b.byte(static_cast<std::uint8_t>(report.origin));
    m_impl->appendRecord(RecordType::Report);
}

void RecordingWriter::onDropped(std::uint32_t tid, std::uint64_t count) {
    std::lock_guard<std::mutex> lock(m_impl->mutex);
    m_impl->record.clear();
    ByteSink b(m_impl->record);
    b.varint(tid);
    b.varint(count);
    m_impl->appendRecord(RecordType::Dropped);
}

void RecordingWriter::onFinished(const SessionResult& result) {
    {
        std::lock_guard<std::mutex> lock(m_impl->mutex);
        m_impl->record.clear();
        ByteSink b(m_impl->record);
        b.svarint(result.exitStatus);
        b.byte(static_cast<std::uint8_t>((result.connected ? kFinishedConnected : 0) |
                                         (result.handshakeFailed ? kFinishedHandshakeFailed : 0) |
                                         (result.goodbyeMissing ? kFinishedGoodbyeMissing : 0)));
        b.varint(result.events);
        b.varint(result.dropped);
        b.str(result.streamError);
        b.varint(static_cast<std::uint64_t>(result.termSignal < 0 ? 0 : result.termSignal));
        b.varint(result.discardedExits); // format 2
        b.varint(result.possiblyMissing);
        b.varint(result.lostExits); // format 3
        m_impl->appendRecord(RecordType::Finished);
    }
    m_impl->shutdown();
}

void RecordingWriter::flush() {
    std::lock_guard<std::mutex> lock(m_impl->mutex);
    m_impl->flushBlock();
}

void RecordingWriter::close() {
    m_impl->shutdown();
    if (!m_impl->error.empty()) {
        throw IoError(m_impl->path, m_impl->error);
    }
}

const std::string& RecordingWriter::path() const { return m_impl->path; }

std::uint64_t RecordingWriter::bytesWritten() const {
    std::lock_guard<std::mutex> lock(m_impl->mutex);
    return m_impl->bytes;
}

std::uint64_t RecordingWriter::blocksWritten() const {
    std::lock_guard<std::mutex> lock(m_impl->mutex);
    return m_impl->blocks;
}

std::string RecordingWriter::error() const {
    std::lock_guard<std::mutex> lock(m_impl->mutex);
    return m_impl->error;
}

} // namespace layertrace::tracer
