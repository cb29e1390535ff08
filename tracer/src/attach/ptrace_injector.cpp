// The ptrace injector: stops every thread of the target once, picks one at a safe point, detaches
// the others, and calls dlopen(probe) and layertrace_probe_attach(socket) on the chosen thread
// in a scratch stack area below its red zone, with every register (general and extended state)
// saved and restored exactly, so an interrupted system call restarts (docs/cli/attach.md).
#include <layertrace/attach.h>

#include "elf_symbols.h"
#include "process_files.h"

#include <dirent.h>
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>

namespace layertrace::tracer {

#if defined(__x86_64__)

namespace {

using Clock = std::chrono::steady_clock;

double msSince(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

std::string errnoText() { return std::strerror(errno); }

std::vector<pid_t> listTasks(pid_t pid) {
    std::vector<pid_t> out;
    DIR* dir = ::opendir(("/proc/" + std::to_string(pid) + "/task").c_str());
    if (dir == nullptr) {
        return out;
    }
    while (dirent* e = ::readdir(dir)) {
        char* end = nullptr;
        const long tid = std::strtol(e->d_name, &end, 10);
        if (end != e->d_name && *end == '\0') {
            out.push_back(static_cast<pid_t>(tid));
        }
    }
    ::closedir(dir);
    return out;
}

// System calls a thread blocks in while holding none of libc's or the loader's locks: running
// dlopen on it and then restarting the call is what a signal handler would do too.
bool blockingSyscall(long nr) {
    switch (nr) {
    case SYS_futex: case SYS_poll: case SYS_ppoll: case SYS_select: case SYS_pselect6:
    case SYS_epoll_wait: case SYS_epoll_pwait: case SYS_nanosleep: case SYS_clock_nanosleep:
    case SYS_read: case SYS_readv: case SYS_recvfrom: case SYS_recvmsg: case SYS_accept: case SYS_accept4:
    case SYS_wait4: case SYS_waitid: case SYS_pause: case SYS_rt_sigsuspend: case SYS_rt_sigtimedwait:
    case SYS_msgrcv: case SYS_semop: case SYS_semtimedop:
        return true;
    default: return false;
    }
}

// Objects whose code may run with libc's, the loader's or the unwinder's locks held: a thread
// stopped inside them is not at a safe point.
bool lockHoldingObject(const std::string& path) {
    const std::string name = path.substr(path.rfind('/') + 1);
    for (const char* prefix : {"libc.so", "libc-", "ld-linux", "ld64.so", "libpthread", "libdl.so", "libstdc++",
                               "libgcc_s", "libunwind", "liblayertrace_probe"}) {
        if (name.rfind(prefix, 0) == 0) {
            return true;
        }
    }
    return false;
}

struct ThreadState {
    bool stopped = false;
    bool gone = false;
    bool signalStop = false; // stopped for a signal (kept, delivered at detach) rather than our interrupt
    int pendingSignal = 0;
};

// Every thread of the target seized and stopped once; detaches whatever is left on destruction.
class StoppedProcess {
public:
    explicit StoppedProcess(pid_t pid) : m_pid(pid) {}
    ~StoppedProcess() {
        for (auto& [tid, t] : m_threads) {
            if (!t.gone) {
                ::ptrace(PTRACE_DETACH, tid, nullptr, reinterpret_cast<void*>(static_cast<long>(t.pendingSignal)));
            }
        }
    }
    StoppedProcess(const StoppedProcess&) = delete;
    StoppedProcess& operator=(const StoppedProcess&) = delete;

    // Seizes and interrupts every thread, rescanning /proc/PID/task until no new one appears
    // (a thread not yet stopped may have started another).
    void stopAll() {
        for (int round = 0; round < 1000; ++round) {
            bool added = false;
            for (pid_t tid : listTasks(m_pid)) {
                if (m_threads.count(tid) != 0) {
                    continue;
                }
                if (::ptrace(PTRACE_SEIZE, tid, nullptr, nullptr) != 0) {
                    if (errno == ESRCH) {
                        continue; // exited meanwhile
                    }
                    if (errno == EPERM) {
                        const attach::ProcStatus st = attach::readStatus(static_cast<std::uint32_t>(m_pid));
                        if (st.tracerPid != 0 && st.tracerPid != static_cast<std::uint32_t>(::getpid())) {
                            throw AttachError(AttachFailure::AlreadyTraced,
                                              "PID " + std::to_string(m_pid) + " is already traced by PID " +
                                                  std::to_string(st.tracerPid) + ": detach that debugger first");
                        }
                        throw AttachError(AttachFailure::PermissionDenied,
                                          attach::permissionAdvice(static_cast<std::uint32_t>(m_pid)));
                    }
                    throw AttachError(AttachFailure::InjectionFailed,
                                      "PTRACE_SEIZE of thread " + std::to_string(tid) + " of PID " +
                                          std::to_string(m_pid) + " failed: " + errnoText());
                }
                if (m_threads.empty()) {
                    m_pauseStart = Clock::now();
                }
                m_threads[tid] = ThreadState{};
                ::ptrace(PTRACE_INTERRUPT, tid, nullptr, nullptr);
                added = true;
            }
            for (auto& [tid, t] : m_threads) {
                if (!t.stopped && !t.gone) {
                    waitForStop(tid, t);
                }
            }
            if (!added) {
                return;
            }
        }
        throw AttachError(AttachFailure::InjectionFailed,
                          "PID " + std::to_string(m_pid) + " keeps starting threads: could not stop them all");
    }

    // Picks a thread at a safe point, the main thread first: blocked in a system call that holds
    // no lock, or running code outside libc, the loader and the C++ runtime. 0 when none is.
    pid_t chooseSafeThread(const std::vector<MappedFile>& maps, user_regs_struct* regs) {
        std::vector<pid_t> order;
        if (m_threads.count(m_pid) != 0) {
            order.push_back(m_pid);
        }
        for (const auto& [tid, t] : m_threads) {
            if (tid != m_pid) {
                order.push_back(tid);
            }
        }
        for (pid_t tid : order) {
            const ThreadState& t = m_threads[tid];
            if (t.gone || !t.stopped || t.signalStop) {
                continue;
            }
            user_regs_struct r{};
            if (::ptrace(PTRACE_GETREGS, tid, nullptr, &r) != 0) {
                continue;
            }
            const long nr = static_cast<long>(r.orig_rax);
            bool safe = false;
            if (nr >= 0) {
                safe = blockingSyscall(nr);
            } else {
                safe = true;
                for (const auto& m : maps) {
                    if (r.rip >= m.start && r.rip < m.end) {
                        safe = !lockHoldingObject(m.path);
                        break;
                    }
                }
            }
            if (safe) {
                *regs = r;
                return tid;
            }
        }
        return 0;
    }

    // Lets every thread but `keep` go again (with any signal that stopped it).
    void releaseAllBut(pid_t keep) {
        for (auto& [tid, t] : m_threads) {
            if (tid != keep && !t.gone) {
                ::ptrace(PTRACE_DETACH, tid, nullptr, reinterpret_cast<void*>(static_cast<long>(t.pendingSignal)));
                t.gone = true;
            }
        }
    }

    void releaseAll() { releaseAllBut(0); }

    ThreadState& thread(pid_t tid) { return m_threads[tid]; }
    std::size_t count() const { return m_threads.size(); }
    Clock::time_point pauseStart() const { return m_pauseStart; }

private:
    void waitForStop(pid_t tid, ThreadState& t) {
        for (;;) {
            int status = 0;
            const pid_t r = ::waitpid(tid, &status, __WALL);
            if (r < 0) {
                if (errno == EINTR) {
                    continue;
                }
                t.gone = true;
                return;
            }
            if (WIFEXITED(status) || WIFSIGNALED(status)) {
                t.gone = true;
                return;
            }
            if (WIFSTOPPED(status)) {
                t.stopped = true;
                if ((status >> 16) != PTRACE_EVENT_STOP) {
                    // A signal reached the thread before our interrupt: keep it for the detach.
                    t.signalStop = true;
                    t.pendingSignal = WSTOPSIG(status);
                }
                return;
            }
        }
    }

    pid_t m_pid;
    std::map<pid_t, ThreadState> m_threads;
    Clock::time_point m_pauseStart = Clock::now();
};

// Calls functions on one stopped thread. Saves its complete register state first and puts it
// back in restore(); each call returns to address 0, and the fault it takes there (a SIGSEGV
// the thread never sees) hands control back to us.
class RemoteCaller {
public:
    RemoteCaller(pid_t pid, pid_t tid, const user_regs_struct& regs, ThreadState& state)
        : m_pid(pid), m_tid(tid), m_saved(regs), m_state(state) {
        m_xstate.resize(64 * 1024);
        iovec iov{m_xstate.data(), m_xstate.size()};
        if (::ptrace(PTRACE_GETREGSET, tid, reinterpret_cast<void*>(NT_X86_XSTATE), &iov) == 0) {
            m_xstate.resize(iov.iov_len);
            m_haveXstate = true;
        } else {
            m_haveXstate = false;
            ::ptrace(PTRACE_GETFPREGS, tid, nullptr, &m_fpregs);
        }
        m_mem = ::open(("/proc/" + std::to_string(pid) + "/mem").c_str(), O_RDWR | O_CLOEXEC);
        if (m_mem < 0) {
            throw AttachError(AttachFailure::InjectionFailed,
                              "cannot open /proc/" + std::to_string(pid) + "/mem: " + errnoText());
        }
        // Scratch area: below the interrupted code's stack pointer and its 128-byte red zone.
        m_scratch = (regs.rsp - 256) & ~std::uint64_t{15};
    }
    ~RemoteCaller() {
        if (m_mem >= 0) {
            ::close(m_mem);
        }
    }
    RemoteCaller(const RemoteCaller&) = delete;
    RemoteCaller& operator=(const RemoteCaller&) = delete;

    // Copies a NUL-terminated string into the scratch area; returns its address in the target.
    std::uint64_t pushString(const std::string& s) {
        m_scratch = (m_scratch - (s.size() + 1)) & ~std::uint64_t{15};
        write(m_scratch, s.c_str(), s.size() + 1);
        return m_scratch;
    }

    std::uint64_t call(std::uint64_t function, std::uint64_t arg0, std::uint64_t arg1, const char* what) {
        user_regs_struct r = m_saved;
        std::uint64_t sp = (m_scratch - 64) & ~std::uint64_t{15};
        sp -= 8; // the return address: at entry rsp % 16 == 8, as after a call instruction
        const std::uint64_t zero = 0;
        write(sp, &zero, sizeof zero);
        r.rsp = sp;
        r.rip = function;
        r.rdi = arg0;
        r.rsi = arg1;
        r.rax = 0;
        r.orig_rax = static_cast<unsigned long long>(-1); // not in a system call: nothing to restart
        r.eflags &= ~0x400ull;                             // DF clear, as the ABI wants at a call
        if (::ptrace(PTRACE_SETREGS, m_tid, nullptr, &r) != 0 || ::ptrace(PTRACE_CONT, m_tid, nullptr, nullptr) != 0) {
            throw AttachError(AttachFailure::InjectionFailed, std::string("cannot start ") + what + " in thread " +
                                                                  std::to_string(m_tid) + ": " + errnoText());
        }
        const auto deadline = Clock::now() + std::chrono::seconds(10);
        for (;;) {
            int status = 0;
            const pid_t w = ::waitpid(m_tid, &status, __WALL | WNOHANG);
            if (w == 0) {
                if (Clock::now() > deadline) {
                    throw AttachError(AttachFailure::InjectionFailed,
                                      std::string(what) + " did not return within 10 s in thread " +
                                          std::to_string(m_tid) + " of PID " + std::to_string(m_pid) +
                                          " (a lock held elsewhere?); the target may need a restart");
                }
                const timespec pause{0, 100000};
                ::nanosleep(&pause, nullptr);
                continue;
            }
            if (w < 0 && errno == EINTR) {
                continue;
            }
            if (w < 0 || WIFEXITED(status) || WIFSIGNALED(status)) {
                m_state.gone = true;
                throw AttachError(AttachFailure::InjectionFailed,
                                  "PID " + std::to_string(m_pid) + " exited during " + what);
            }
            if (!WIFSTOPPED(status)) {
                continue;
            }
            const int sig = WSTOPSIG(status);
            if ((status >> 16) != 0) {
                ::ptrace(PTRACE_CONT, m_tid, nullptr, nullptr); // a ptrace event stop: go on
                continue;
            }
            user_regs_struct now{};
            ::ptrace(PTRACE_GETREGS, m_tid, nullptr, &now);
            if (sig == SIGSEGV && now.rip == 0) {
                return now.rax; // returned to address 0: the call is done
            }
            if (sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE) {
                throw AttachError(AttachFailure::InjectionFailed,
                                  std::string(what) + " crashed in the target (signal " + std::to_string(sig) +
                                      " at 0x" + hex(now.rip) + "); registers restored");
            }
            // Someone else's signal: hold it and deliver it when we detach.
            m_state.pendingSignal = sig;
            ::ptrace(PTRACE_CONT, m_tid, nullptr, nullptr);
        }
    }

    // Puts the thread back exactly as it was (the kernel then restarts an interrupted call).
    void restore() {
        if (m_haveXstate) {
            iovec iov{m_xstate.data(), m_xstate.size()};
            ::ptrace(PTRACE_SETREGSET, m_tid, reinterpret_cast<void*>(NT_X86_XSTATE), &iov);
        } else {
            ::ptrace(PTRACE_SETFPREGS, m_tid, nullptr, &m_fpregs);
        }
        ::ptrace(PTRACE_SETREGS, m_tid, nullptr, &m_saved);
    }

    std::string readString(std::uint64_t address, std::size_t max = 1024) const {
        std::string out(max, '\0');
        const ssize_t n = ::pread(m_mem, out.data(), max, static_cast<off_t>(address));
        out.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
        return out.substr(0, out.find('\0'));
    }

private:
    static std::string hex(std::uint64_t v) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%llx", static_cast<unsigned long long>(v));
        return buf;
    }
    void write(std::uint64_t address, const void* data, std::size_t size) {
        if (::pwrite(m_mem, data, size, static_cast<off_t>(address)) != static_cast<ssize_t>(size)) {
            throw AttachError(AttachFailure::InjectionFailed, "cannot write the target's stack at 0x" + hex(address) +
                                                                  ": " + errnoText());
        }
    }

    pid_t m_pid, m_tid;
    user_regs_struct m_saved;
    ThreadState& m_state;
    std::vector<unsigned char> m_xstate;
    bool m_haveXstate = false;
    user_fpregs_struct m_fpregs{};
    int m_mem = -1;
    std::uint64_t m_scratch = 0;
};

bool isLibc(const std::string& path) {
    const std::string name = path.substr(path.rfind('/') + 1);
    return name.rfind("libc.so", 0) == 0 || name.rfind("libc-", 0) == 0;
}

std::string mappedProbe(const std::vector<MappedFile>& maps) {
    for (const auto& m : maps) {
        const std::string name = m.path.substr(m.path.rfind('/') + 1);
        if (m.offset == 0 && name.rfind("liblayertrace_probe", 0) == 0) {
            return m.path;
        }
    }
    return {};
}

} // namespace

InjectionReport injectProbe(std::uint32_t pidValue, const std::string& probePath, const std::string& socketPath) {
    const auto pid = static_cast<pid_t>(pidValue);
    const std::string target = "PID " + std::to_string(pid);
    char real[PATH_MAX];
    if (::realpath(probePath.c_str(), real) == nullptr) {
        throw AttachError(AttachFailure::InjectionFailed, "probe library " + probePath + ": " + errnoText());
    }
    const std::string probe = real;
    InjectionReport report;
    std::vector<MappedFile> maps = readProcMaps(pidValue);
    std::string libc;
    for (const auto& m : maps) {
        if (m.offset == 0 && isLibc(m.path)) {
            libc = m.path;
            break;
        }
    }
    std::optional<std::uint64_t> dlopenAddr, dlerrorAddr;
    if (!libc.empty()) {
        dlopenAddr = attach::symbolAddress(maps, libc, "dlopen");
        dlerrorAddr = attach::symbolAddress(maps, libc, "dlerror");
    }
    if (!dlopenAddr) {
        throw AttachError(AttachFailure::UnsupportedInterpreter,
                          target + " maps no glibc with dlopen (" + (libc.empty() ? "no libc.so" : libc) +
                              "): a statically linked interpreter cannot load the probe");
    }

    // Up to 100 tries (each: stop every thread, look, let them go) when no thread is at a safe
    // point; a Python process almost always has one at the first look.
    for (int attempt = 0;; ++attempt) {
        StoppedProcess process(pid);
        process.stopAll();
        user_regs_struct regs{};
        const pid_t tid = process.chooseSafeThread(maps, &regs);
        if (tid == 0) {
            process.releaseAll();
            if (attempt >= 100) {
                throw AttachError(AttachFailure::InjectionFailed,
                                  "no thread of " + target + " reached a safe point in 100 tries (all busy in libc or "
                                  "the loader); try again");
            }
            const timespec pause{0, 2000000};
            ::nanosleep(&pause, nullptr);
            continue;
        }
        report.threadsStopped = process.count();
        report.injectedTid = static_cast<std::uint32_t>(tid);
        report.injectedInSyscall = static_cast<long>(regs.orig_rax) >= 0;
        process.releaseAllBut(tid);
        report.pausedMs = msSince(process.pauseStart());

        ThreadState& state = process.thread(tid);
        RemoteCaller caller(pid, tid, regs, state);
        std::string loaded = mappedProbe(maps);
        report.probeWasLoaded = !loaded.empty();
        std::string failure;
        AttachFailure failureKind = AttachFailure::InjectionFailed;
        try {
            if (loaded.empty()) {
                const std::uint64_t path = caller.pushString(probe);
                const std::uint64_t handle = caller.call(*dlopenAddr, path, RTLD_NOW, "dlopen");
                if (handle == 0) {
                    std::string why = "unknown reason";
                    if (dlerrorAddr) {
                        if (const std::uint64_t msg = caller.call(*dlerrorAddr, 0, 0, "dlerror")) {
                            why = caller.readString(msg);
                        }
                    }
                    throw AttachError(AttachFailure::InjectionFailed, "dlopen of the probe in " + target + " failed: " + why);
                }
                maps = readProcMaps(pidValue);
                loaded = mappedProbe(maps);
            }
            const auto entry = loaded.empty() ? std::nullopt : attach::symbolAddress(maps, loaded, "layertrace_probe_attach");
            if (!entry) {
                throw AttachError(AttachFailure::InjectionFailed,
                                  "the probe in " + target + " (" + (loaded.empty() ? probe : loaded) +
                                      ") has no layertrace_probe_attach: it is older than this tracer; restart the "
                                      "target to use this one");
            }
            const std::uint64_t socket = caller.pushString(socketPath);
            const int rc = static_cast<int>(caller.call(*entry, socket, 0, "layertrace_probe_attach"));
            if (rc == 1) {
                failureKind = AttachFailure::AlreadyTraced;
                failure = target + " is already traced by another layertrace session (its probe is active): end "
                                   "that session first";
            } else if (rc != 0) {
                failure = "the probe in " + target + " could not start (code " + std::to_string(rc) + ")";
            }
        } catch (const AttachError& e) {
            failure = e.what();
            failureKind = e.failure();
        }
        if (!state.gone) {
            caller.restore();
            ::ptrace(PTRACE_DETACH, tid, nullptr, reinterpret_cast<void*>(static_cast<long>(state.pendingSignal)));
            state.gone = true;
        }
        report.injectedThreadPausedMs = msSince(process.pauseStart());
        if (!failure.empty()) {
            throw AttachError(failureKind, failure);
        }
        return report;
    }
}

#else

InjectionReport injectProbe(std::uint32_t pid, const std::string&, const std::string&) {
    throw AttachError(AttachFailure::UnsupportedInterpreter,
                      "attaching to PID " + std::to_string(pid) + " needs x86-64: the ptrace injector knows only its "
                      "registers (other architectures are future work)");
}

#endif

} // namespace layertrace::tracer
