// Private to the session: how a finished session's result accounts for the events that never
// reached its sink (docs/reliability.md, "Drop accounting").
#pragma once

#include <layertrace/assembler.h>
#include <layertrace/session.h>

#include <cstddef>

namespace layertrace::tracer {

// Per-thread ring size of the probe of a session with `options`: LAYERTRACE_BUFFER_SIZE (from
// the options' environment, else ours, which the launched program inherits) rounded up as the
// probe rounds it, else the probe's 1 MiB default. An attached probe always uses the default.
std::size_t probeRingBytes(const RunOptions& options, bool attached);

// Fills the result's loss fields once the stream is over: drops, exits discarded for want of
// their enter, and, when the program ended without the probe's Goodbye, an upper bound of the
// events that were still in its rings. `programEnded`: launched and reaped, or attached and gone;
// `streamCutAtEnd`: the stream error (if any) is only its end falling inside a record, as when
// the process vanished while its sender was writing.
void accountLosses(SessionResult& result, const Assembler& assembler, std::size_t ringBytes, bool programEnded,
                   bool streamCutAtEnd);

} // namespace layertrace::tracer
