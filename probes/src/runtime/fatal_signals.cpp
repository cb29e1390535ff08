// Fatal-signal flush: when the traced program crashes, the events still in the probe's rings
// (up to one sender round) are what led to the crash, so they are the ones worth keeping. The
// handler asks the sender thread to send them (runtime.cpp, flushFromSignal) and waits a bounded
// time, then hands the signal on so that the process ends exactly as it would have without us.
#include "fatal_signals.h"

#include "runtime.h"

#include <atomic>
#include <cerrno>
#include <csignal>
#include <sys/syscall.h>
#include <unistd.h>

namespace layertrace::probe::runtime {

namespace {

constexpr int kFatalSignals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};

// The disposition each signal had when ours was installed: what the program (or Python's
// faulthandler, or the default action) would have got without the probe. Written before our
// handler is installed, read only by it.
struct sigaction g_previous[NSIG];
std::atomic<bool> g_installed{false};

bool isFunction(const struct sigaction& action) noexcept {
    return action.sa_handler != SIG_DFL && action.sa_handler != SIG_IGN;
}

void onFatalSignal(int signal, siginfo_t* info, void* context) {
    const int savedErrno = errno;
    const struct sigaction& previous = g_previous[signal];
    // SIG_DFL kills (and dumps core) on every one of these signals; so does SIG_IGN for a fault
    // the kernel raised (it forces the default action when the instruction runs again). Then the
    // session ends with a Goodbye. A handler of the program's may recover (siglongjmp out of a
    // probed read, say): send what is buffered, but keep tracing.
    const bool dies = previous.sa_handler == SIG_DFL || (previous.sa_handler == SIG_IGN && info->si_code > 0);
    flushFromSignal(signal, dies);
    if (isFunction(previous)) {
        // Chain as the kernel would have called it (its own SA_RESETHAND included); whatever it
        // does next (return, siglongjmp, restore its predecessor and raise again) is the program's.
        if ((previous.sa_flags & SA_RESETHAND) != 0) {
            struct sigaction reset {};
            reset.sa_handler = SIG_DFL;
            sigaction(signal, &reset, nullptr);
        }
        errno = savedErrno;
        if ((previous.sa_flags & SA_SIGINFO) != 0) {
            previous.sa_sigaction(signal, info, context);
        } else {
            previous.sa_handler(signal);
        }
        return;
    }
    // Give the signal back to the kernel: the previous disposition again, and the same signal
    // raised on this thread. It stays pending (blocked while this handler runs) and is delivered
    // as this handler returns, with the crashed context restored: same signal, same core dump,
    // same wait status for the parent. SIG_IGN of a fault: the instruction faults again.
    sigaction(signal, &previous, nullptr);
    if (previous.sa_handler == SIG_DFL) {
        syscall(SYS_tgkill, getpid(), static_cast<pid_t>(syscall(SYS_gettid)), signal);
    }
    errno = savedErrno;
}

} // namespace

void installFatalSignalHandlers() noexcept {
    if (g_installed.exchange(true)) {
        return;
    }
    struct sigaction ours {};
    ours.sa_sigaction = onFatalSignal;
    // SA_ONSTACK: a stack overflow can only be handled on an alternate stack (the thread's own,
    // when it has one: Python's faulthandler sets one up). The fatal signals stay blocked while
    // the handler runs: a second fault in it then kills at once, as it would have.
    ours.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&ours.sa_mask);
    for (const int signal : kFatalSignals) {
        sigaddset(&ours.sa_mask, signal);
    }
    for (const int signal : kFatalSignals) {
        sigaction(signal, nullptr, &g_previous[signal]);
        struct sigaction replaced {};
        sigaction(signal, &ours, &replaced);
        if (replaced.sa_handler != g_previous[signal].sa_handler) {
            g_previous[signal] = replaced; // changed in between by another thread
        }
    }
}

void restoreFatalSignalHandlers() noexcept {
    if (!g_installed.load()) {
        return;
    }
    for (const int signal : kFatalSignals) {
        struct sigaction current {};
        sigaction(signal, nullptr, &current);
        if ((current.sa_flags & SA_SIGINFO) != 0 && current.sa_sigaction == onFatalSignal) {
            sigaction(signal, &g_previous[signal], nullptr);
        }
    }
    g_installed.store(false);
}

} // namespace layertrace::probe::runtime
