// The tracer's error hierarchy: one root type, typed subclasses carrying context (which PID, file,
// offset); the CLI and GUI turn any of them into one line of help and a documented exit code
// (docs/cli/exit-codes.md).
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace layertrace::tracer {

// Exit codes of the `layertrace` CLI. A traced program's own status passes through unchanged,
// so these only appear when the tracer itself failed before or instead of running it.
enum class ExitCode : int {
    Ok = 0,
    Usage = 2,           // bad command line
    ProgramNotFound = 3, // PROGRAM missing or not executable
    ProbeMissing = 4,    // liblayertrace_probe.so not found / not loadable
    Handshake = 5,       // the probe connected but the handshake failed (version, peer uid)
    Transport = 6,       // socket or private directory could not be set up, stream broke
    BadInput = 7,        // a file we read is malformed (catalog JSON, ELF, record stream)
    Io = 8,              // cannot write the output file or read an input file
    Refused = 9,         // view: the server refused the viewer (missing or wrong token, too many viewers)
    Internal = 70,       // a bug in layertrace (EX_SOFTWARE)
};

// Root of every error the tracer raises on purpose. what() is one self-contained line.
class Error : public std::runtime_error {
public:
    Error(ExitCode code, const std::string& message) : std::runtime_error(message), m_code(code) {}
    ExitCode code() const { return m_code; }
    int exitCode() const { return static_cast<int>(m_code); }

private:
    ExitCode m_code;
};

class UsageError : public Error {
public:
    explicit UsageError(const std::string& message) : Error(ExitCode::Usage, message) {}
};

class ProgramNotFoundError : public Error {
public:
    ProgramNotFoundError(std::string program, const std::string& why)
        : Error(ExitCode::ProgramNotFound, "cannot run '" + program + "': " + why), m_program(std::move(program)) {}
    const std::string& program() const { return m_program; }

private:
    std::string m_program;
};

class ProbeMissingError : public Error {
public:
    ProbeMissingError(std::string path, const std::string& why)
        : Error(ExitCode::ProbeMissing, "probe library '" + path + "' " + why +
                                            " (build target layertrace_probe, or set LAYERTRACE_PROBE)"),
          m_path(std::move(path)) {}
    const std::string& path() const { return m_path; }

private:
    std::string m_path;
};

class HandshakeError : public Error {
public:
    HandshakeError(std::uint32_t pid, const std::string& why)
        : Error(ExitCode::Handshake, "handshake with the probe in PID " + std::to_string(pid) + " failed: " + why),
          m_pid(pid) {}
    std::uint32_t pid() const { return m_pid; }

private:
    std::uint32_t m_pid;
};

class TransportError : public Error {
public:
    explicit TransportError(const std::string& message) : Error(ExitCode::Transport, message) {}
};

// Malformed input: `source` names the file or stream, `offset` the byte where it went wrong.
class FormatError : public Error {
public:
    FormatError(std::string source, std::uint64_t offset, const std::string& why)
        : Error(ExitCode::BadInput, source + ": offset " + std::to_string(offset) + ": " + why),
          m_source(std::move(source)), m_offset(offset), m_why(why) {}
    const std::string& source() const { return m_source; }
    std::uint64_t offset() const { return m_offset; }
    const std::string& why() const { return m_why; }

private:
    std::string m_source;
    std::uint64_t m_offset;
    std::string m_why;
};

class IoError : public Error {
public:
    IoError(std::string path, const std::string& why)
        : Error(ExitCode::Io, path + ": " + why), m_path(std::move(path)) {}
    const std::string& path() const { return m_path; }

private:
    std::string m_path;
};

} // namespace layertrace::tracer
