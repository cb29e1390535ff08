// Following exec of the launched process (docs/probe.md, "Exec"). The probe takes its variables
// out of the environment at start, so that children are not traced; when the launched process
// itself replaces its program (same PID: a pyenv shim exec'ing python, a shell script's `exec`,
// /usr/bin/env), the environment given to the new program gets them back, after the old image's
// stream was finished with an Exec record (runtime.cpp, beginExecHandoff). Every exec function
// of libc is interposed, since glibc's execv/execvp/execl* reach execve internally, not through
// the exported symbol. Any other process (a fork or vfork child) execs with the environment as
// it is: its program is not traced.
#include "runtime.h"

#include <alloca.h>
#include <dlfcn.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

extern char** environ;

namespace layertrace::probe::runtime {
namespace {

using ExecveFn = int (*)(const char*, char* const[], char* const[]);
using FexecveFn = int (*)(int, char* const[], char* const[]);

// libc's functions, looked up from the constructor (resolveExecFunctions): a vfork child must not
// be the first to run dlsym, with its parent's memory shared.
ExecveFn g_realExecve = nullptr;
ExecveFn g_realExecvpe = nullptr;
FexecveFn g_realFexecve = nullptr;

// What the next image needs, saved before the environment was scrubbed.
std::string* g_probePath = nullptr;
std::string* g_socketPath = nullptr;
std::string* g_bufferSize = nullptr;

bool startsWith(const char* entry, std::string_view prefix) {
    return std::string_view(entry).substr(0, prefix.size()) == prefix;
}

std::string baseName(std::string_view path) {
    const auto slash = path.rfind('/');
    return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

// The entries of an LD_PRELOAD value (separated by ':' or ' ') other than the probe, joined by ' '.
std::string withoutProbe(std::string_view preload, const std::string& probePath) {
    std::string kept, entry;
    const std::string self = baseName(probePath);
    for (std::size_t i = 0; i <= preload.size(); ++i) {
        if (i == preload.size() || preload[i] == ':' || preload[i] == ' ') {
            if (!entry.empty() && baseName(entry) != self) {
                kept += (kept.empty() ? "" : " ") + entry;
            }
            entry.clear();
        } else {
            entry += preload[i];
        }
    }
    return kept;
}

// `envp` with the probe's variables put back: LD_PRELOAD names the probe first (then whatever
// else the program preloads), LAYERTRACE_SOCKET and LAYERTRACE_BUFFER_SIZE as layertrace set
// them. Everything else is the program's own choice, untouched.
class FollowingEnvironment {
public:
    explicit FollowingEnvironment(char* const* envp) {
        std::string otherPreloads;
        for (char* const* e = envp; e != nullptr && *e != nullptr; ++e) {
            if (startsWith(*e, "LAYERTRACE_SOCKET=") || startsWith(*e, "LAYERTRACE_BUFFER_SIZE=")) {
                continue;
            }
            if (startsWith(*e, "LD_PRELOAD=")) {
                otherPreloads = withoutProbe(*e + sizeof "LD_PRELOAD=" - 1, *g_probePath);
                continue;
            }
            m_entries.emplace_back(*e);
        }
        m_entries.push_back("LD_PRELOAD=" + *g_probePath + (otherPreloads.empty() ? "" : " " + otherPreloads));
        m_entries.push_back("LAYERTRACE_SOCKET=" + *g_socketPath);
        if (!g_bufferSize->empty()) {
            m_entries.push_back("LAYERTRACE_BUFFER_SIZE=" + *g_bufferSize);
        }
        for (auto& entry : m_entries) {
            m_pointers.push_back(entry.data());
        }
        m_pointers.push_back(nullptr);
    }

    char* const* get() const { return m_pointers.data(); }

private:
    std::vector<std::string> m_entries;
    std::vector<char*> m_pointers;
};

// Runs `exec(environment)`: with the probe's variables added when this is the launched process
// and its session hands over to the new image, else with `envp` as given.
template <class Exec>
int execFollowing(const char* what, char* const* envp, Exec&& exec) {
    if (g_probePath == nullptr || !beginExecHandoff(what)) {
        return exec(envp);
    }
    int rc = -1;
    int err = 0;
    {
        const FollowingEnvironment environment(envp);
        rc = exec(environment.get());
        err = errno;
    }
    execFailed(what, err); // still here: the exec failed, and this image goes on being traced
    errno = err;
    return rc;
}

} // namespace

void scrubProbeEnvironment() {
    // In place, as glibc's unsetenv does, but without calling it: a program may define its own
    // getenv/setenv/unsetenv (bash does, working on its variable table, which does not exist yet
    // while the probe's constructor runs), and bash builds its children's environment from the
    // initial array.
    Dl_info self{};
    const bool known = dladdr(reinterpret_cast<void*>(&scrubProbeEnvironment), &self) != 0 && self.dli_fname != nullptr;
    char** out = environ;
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
        if (startsWith(*e, "LAYERTRACE_SOCKET=") || startsWith(*e, "LAYERTRACE_BUFFER_SIZE=")) {
            continue;
        }
        if (startsWith(*e, "LD_PRELOAD=") && known) {
            const std::string kept = withoutProbe(*e + sizeof "LD_PRELOAD=" - 1, self.dli_fname);
            if (kept.empty()) {
                continue;
            }
            const std::string entry = "LD_PRELOAD=" + kept;
            *e = new char[entry.size() + 1]; // kept for the process's lifetime, as setenv's are
            std::memcpy(*e, entry.c_str(), entry.size() + 1);
        }
        *out++ = *e;
    }
    if (out != nullptr) {
        *out = nullptr;
    }
}

void rememberForExec(const std::string& probePath, const std::string& socketPath, const std::string& bufferSize) {
    g_realExecve = reinterpret_cast<ExecveFn>(dlsym(RTLD_NEXT, "execve"));
    g_realExecvpe = reinterpret_cast<ExecveFn>(dlsym(RTLD_NEXT, "execvpe"));
    g_realFexecve = reinterpret_cast<FexecveFn>(dlsym(RTLD_NEXT, "fexecve"));
    if (g_realExecve == nullptr || g_realExecvpe == nullptr || g_realFexecve == nullptr || probePath.empty()) {
        return; // exec works as without the probe; the new program is not traced
    }
    g_probePath = new std::string(probePath);
    g_socketPath = new std::string(socketPath);
    g_bufferSize = new std::string(bufferSize);
}

} // namespace layertrace::probe::runtime

