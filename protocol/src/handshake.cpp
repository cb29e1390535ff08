// Hello/Welcome construction and exact-version checks (see handshake.h).
#include <layertrace/wire/handshake.h>

#include <algorithm>
#include <cstring>

namespace layertrace::wire {

Hello makeHello(std::uint32_t pid, std::uint32_t pythonVersionHex, std::uint32_t flags, std::uint64_t monotonicNs) {
    Hello h{};
    h.header = RecordHeader{RecordType::Hello, sizeof(Hello), 0};
    h.magic = kMagic;
    h.version = kVersion;
    h.pointerSize = sizeof(void*);
    h.pid = pid;
    h.pythonVersionHex = pythonVersionHex;
    h.flags = flags;
    h.monotonicNs = monotonicNs;
    return h;
}

bool checkHello(const Hello& hello, std::string* why) {
    if (hello.header.type != RecordType::Hello || hello.header.size != sizeof(Hello)) {
        *why = "first record is not a Hello of " + std::to_string(sizeof(Hello)) + " bytes";
        return false;
    }
    if (hello.magic != kMagic) {
        *why = "Hello has bad magic: the peer is not a layertrace probe";
        return false;
    }
    if (hello.version != kVersion) {
        *why = "the probe speaks wire protocol v" + std::to_string(hello.version) + ", this tracer v" +
               std::to_string(kVersion) + ": use the probe built with this tracer";
        return false;
    }
    if (hello.pointerSize != 8) {
        *why = "the probe runs in a " + std::to_string(hello.pointerSize * 8) + "-bit process; only 64-bit is supported";
        return false;
    }
    if ((hello.flags & ~static_cast<std::uint32_t>(kHelloAttached)) != 0) {
        *why = "Hello carries undefined flags";
        return false;
    }
    return true;
}

bool appendWelcome(RecordWriter& w, const WelcomeOptions& options, std::string* why) {
    if (options.probeSpecs.size() > kMaxProbeSpecs) {
        *why = std::to_string(options.probeSpecs.size()) + " --probe specs given; at most " +
               std::to_string(kMaxProbeSpecs) + " are supported";
        return false;
    }
    // The specs are one tail: build it on the stack-free path (handshake is not hot).
    std::string tail;
    for (const auto& spec : options.probeSpecs) {
        if (spec.empty() || spec.find('\0') != std::string::npos) {
            *why = "--probe spec '" + spec + "' is empty or holds a NUL byte";
            return false;
        }
        tail += spec;
        tail += '\0';
    }
    Welcome r{};
    r.magic = kMagic;
    r.version = kVersion;
    r.mode = options.mode;
    r.flags = options.flags;
    r.probeSpecCount = static_cast<std::uint32_t>(options.probeSpecs.size());
    if (!w.append(RecordType::Welcome, r, {asBytes(std::string_view(tail))})) {
        *why = "the --probe specs (" + std::to_string(tail.size()) + " bytes) do not fit in one " +
               std::to_string(kMaxRecordSize) + "-byte Welcome record, or the buffer is too small";
        return false;
    }
    return true;
}

bool parseWelcome(std::span<const std::byte> record, WelcomeOptions* out, std::string* why) {
    if (record.size() < sizeof(Welcome)) {
        *why = "Welcome shorter than its fixed part";
        return false;
    }
    Welcome r;
    std::memcpy(&r, record.data(), sizeof r);
    if (r.header.type != RecordType::Welcome || r.header.size != record.size()) {
        *why = "not a Welcome record of the given size";
        return false;
    }
    if (r.magic != kMagic) {
        *why = "Welcome has bad magic: the peer is not a layertrace tracer";
        return false;
    }
    if (r.version != kVersion) {
        *why = "the tracer speaks wire protocol v" + std::to_string(r.version) + ", this probe v" +
               std::to_string(kVersion) + ": use the probe built with this tracer";
        return false;
    }
    if (r.mode != TraceMode::Anchored && r.mode != TraceMode::Full) {
        *why = "Welcome mode " + std::to_string(static_cast<unsigned>(r.mode)) + " is undefined";
        return false;
    }
    if ((r.flags & ~static_cast<std::uint32_t>(kWelcomeStacks | kWelcomeLossless | kWelcomeAllCCalls)) != 0) {
        *why = "Welcome carries undefined flags";
        return false;
    }
    if (r.probeSpecCount > kMaxProbeSpecs) {
        *why = "Welcome announces " + std::to_string(r.probeSpecCount) + " probe specs (at most " +
               std::to_string(kMaxProbeSpecs) + ")";
        return false;
    }
    WelcomeOptions options;
    options.mode = r.mode;
    options.flags = r.flags;
    std::size_t at = sizeof(Welcome);
    const char* chars = reinterpret_cast<const char*>(record.data());
    for (std::uint32_t i = 0; i < r.probeSpecCount; ++i) {
        const char* begin = chars + at;
        const char* end = chars + record.size();
        const char* nul = std::find(begin, end, '\0');
        if (nul == end) {
            *why = "probe spec " + std::to_string(i) + " is not NUL-terminated inside the Welcome";
            return false;
        }
        if (nul == begin) {
            *why = "probe spec " + std::to_string(i) + " is empty";
            return false;
        }
        options.probeSpecs.emplace_back(begin, nul);
        at += static_cast<std::size_t>(nul - begin) + 1;
    }
    if (paddedSize(at) != record.size()) {
        *why = "Welcome size " + std::to_string(record.size()) + " does not match its probe specs (expected " +
               std::to_string(paddedSize(at)) + ")";
        return false;
    }
    *out = std::move(options);
    return true;
}

} // namespace layertrace::wire
