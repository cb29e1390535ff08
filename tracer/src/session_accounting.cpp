// Loss accounting of a finished session (see session_accounting.h).
#include "session_accounting.h"

#include <layertrace/wire/records.h>

#include <cstdlib>
#include <string>

namespace layertrace::tracer {

namespace {

// The probe's own rounding (probes/src/runtime/runtime.cpp, readBufferSize): a power of two,
// at least 1 KiB, at most 1 GiB.
std::size_t roundedRingBytes(const std::string& text) {
    const unsigned long long want = std::strtoull(text.c_str(), nullptr, 10);
    std::size_t bytes = 1024;
    while (bytes < want && bytes < (std::size_t{1} << 30)) {
        bytes <<= 1;
    }
    return bytes;
}

using wire::kDefaultRingBytes;
// The smallest event record (PyCall, PyReturn, ClosureExit): a full ring holds at most this many.
constexpr std::size_t kSmallestEventRecord = sizeof(wire::PyCall);
static_assert(sizeof(wire::PyReturn) >= kSmallestEventRecord && sizeof(wire::ClosureExit) >= kSmallestEventRecord);

} // namespace

std::size_t probeRingBytes(const RunOptions& options, bool attached) {
    if (attached) {
        return kDefaultRingBytes;
    }
    for (auto it = options.env.rbegin(); it != options.env.rend(); ++it) {
        if (it->first == "LAYERTRACE_BUFFER_SIZE") {
            return roundedRingBytes(it->second);
        }
    }
    if (const char* ours = std::getenv("LAYERTRACE_BUFFER_SIZE")) {
        return roundedRingBytes(ours);
    }
    return kDefaultRingBytes;
}

void accountLosses(SessionResult& result, const Assembler& assembler, std::size_t ringBytes, bool programEnded,
                   bool streamCutAtEnd) {
    result.events = assembler.eventCount();
    result.dropped = assembler.droppedTotal() + assembler.skimmedTotal();
    result.discardedExits = assembler.orphanExits();
    result.lostExits = assembler.lostExits();
    // A stream that broke midway is reported as such (everything after the break is lost, not
    // only the rings); a failed handshake delivered nothing to lose.
    result.goodbyeMissing = programEnded && result.connected && !result.handshakeFailed &&
                            (result.streamError.empty() || streamCutAtEnd) && !assembler.sawGoodbye();
    if (result.goodbyeMissing) {
        // Every thread the stream carried had a ring; each held at most a ring's worth of events.
        result.possiblyMissing = assembler.threadsSeen() * (ringBytes / kSmallestEventRecord);
    }
}

} // namespace layertrace::tracer
