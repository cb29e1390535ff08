// Building and checking the session handshake: the probe's Hello and the tracer's Welcome.
#pragma once

#include <layertrace/wire/encoder.h>
#include <layertrace/wire/records.h>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace layertrace::wire {

Hello makeHello(std::uint32_t pid, std::uint32_t pythonVersionHex, std::uint32_t flags, std::uint64_t monotonicNs);

// Exact match required: magic, version and a 64-bit peer. On failure *why says what differs
// and what to do.
bool checkHello(const Hello& hello, std::string* why);

struct WelcomeOptions {
    TraceMode mode = TraceMode::Anchored;
    std::uint32_t flags = kWelcomeStacks; // WelcomeFlags
    std::vector<std::string> probeSpecs;  // "LIB:GLOB", each non-empty and NUL-free
};

// Appends a Welcome record with its probe specs. False when the specs do not fit in one record
// (kMaxRecordSize), when there are more than kMaxProbeSpecs, or a spec is empty or holds a NUL.
bool appendWelcome(RecordWriter& w, const WelcomeOptions& options, std::string* why);

// Parses a complete Welcome record (as yielded by the decoder, or read by the probe):
// bounds-checked; checks magic, version, mode, flags and every spec.
bool parseWelcome(std::span<const std::byte> record, WelcomeOptions* out, std::string* why);

} // namespace layertrace::wire
