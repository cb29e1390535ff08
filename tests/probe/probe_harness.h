// Test-side tracer for the probe's in-process tests: listens on a private Unix socket, runs a
// real Python with the real probe preloaded, handshakes, and collects the raw records decoded
// with the protocol library's StreamDecoder.
#pragma once

#include <layertrace/wire/decoder.h>
#include <layertrace/wire/handshake.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace layertrace::probe::test {

struct Record {
    std::uint32_t tid = 0;
    std::vector<std::byte> bytes;
    wire::RecordType type() const;
    wire::RecordView view() const { return wire::RecordView(bytes, 0); }
    template <class T>
    T as() const { return view().as<T>(); }
};

struct RunOptions {
    std::string python = "/usr/bin/python3";
    std::string script;                        // written to a file and run as `python FILE`
    wire::WelcomeOptions welcome;              // what the test tracer answers
    std::vector<std::pair<std::string, std::string>> env; // extra environment
    bool connectProbe = true;                  // false: no LAYERTRACE_SOCKET (inert probe)
    long closeAfterBytes = -1;                 // >= 0: the tracer vanishes after that many bytes
    long detachAfterBytes = -1;                // >= 0: the tracer sends Detach after that many bytes
    long stallAfterBytes = -1;                 // >= 0: the tracer stops reading (but stays connected)
    int readPauseMs = 0;                       // > 0: a slow tracer, pausing before each read of 64 KiB
    int timeoutSeconds = 120;
};

struct RunResult {
    bool connected = false;
    wire::Hello hello{};
    std::vector<Record> records; // everything after the Hello, in stream order
    bool streamClean = false;    // ended on a boundary after a Goodbye
    std::string streamError;
    int exitCode = -1;           // WEXITSTATUS, or 128+signal
    bool timedOut = false;
    std::string out, err;
    long childPid = 0;
    double childSeconds = 0; // from start to the program's exit
    std::string maps; // the child's /proc/self/maps if the script printed it after "--maps--"

    std::vector<const Record*> ofType(wire::RecordType type) const;
    std::map<std::uint32_t, std::string> strings() const;
    // code id -> qualname
    std::map<std::uint32_t, std::string> codeNames() const;
    // path of the mapping containing `address` in `maps`, or "".
    std::string mappingOf(std::uint64_t address) const;
};

// The probe under test (set by CMake).
std::string probePath();

RunResult runTraced(const RunOptions& options);

// A private directory (0700) removed on destruction.
class TempDir {
public:
    TempDir();
    ~TempDir();
    const std::string& path() const { return m_path; }

private:
    std::string m_path;
};

} // namespace layertrace::probe::test
