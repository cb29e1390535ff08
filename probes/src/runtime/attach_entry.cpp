// The probe's attach entry point: `layertrace attach` (tracer/src/attach/) calls it on a thread of
// the running target it interrupted with ptrace; it only starts a thread of the probe's own,
// which connects to the tracer and installs every hook (docs/cli/attach.md).
#include "runtime.h"

#include "reentrancy.h"

#include <pthread.h>
#include <signal.h>

#include <cstring>
#include <string>

namespace layertrace::probe::runtime {
namespace {

// The socket path, copied out of the injector's scratch memory (below the interrupted thread's
// stack pointer), which is reused as soon as the injected call returns.
char g_attachPath[108];

void* attachMain(void*) {
    ++detail::t_probeDepth; // nothing this thread does is traced
    pthread_setname_np(pthread_self(), "layertrace-att");
    startAttached(g_attachPath);
    return nullptr;
}

} // namespace
} // namespace layertrace::probe::runtime

// Runs in the interrupted context of whatever thread the injector stopped: it must not run
// Python code, take the GIL or wait for anything. It only claims the session and starts the
// attach thread. Returns one of the kAttach* codes of runtime.h, which the injector reads from
// the call's return register.
extern "C" __attribute__((visibility("default"))) int layertrace_probe_attach(const char* socketPath) {
    using namespace layertrace::probe::runtime;
    if (socketPath == nullptr || std::strlen(socketPath) >= sizeof g_attachPath) {
        return kAttachBadArgument;
    }
    const int claim = claimAttach();
    if (claim != kAttachStarted) {
        return claim; // already tracing for another tracer (or detaching right now)
    }
    std::memcpy(g_attachPath, socketPath, std::strlen(socketPath) + 1);
    // Like the sender: the host's signals are not this thread's business (the real-time range
    // stays open for the hook engine's thread sweep).
    sigset_t all, old;
    sigfillset(&all);
    for (int sig = SIGRTMIN; sig <= SIGRTMAX; ++sig) {
        sigdelset(&all, sig);
    }
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t thread;
    const int rc = pthread_create(&thread, &attr, attachMain, nullptr);
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    if (rc != 0) {
        abandonAttach();
        return kAttachNoThread;
    }
    return kAttachStarted;
}
