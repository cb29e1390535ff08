// The summary lines that say which events a trace lacks and why (dropped, exits discarded for
// want of their enter, a stream that ended without the probe's Goodbye). Shared by `run`,
// `attach` and `replay`, so the three say it the same way.
#pragma once

#include <layertrace/session.h>

#include <ostream>

namespace layertrace::tracer::cli {

enum class LossContext { Run, Attach, Replay };

void printLosses(const SessionResult& result, LossContext context, std::ostream& err);

} // namespace layertrace::tracer::cli
