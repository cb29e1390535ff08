// Finding and checking attach targets: which processes run a Python interpreter (the object that
// exports the C API: the executable or a libpython), its version read from its Py_Version,
// and why a target cannot be attached to (docs/cli/attach.md, "Errors").
#include <layertrace/attach.h>

#include "elf_symbols.h"
#include "process_files.h"

#include <layertrace/symbolizer.h>

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

namespace layertrace::tracer {

namespace attach {

std::string readSmallFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

ProcStatus readStatus(std::uint32_t pid) {
    ProcStatus st;
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line)) {
        st.exists = true;
        if (line.rfind("State:", 0) == 0) {
            const auto p = line.find_first_not_of(" \t", 6);
            st.state = p != std::string::npos ? line[p] : '?';
        } else if (line.rfind("TracerPid:", 0) == 0) {
            st.tracerPid = static_cast<std::uint32_t>(std::strtoul(line.c_str() + 10, nullptr, 10));
        } else if (line.rfind("Uid:", 0) == 0) {
            std::istringstream u(line.substr(4));
            u >> st.realUid >> st.effectiveUid;
        } else if (line.rfind("Name:", 0) == 0) {
            const auto p = line.find_first_not_of(" \t", 5);
            st.name = p != std::string::npos ? line.substr(p) : "";
        }
    }
    return st;
}

bool readMemory(std::uint32_t pid, std::uint64_t address, void* out, std::size_t size) {
    const int fd = ::open(("/proc/" + std::to_string(pid) + "/mem").c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return false;
    }
    const ssize_t n = ::pread(fd, out, size, static_cast<off_t>(address));
    ::close(fd);
    return n == static_cast<ssize_t>(size);
}

std::optional<std::uint64_t> symbolAddress(const std::vector<MappedFile>& maps, const std::string& path,
                                           const std::string& symbol) {
    const auto sym = findDynamicSymbol(path, symbol);
    if (!sym) {
        return std::nullopt;
    }
    for (const auto& m : maps) {
        if (m.path == path && m.offset == 0) {
            return m.start - sym->firstLoadVaddr + sym->value;
        }
    }
    return std::nullopt;
}

} // namespace attach

