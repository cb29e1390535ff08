// See losses.h. docs/reliability.md explains each line; tests/faults checks them.
#include "losses.h"

#include <layertrace/chunk_queue.h>

#include <csignal>
#include <cstring>

namespace layertrace::tracer::cli {

void printLosses(const SessionResult& result, LossContext context, std::ostream& err) {
    const char* who = context == LossContext::Attach ? "target" : "program";
    const char* when = context == LossContext::Replay ? " during the recorded session" : "";
    if (result.dropped != 0) {
        err << "layertrace: the probe dropped " << result.dropped << " events" << when;
        if (context != LossContext::Replay) {
            err << " because the tracer could not keep up (--lossless makes the " << who << " wait instead)";
        }
        err << '\n';
    }
    if (result.discardedExits != 0) {
        err << "layertrace: " << result.discardedExits << " exits" << when
            << " were not shown because their enter was dropped or came before tracing began\n";
    }
    if (result.lostExits != 0) {
        err << "layertrace: " << result.lostExits << " calls" << when
            << " were closed without their own exit (dropped, skipped by longjmp, or still running at the end):"
               " their exits are marked lost\n";
    }
    if (result.goodbyeMissing) {
        err << "layertrace: the " << who << " exited without the probe's Goodbye (os._exit, a crash or SIGKILL): up to "
            << result.possiblyMissing << " events buffered in the probe may be missing at the end of the trace\n";
    }
}

void printSpooled(const SpoolStats& spool, std::ostream& err) {
    if (spool.spooledBytes != 0) {
        err << "layertrace: spooled " << byteSizeText(spool.spooledBytes)
            << " of the stream to disk while the tracer was behind (at most " << byteSizeText(spool.peakBytes)
            << " at once)\n";
    }
}

void printKilledBySignal(const SessionResult& result, const std::string& who, std::ostream& err) {
    if (result.termSignal != 0 && result.termSignal != SIGINT && result.termSignal != SIGTERM) {
        err << "layertrace: " << who << " was killed by signal " << result.termSignal << " ("
            << strsignal(result.termSignal) << ")\n";
    }
}

} // namespace layertrace::tracer::cli
