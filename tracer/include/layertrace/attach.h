// Attaching to a running Python process: finding the Python processes this user may trace
// (`layertrace ps`, the GUI's attach dialog), checking a target, and bringing the probe into it
// with ptrace (docs/cli/attach.md). Session::attach (session.h) drives these.
#pragma once

#include <layertrace/errors.h>

#include <cstdint>
#include <string>
#include <vector>

namespace layertrace::tracer {

// Exit codes of `layertrace attach` failures (docs/cli/exit-codes.md), beyond errors.h's.
enum class AttachFailure : int {
    NoSuchProcess = 10,
    NotPython = 11,
    UnsupportedInterpreter = 12,
    PermissionDenied = 13,
    AlreadyTraced = 14, // another debugger (TracerPid), or the probe is active for another tracer
    TargetStopped = 15, // state T: stopped by a signal (Ctrl-Z) or held by a debugger
    InjectionFailed = 16, // no safe point, dlopen failed in the target, the probe did not start
};

class AttachError : public Error {
public:
    AttachError(AttachFailure failure, const std::string& message)
        : Error(static_cast<ExitCode>(static_cast<int>(failure)), message), m_failure(failure) {}
    AttachFailure failure() const { return m_failure; }

private:
    AttachFailure m_failure;
};

struct PythonProcess {
    std::uint32_t pid = 0;
    std::string version;     // "3.11.2" from the interpreter's Py_Version, else "3.11" from a file name
    std::uint32_t versionHex = 0; // PY_VERSION_HEX when read from memory, else major/minor only
    std::string executable;  // /proc/PID/exe
    std::string interpreterObject; // the object exporting the C API (the executable or libpython)
    std::string commandLine; // argv joined with spaces
    bool probeLoaded = false; // liblayertrace_probe.so is mapped (an earlier attach, or `run`)
};

// The Python processes this user may attach to (their memory is readable to us), by PID.
std::vector<PythonProcess> listPythonProcesses();

// Checks that `pid` can be attached to and describes it; throws AttachError (no such process,
// not Python, unsupported interpreter, permission denied with what is missing, already traced by
// a debugger, stopped).
PythonProcess inspectAttachTarget(std::uint32_t pid);

struct InjectionReport {
    double pausedMs = 0;               // every thread stopped: from the first stop to the release of all but one
    double injectedThreadPausedMs = 0; // the chosen thread: until dlopen and the attach entry returned
    std::size_t threadsStopped = 0;
    std::uint32_t injectedTid = 0;
    bool injectedInSyscall = false; // the chosen thread was blocked in a system call (restarted after)
    bool probeWasLoaded = false;    // dlopen was skipped: the probe is still mapped from an earlier attach
};

// Stops every thread of `pid` once, runs dlopen(probePath) and layertrace_probe_attach(socketPath)
// on one thread at a safe point with its registers saved and restored, and resumes everything.
// The probe then connects to socketPath from a thread of its own. Throws AttachError.
InjectionReport injectProbe(std::uint32_t pid, const std::string& probePath, const std::string& socketPath);

} // namespace layertrace::tracer