namespace {

using attach::readSmallFile;

std::string baseName(const std::string& path) { return path.substr(path.rfind('/') + 1); }

// "3.11" from python3.11, libpython3.11.so.1.0, python3.11d...; empty when the name has none.
std::string versionFromName(const std::string& name) {
    for (const char* prefix : {"libpython", "python"}) {
        const std::size_t at = name.find(prefix);
        if (at == std::string::npos) {
            continue;
        }
        std::size_t i = at + std::strlen(prefix);
        std::string v;
        while (i < name.size() && (std::isdigit(static_cast<unsigned char>(name[i])) || name[i] == '.')) {
            v += name[i++];
        }
        while (!v.empty() && v.back() == '.') {
            v.pop_back();
        }
        if (v.find('.') != std::string::npos) {
            return v.substr(0, v.find('.', v.find('.') + 1));
        }
    }
    return {};
}

// Whether `path` exports the C API; cached, since every process of one interpreter shares it.
bool exportsPythonApi(const std::string& path) {
    static std::map<std::string, bool> cache;
    const auto it = cache.find(path);
    if (it != cache.end()) {
        return it->second;
    }
    const bool yes = attach::findDynamicSymbol(path, "Py_GetVersion").has_value();
    cache[path] = yes;
    return yes;
}

std::string commandLine(std::uint32_t pid) {
    std::string raw = readSmallFile("/proc/" + std::to_string(pid) + "/cmdline");
    while (!raw.empty() && raw.back() == '\0') {
        raw.pop_back();
    }
    std::replace(raw.begin(), raw.end(), '\0', ' ');
    return raw;
}

// Fills `out` when the process runs Python; false otherwise. `readable` tells whether its maps
// could be read at all (they cannot for another user's process without privileges).
bool describe(std::uint32_t pid, PythonProcess* out, bool* readable) {
    const std::string proc = "/proc/" + std::to_string(pid);
    char exe[4096];
    const ssize_t n = ::readlink((proc + "/exe").c_str(), exe, sizeof exe - 1);
    *readable = n > 0;
    if (n <= 0) {
        return false;
    }
    out->pid = pid;
    out->executable.assign(exe, static_cast<std::size_t>(n));
    const std::vector<MappedFile> maps = readProcMaps(pid);
    *readable = !maps.empty();
    std::string api;
    for (const auto& m : maps) {
        const std::string name = baseName(m.path);
        if (name.find("liblayertrace_probe") != std::string::npos) {
            out->probeLoaded = true;
        }
        if (api.empty() && m.offset == 0 && (m.path == out->executable || name.rfind("libpython", 0) == 0) &&
            exportsPythonApi(m.path)) {
            api = m.path;
        }
    }
    if (api.empty()) {
        return false;
    }
    out->interpreterObject = api;
    out->commandLine = commandLine(pid);
    out->version = versionFromName(baseName(api));
    if (out->version.empty()) {
        out->version = versionFromName(baseName(out->executable));
    }
    // 3.11+: the exact version from the running interpreter's Py_Version (readable when we may
    // trace the process at all).
    std::uint64_t hex = 0;
    if (const auto addr = attach::symbolAddress(maps, api, "Py_Version");
        addr && attach::readMemory(pid, *addr, &hex, sizeof hex) && (hex >> 24) == 3) {
        out->versionHex = static_cast<std::uint32_t>(hex);
        out->version = std::to_string(hex >> 24) + "." + std::to_string((hex >> 16) & 0xff) + "." +
                       std::to_string((hex >> 8) & 0xff);
    } else if (!out->version.empty()) {
        const auto dot = out->version.find('.');
        out->versionHex = static_cast<std::uint32_t>((std::stoul(out->version.substr(0, dot)) << 24) |
                                                     (std::stoul(out->version.substr(dot + 1)) << 16));
    }
    return true;
}

bool hasCapSysPtrace() {
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("CapEff:", 0) == 0) {
            const unsigned long long caps = std::strtoull(line.c_str() + 7, nullptr, 16);
            return (caps >> 19) & 1; // CAP_SYS_PTRACE
        }
    }
    return false;
}

int ptraceScope() {
    const std::string s = readSmallFile("/proc/sys/kernel/yama/ptrace_scope");
    return s.empty() ? -1 : std::atoi(s.c_str());
}

} // namespace

std::string attach::permissionAdvice(std::uint32_t pid) {
    const ProcStatus st = readStatus(pid);
    const bool cap = hasCapSysPtrace();
    const std::string target = "PID " + std::to_string(pid);
    if (st.exists && st.realUid != ::getuid() && !cap) {
        return "permission denied: " + target + " belongs to uid " + std::to_string(st.realUid) + " and you are uid " +
               std::to_string(::getuid()) + " without CAP_SYS_PTRACE (run as that user, or as root)";
    }
    const int scope = ptraceScope();
    if (scope == 3) {
        return "permission denied: /proc/sys/kernel/yama/ptrace_scope is 3 (no process may attach until reboot)";
    }
    if (scope == 2 && !cap) {
        return "permission denied: /proc/sys/kernel/yama/ptrace_scope is 2 (only CAP_SYS_PTRACE may attach): run as "
               "root or grant CAP_SYS_PTRACE";
    }
    if (scope == 1 && !cap) {
        return "permission denied: /proc/sys/kernel/yama/ptrace_scope is 1 (only ancestors may attach): run as root, "
               "grant CAP_SYS_PTRACE, or set it to 0 (sysctl kernel.yama.ptrace_scope=0)";
    }
    return "permission denied: cannot trace " + target + (cap ? "" : " (CAP_SYS_PTRACE is missing)") +
           " (in a container, add --cap-add=SYS_PTRACE)";
}