// ---- exported: libc's exec family -------------------------------------------------------------
// Before the probe's constructor ran (rememberForExec), each calls libc's own, looked up now.

using namespace layertrace::probe::runtime;

extern "C" __attribute__((visibility("default"))) int execve(const char* path, char* const argv[],
                                                             char* const envp[]) {
    if (g_realExecve == nullptr) {
        return reinterpret_cast<ExecveFn>(dlsym(RTLD_NEXT, "execve"))(path, argv, envp);
    }
    return execFollowing(path, envp, [&](char* const* env) { return g_realExecve(path, argv, env); });
}

extern "C" __attribute__((visibility("default"))) int execvpe(const char* file, char* const argv[],
                                                              char* const envp[]) {
    if (g_realExecvpe == nullptr) {
        return reinterpret_cast<ExecveFn>(dlsym(RTLD_NEXT, "execvpe"))(file, argv, envp);
    }
    return execFollowing(file, envp, [&](char* const* env) { return g_realExecvpe(file, argv, env); });
}

extern "C" __attribute__((visibility("default"))) int fexecve(int fd, char* const argv[], char* const envp[]) {
    if (g_realFexecve == nullptr) {
        return reinterpret_cast<FexecveFn>(dlsym(RTLD_NEXT, "fexecve"))(fd, argv, envp);
    }
    char what[40];
    std::snprintf(what, sizeof what, "/proc/self/fd/%d", fd);
    return execFollowing(what, envp, [&](char* const* env) { return g_realFexecve(fd, argv, env); });
}

extern "C" __attribute__((visibility("default"))) int execv(const char* path, char* const argv[]) {
    return execve(path, argv, environ);
}

extern "C" __attribute__((visibility("default"))) int execvp(const char* file, char* const argv[]) {
    return execvpe(file, argv, environ);
}

// execl, execlp, execle: the argument list becomes an argv array on the stack (no malloc: a vfork
// child may call them), as glibc's own do.
#define LAYERTRACE_COLLECT_ARGS(arg0, argv)                                                        \
    std::size_t argc = 1;                                                                          \
    va_list count;                                                                                 \
    va_start(count, arg0);                                                                         \
    while (va_arg(count, char*) != nullptr) {                                                      \
        ++argc;                                                                                    \
    }                                                                                              \
    va_end(count);                                                                                 \
    char** argv = static_cast<char**>(alloca((argc + 1) * sizeof(char*)));                         \
    va_list args;                                                                                  \
    va_start(args, arg0);                                                                          \
    argv[0] = const_cast<char*>(arg0);                                                             \
    for (std::size_t i = 1; i <= argc; ++i) {                                                      \
        argv[i] = va_arg(args, char*);                                                             \
    }

extern "C" __attribute__((visibility("default"))) int execl(const char* path, const char* arg, ...) {
    LAYERTRACE_COLLECT_ARGS(arg, argv)
    va_end(args);
    return execve(path, argv, environ);
}

extern "C" __attribute__((visibility("default"))) int execlp(const char* file, const char* arg, ...) {
    LAYERTRACE_COLLECT_ARGS(arg, argv)
    va_end(args);
    return execvpe(file, argv, environ);
}

extern "C" __attribute__((visibility("default"))) int execle(const char* path, const char* arg, ...) {
    LAYERTRACE_COLLECT_ARGS(arg, argv)
    char* const* envp = va_arg(args, char* const*); // after the argument list's NULL
    va_end(args);
    return execve(path, argv, envp);
}

#undef LAYERTRACE_COLLECT_ARGS
