// How `layertrace serve` (cmd_serve.cpp) wraps run and attach: it starts the viewer server, the
// wrapped command runs exactly as on its own, and adds the server as one more sink of its session.
#pragma once

#include <layertrace/formatters.h>
#include <layertrace/session.h>

#include <memory>
#include <string>

namespace layertrace::tracer::cli {

// Lives for the whole command in main(). When argv[1] is "serve": parses serve's own options,
// listens, waits for --wait-viewers, and rewrites argc/argv to the wrapped command (run or
// attach). On destruction: lets viewers take the rest of the stream (--drain) and closes.
class ServeScope {
public:
    ServeScope(int& argc, char**& argv, const std::string& version);
    ~ServeScope();
    ServeScope(const ServeScope&) = delete;
    ServeScope& operator=(const ServeScope&) = delete;

    struct State;

private:
    std::unique_ptr<State> m_state;
};

// Called by run and attach once their options are known: under serve, adds the viewer server to
// `tee` and gives it the session info viewers receive first. Does nothing otherwise.
void addServeSink(TeeSink& tee, const RunOptions& options, const std::string& version);

} // namespace layertrace::tracer::cli