std::vector<PythonProcess> listPythonProcesses() {
    std::vector<PythonProcess> out;
    DIR* dir = ::opendir("/proc");
    if (dir == nullptr) {
        return out;
    }
    const auto self = static_cast<std::uint32_t>(::getpid());
    while (dirent* e = ::readdir(dir)) {
        char* end = nullptr;
        const unsigned long pid = std::strtoul(e->d_name, &end, 10);
        if (end == e->d_name || *end != '\0' || pid == self) {
            continue;
        }
        PythonProcess p;
        bool readable = false;
        // Attachable: a Python whose memory we can read (the same permission ptrace needs).
        if (describe(static_cast<std::uint32_t>(pid), &p, &readable) && p.versionHex != 0 &&
            attach::readStatus(p.pid).state != 'Z') {
            // Opening /proc/PID/mem performs ptrace's own access check (PTRACE_MODE_ATTACH).
            std::uint64_t none = 0;
            if (attach::readMemory(p.pid, 0, &none, 0)) {
                out.push_back(std::move(p));
            }
        }
    }
    ::closedir(dir);
    std::sort(out.begin(), out.end(), [](const PythonProcess& a, const PythonProcess& b) { return a.pid < b.pid; });
    return out;
}

PythonProcess inspectAttachTarget(std::uint32_t pid) {
    const std::string target = "PID " + std::to_string(pid);
    if (pid == 0 || (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH)) {
        throw AttachError(AttachFailure::NoSuchProcess, "no such process: " + target);
    }
    const attach::ProcStatus st = attach::readStatus(pid);
    if (!st.exists || st.state == 'Z' || st.state == 'X') {
        throw AttachError(AttachFailure::NoSuchProcess,
                          "no such process: " + target + (st.exists ? " has exited (zombie)" : ""));
    }
    PythonProcess p;
    bool readable = false;
    const bool python = describe(pid, &p, &readable);
    if (!readable) {
        throw AttachError(AttachFailure::PermissionDenied, attach::permissionAdvice(pid));
    }
    if (!python) {
        throw AttachError(AttachFailure::NotPython, target + " (" + st.name + ", " + p.executable +
                                                        ") is not a Python process: neither it nor a libpython "
                                                        "it maps exports the Python C API");
    }
    const unsigned major = p.versionHex >> 24, minor = (p.versionHex >> 16) & 0xff;
    if (major != 3 || minor < 11) {
        throw AttachError(AttachFailure::UnsupportedInterpreter,
                          target + " runs Python " + (p.version.empty() ? std::string("of unknown version") : p.version) +
                              " (" + p.interpreterObject + "): attach supports CPython 3.11 and later");
    }
    if (st.effectiveUid != ::geteuid()) {
        throw AttachError(AttachFailure::PermissionDenied,
                          "permission denied: " + target + " runs as uid " + std::to_string(st.effectiveUid) +
                              " and layertrace as uid " + std::to_string(::geteuid()) +
                              ": the probe sends its events only to a tracer of its own user; run layertrace as uid " +
                              std::to_string(st.effectiveUid));
    }
    if (st.tracerPid != 0) {
        const attach::ProcStatus tracer = attach::readStatus(st.tracerPid);
        throw AttachError(AttachFailure::AlreadyTraced,
                          target + " is already traced by PID " + std::to_string(st.tracerPid) +
                              (tracer.name.empty() ? "" : " (" + tracer.name + ")") +
                              ": a process has one tracer at a time; detach that debugger first");
    }
    if (st.state == 'T' || st.state == 't') {
        throw AttachError(AttachFailure::TargetStopped,
                          target + " is stopped (state T, e.g. Ctrl-Z or SIGSTOP): resume it first (kill -CONT " +
                              std::to_string(pid) + " or fg), then attach");
    }
    return p;
}

} // namespace layertrace::tracer
