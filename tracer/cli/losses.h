// The summary lines that say which events a trace lacks and why (dropped, exits discarded for
// want of their enter, a stream that ended without the probe's Goodbye). Shared by `run`,
// `attach` and `replay`, so the three say it the same way; and the signal that killed the program.
#pragma once

#include <layertrace/session.h>

#include <ostream>
#include <string>

namespace layertrace::tracer::cli {

enum class LossContext { Run, Attach, Replay };

void printLosses(const SessionResult& result, LossContext context, std::ostream& err);

// "layertrace: spooled N of the stream to disk ..." when the spool file was used (run, attach).
void printSpooled(const SpoolStats& spool, std::ostream& err);

// "layertrace: WHO was killed by signal N (name)" when a signal other than the Ctrl-C/stop ones
// (SIGINT, SIGTERM) ended the program; nothing otherwise.
void printKilledBySignal(const SessionResult& result, const std::string& who, std::ostream& err);

} // namespace layertrace::tracer::cli
